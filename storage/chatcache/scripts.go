package chatcache

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. Each one is atomic, so every compare-and-set below is
// race free against other writers (a second cachewarm instance during a
// fail-over, the gateway's rebuilds). Ids and times are passed as decimal
// strings and written back as received or with string.format('%d'), so
// that no number is ever rendered in exponent notation.

// Status codes returned by scripts.
const (
	scriptSkipped   = 0 // nothing to do (already applied, or chat not cached)
	scriptApplied   = 1
	scriptDuplicate = 2 // a retried send stored under another id
)

// luaAddMembers holds Lua helpers: add_members adds members (pairs of id,
// name from ARGV[from..]) to a chat, with names for direct chats;
// membership_applied tells whether a membership event (by its sequence) is
// already reflected in the chat.
const luaAddMembers = `
local function add_members(h, kind, from)
  for i = from, #ARGV, 2 do
    redis.call('SADD', h .. ':mem', ARGV[i])
    if kind == 'direct' then redis.call('HSET', h, 'n:' .. ARGV[i], ARGV[i + 1]) end
  end
end
local function membership_applied(h, seq)
  local mv = redis.call('HGET', h, 'mv')
  return mv and tonumber(mv) >= tonumber(seq)
end
`

// messagesScript applies a run of consecutive message.created events of
// one chat. KEYS: the chat hash. ARGV: chat id, recent limit, then per
// message: id, client key, author id, sent_at ms, message JSON, fan-out (1
// on the chat's last message of the batch). Returns {statuses, fan}: one
// status per message — scriptSkipped when the chat is not cached (the caller
// loads chats first, so this happens only if Redis was flushed in between;
// the batch is retried), scriptApplied (the caller moves the author's read
// position to it), scriptDuplicate, or scriptKeptDeleted — and fan, for the
// fan-out message, the chat's updated_at and its members, whose chat lists
// the caller sets to that time (empty without a fan-out message).
//
// One call for many messages: on this hot path the per-call overhead of
// EVALSHA costs more than the work.
//
// The writes to users' keys (chat lists, the author's read position) are
// left to the caller: on Redis Cluster a user's keys live in the user's slot,
// not the chat's (see the package comment). The fan-out is computed once per
// chat and batch, by its last message, whether that one applied or not: it
// writes the chat's current time, whichever message set it, so a redelivered
// batch whose first attempt stopped before the users' writes completes them.
var messagesScript = redis.NewScript(`
local h, cid, keep = KEYS[1], ARGV[1], tonumber(ARGV[2])
local idsk = h .. ':ids'
local fan = {}
local function fanout(upd)
  fan = redis.call('SMEMBERS', h .. ':mem')
  table.insert(fan, 1, upd)
end
local function apply(i)
  local sid, ckey, author, at, body, isfan = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  local v = redis.call('HMGET', h, 'kind', 'floor', 'lid', 'upd')
  if not v[1] then return 0 end
  if redis.call('ZSCORE', h .. ':del', sid) then
    -- Deleted already (a replay): it must not come back.
    if isfan == '1' then fanout(v[4]) end
    return 3
  end
  local id = tonumber(sid)
  local floor = v[2]
  if floor then
    floor = tonumber(floor)
  else
    -- First message seen since the chat was loaded: everything after it will be seen too.
    floor = id - 1
    redis.call('HSET', h, 'floor', string.format('%d', floor))
  end
  local added = 0
  if id > floor then added = redis.call('ZADD', idsk, 'NX', sid, ckey) end
  if added == 0 then
    -- Seen before: this very message again, or a retried send under another id.
    local prev = redis.call('ZSCORE', idsk, ckey)
    if prev and tonumber(prev) ~= id then
      if isfan == '1' then fanout(v[4]) end
      return 2
    end
  else
    local n = redis.call('ZCARD', idsk)
    if n > keep then
      local cut = redis.call('ZRANGE', idsk, n - keep - 1, n - keep - 1, 'WITHSCORES')
      redis.call('ZREMRANGEBYRANK', idsk, 0, n - keep - 1)
      redis.call('HSET', h, 'floor', cut[2])
      redis.call('ZREMRANGEBYSCORE', h .. ':del', '-inf', cut[2])
    end
    redis.call('ZADD', h .. ':recent', sid, body)
    redis.call('ZREMRANGEBYRANK', h .. ':recent', 0, -` + strconv.Itoa(RecentBodies+1) + `)
  end
  local upd = v[4]
  if not v[3] or tonumber(v[3]) < id then
    redis.call('HSET', h, 'lid', sid, 'upd', at, 'last', body)
    redis.call('HDEL', h, 'les')
    upd = at
  end
  if isfan == '1' then fanout(upd) end
  return 1
end
local out = {}
for i = 3, #ARGV, 6 do out[#out + 1] = apply(i) end
return {out, fan}
`)

// messageFields is the number of ARGV per message of messagesScript.
const messageFields = 6

// scriptKeptDeleted: a message deleted before (a replay), applied as nothing.
const scriptKeptDeleted = 3

// RecentBodies is how many of a chat's newest messages the cache keeps whole
// (c:<cid>:recent), so that when the last message is deleted, or hidden by
// one user, the one before it is at hand.
const RecentBodies = 16

// messageEditedScript applies message.edited: the new body replaces the old
// wherever the cache keeps it whole (the chat's last message, the recent
// ones). A deleted message is not brought back; the last message takes an
// edit only over a newer one (les: its last edit's sequence).
// KEYS: chat hash. ARGV: message id, event sequence, message JSON.
var messageEditedScript = redis.NewScript(`
local h, sid, seq, body = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', h) == 0 or redis.call('ZSCORE', h .. ':del', sid) then return 0 end
if #redis.call('ZRANGEBYSCORE', h .. ':recent', sid, sid) > 0 then
  redis.call('ZREMRANGEBYSCORE', h .. ':recent', sid, sid)
  redis.call('ZADD', h .. ':recent', sid, body)
end
local v = redis.call('HMGET', h, 'lid', 'les')
if v[1] == sid and (not v[2] or tonumber(v[2]) < tonumber(seq)) then
  redis.call('HSET', h, 'last', body, 'les', seq)
end
return 1
`)

// messageDeletedScript applies message.deleted: the message stops counting
// as unread and is remembered as deleted (c:<cid>:del, trimmed with the
// index), so a replay of it adds nothing. When it was the last message, the
// newest one left takes its place, updated_at unchanged: from the recent
// bodies; else by id only, its body read from MySQL when the list is read
// ('?'); else, when even that is unknown, the chat is left for a reader to
// rebuild from MySQL (lid absent).
// KEYS: chat hash. ARGV: message id.
var messageDeletedScript = redis.NewScript(`
local h, sid = KEYS[1], ARGV[1]
if redis.call('EXISTS', h) == 0 then return 0 end
redis.call('ZADD', h .. ':del', sid, sid)
redis.call('ZREMRANGEBYSCORE', h .. ':ids', sid, sid)
redis.call('ZREMRANGEBYSCORE', h .. ':recent', sid, sid)
local v = redis.call('HMGET', h, 'lid', 'floor')
if v[1] ~= sid then return 1 end
redis.call('HDEL', h, 'les')
local top = redis.call('ZREVRANGE', h .. ':recent', 0, 0, 'WITHSCORES')
if #top > 0 then
  redis.call('HSET', h, 'lid', top[2], 'last', top[1])
  return 1
end
local older = redis.call('ZREVRANGE', h .. ':ids', 0, 0, 'WITHSCORES')
if #older > 0 then
  redis.call('HSET', h, 'lid', older[2], 'last', '?')
elseif v[2] == '0' then
  redis.call('HSET', h, 'lid', '0')
  redis.call('HDEL', h, 'last')
else
  redis.call('HDEL', h, 'lid', 'last')
end
return 1
`)

// chatCreatedScript applies chat.created.
// KEYS: chat hash. ARGV: seq, kind, title, created ms, then member id, name
// pairs. Returns {status, updated ms, then the event's members that are
// members now}: the caller adds the chat to their lists, also when the event
// was applied before (a redelivery may have stopped before those writes; a
// member removed since is not among them).
var chatCreatedScript = redis.NewScript(luaAddMembers + `
local h = KEYS[1]
local st = 0
if not membership_applied(h, ARGV[1]) then
  st = 1
  if redis.call('EXISTS', h) == 0 then
    redis.call('HSET', h, 'kind', ARGV[2], 'title', ARGV[3], 'ca', ARGV[4], 'upd', ARGV[4], 'lid', '0')
  end
  -- A chat's first event: every message of it comes after, so the index is complete from 0.
  if not redis.call('HGET', h, 'floor') then redis.call('HSET', h, 'floor', '0') end
  redis.call('HSET', h, 'mv', ARGV[1])
  add_members(h, ARGV[2], 5)
end
local out = {st, redis.call('HGET', h, 'upd') or ''}
if out[2] == '' then return out end
for i = 5, #ARGV, 2 do
  if redis.call('SISMEMBER', h .. ':mem', ARGV[i]) == 1 then out[#out + 1] = ARGV[i] end
end
return out
`)

// memberAddedScript applies member.added.
// KEYS: chat hash. ARGV: seq, user id, name, kind, title, created ms, then
// the chat's member id, name pairs afterwards. Returns {status, updated ms
// ("" when the chat is not cached), 1 when the user is a member now}: the
// caller then adds the chat to the user's list.
var memberAddedScript = redis.NewScript(luaAddMembers + `
local h = KEYS[1]
local st = 0
if not membership_applied(h, ARGV[1]) then
  if redis.call('EXISTS', h) == 0 then
    -- Not cached. A group's event lists no members (ApplyEvents loads the chat
    -- from MySQL first; it is gone only if Redis lost it meanwhile, and then
    -- lists are rebuilt from MySQL anyway): never cache a partial member set.
    if #ARGV < 7 then return {0, '', 0} end
    -- The event carries the whole member list. The last message is unknown
    -- (lid absent) until a message or a reader's rebuild fills it in.
    redis.call('HSET', h, 'kind', ARGV[4], 'title', ARGV[5], 'ca', ARGV[6], 'upd', ARGV[6])
    add_members(h, ARGV[4], 7)
  end
  st = 1
  redis.call('HSET', h, 'mv', ARGV[1])
  redis.call('SADD', h .. ':mem', ARGV[2])
  if redis.call('HGET', h, 'kind') == 'direct' then redis.call('HSET', h, 'n:' .. ARGV[2], ARGV[3]) end
end
local upd = redis.call('HGET', h, 'upd')
if not upd then return {st, '', 0} end
return {st, upd, redis.call('SISMEMBER', h .. ':mem', ARGV[2])}
`)

// memberRemovedScript applies member.removed.
// KEYS: chat hash. ARGV: seq, user id. Returns {status, 1 when the user is
// a member now}: when not (removed, and not added back by a later event
// already applied), the caller takes the chat out of the user's list.
var memberRemovedScript = redis.NewScript(luaAddMembers + `
local h = KEYS[1]
if membership_applied(h, ARGV[1]) then return {0, redis.call('SISMEMBER', h .. ':mem', ARGV[2])} end
if redis.call('EXISTS', h) == 1 then redis.call('HSET', h, 'mv', ARGV[1]) end
redis.call('SREM', h .. ':mem', ARGV[2])
redis.call('HDEL', h, 'n:' .. ARGV[2])
return {1, 0}
`)

// chatUpdatedScript applies chat.updated: the title, over an older change
// only (tv: the sequence of the last title change applied).
// KEYS: chat hash. ARGV: seq, title.
var chatUpdatedScript = redis.NewScript(`
local h = KEYS[1]
if redis.call('EXISTS', h) == 0 then return 0 end
local tv = redis.call('HGET', h, 'tv')
if tv and tonumber(tv) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', h, 'title', ARGV[2], 'tv', ARGV[1])
return 1
`)

// memberUpdatedScript applies member.updated: a direct chat's title is the
// other member's name, and a user whose name or picture changed is replaced
// in the bodies the cache keeps whole (the last message, the recent ones:
// authors, quotes and forwards). The replaced text is the user's JSON
// object as encoded before ({"id":…,"name":…,"avatar_url":…}), which names
// exactly that user.
// KEYS: chat hash. ARGV: user id, name, the user's old JSON ("" for a change
// of role), the new JSON.
var memberUpdatedScript = redis.NewScript(`
local h, uid, name, old, new = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', h) == 0 then return 0 end
if redis.call('HGET', h, 'kind') == 'direct' and redis.call('SISMEMBER', h .. ':mem', uid) == 1 then
  redis.call('HSET', h, 'n:' .. uid, name)
end
if old == '' then return 1 end
local function swap(s)
  local out, i = {}, 1
  while true do
    local a, b = string.find(s, old, i, true)
    if not a then break end
    out[#out + 1] = string.sub(s, i, a - 1)
    out[#out + 1] = new
    i = b + 1
  end
  if i == 1 then return nil end
  out[#out + 1] = string.sub(s, i)
  return table.concat(out)
end
local last = redis.call('HGET', h, 'last')
if last then
  local renamed = swap(last)
  if renamed then redis.call('HSET', h, 'last', renamed) end
end
local rec = redis.call('ZRANGE', h .. ':recent', 0, -1, 'WITHSCORES')
for i = 1, #rec, 2 do
  local renamed = swap(rec[i])
  if renamed then
    redis.call('ZREM', h .. ':recent', rec[i])
    redis.call('ZADD', h .. ':recent', rec[i + 1], renamed)
  end
end
return 1
`)

// loadChatScript caches a chat's members read from MySQL, unless cached.
// KEYS: chat hash. ARGV: kind, title, created ms, then member id, name pairs.
var loadChatScript = redis.NewScript(luaAddMembers + `
local h = KEYS[1]
if redis.call('EXISTS', h) == 1 then return 0 end
redis.call('HSET', h, 'kind', ARGV[1], 'title', ARGV[2], 'ca', ARGV[3], 'upd', ARGV[3])
add_members(h, ARGV[1], 4)
return 1
`)

// rebuildScript merges one chat of a user's MySQL chat list into the
// chat's keys; the caller writes the user's keys with the answer.
// KEYS: chat hash. ARGV: user id, kind, title, created ms, last message id,
// updated ms, last message JSON, then member id, name pairs.
// Returns {1 when the user is a member, updated ms, then the members whose
// lists must learn that time (when the last message was filled in here)}.
var rebuildScript = redis.NewScript(luaAddMembers + `
local h = KEYS[1]
local out = {0, ''}
if redis.call('EXISTS', h) == 0 then
  redis.call('HSET', h, 'kind', ARGV[2], 'title', ARGV[3], 'ca', ARGV[4], 'lid', ARGV[5], 'upd', ARGV[6], 'last', ARGV[7])
  add_members(h, ARGV[2], 8)
elseif not redis.call('HGET', h, 'lid') then
  -- Cached from a membership event: no message seen yet, so MySQL's last
  -- message is the best known. Every member's list learns the time.
  redis.call('HSET', h, 'lid', ARGV[5], 'upd', ARGV[6], 'last', ARGV[7])
  for _, u in ipairs(redis.call('SMEMBERS', h .. ':mem')) do out[#out + 1] = u end
end
out[2] = redis.call('HGET', h, 'upd')
-- The cached member set is the newer truth: a removal applied meanwhile wins.
out[1] = redis.call('SISMEMBER', h .. ':mem', ARGV[1])
return out
`)

// luaDetail renders one chat as seen by a user: chat id, state ("ok",
// "missing": not cached, "notmember", "partial": last message unknown),
// kind, title (resolved for the viewer), created ms, updated ms, last id,
// last JSON ("?": the viewer's last message is not cached, ask MySQL),
// members count, read position, unread (-1: ask MySQL).
//
// What the viewer hid or cleared (c:<cid>:hid:<uid>; clr, the id up to
// which they cleared it, read with pos from the user's keys by the caller)
// is left out: the last message is the newest the viewer still sees, and
// neither counts as unread.
//
// It reads the chat's keys only (KEYS[1] is the chat hash): on Redis
// Cluster a page's chats live in other slots than the user's list.
const luaDetail = `
local function detail(h, uid, cid, pos, clr)
  local v = redis.call('HMGET', h, 'kind', 'title', 'ca', 'upd', 'lid', 'last', 'floor')
  if not v[1] then return {cid, 'missing', '', '', '', '', '', '', 0, '0', 0} end
  local state = 'ok'
  if redis.call('SISMEMBER', h .. ':mem', uid) == 0 then state = 'notmember'
  elseif not v[5] then state = 'partial' end
  local title = v[2] or ''
  if v[1] == 'direct' then
    -- The other member's name; the lowest id if there were several, as in MySQL's member order.
    title = ''
    local other
    for _, u in ipairs(redis.call('SMEMBERS', h .. ':mem')) do
      if u ~= uid and (not other or tonumber(u) < tonumber(other)) then other = u end
    end
    if other then title = redis.call('HGET', h, 'n:' .. other) or '' end
  end
  local hk = h .. ':hid:' .. uid
  local nh = redis.call('ZCARD', hk)
  local last = v[6] or ''
  if v[5] and v[5] ~= '0' and (clr > 0 or nh > 0) and
     (tonumber(v[5]) <= clr or (nh > 0 and redis.call('ZSCORE', hk, v[5]))) then
    -- The viewer does not see the chat's last message: the newest they do.
    last = '?'
    local rec = redis.call('ZREVRANGE', h .. ':recent', 0, -1, 'WITHSCORES')
    for i = 1, #rec, 2 do
      if tonumber(rec[i + 1]) <= clr then
        last = ''
        break
      end
      if nh == 0 or not redis.call('ZSCORE', hk, rec[i + 1]) then
        last = rec[i]
        break
      end
    end
  end
  local p = math.max(tonumber(pos), clr)
  local ps = string.format('%d', p)
  local unread = -1
  if v[5] and p >= tonumber(v[5]) then
    unread = 0
  elseif v[7] and p >= tonumber(v[7]) then
    unread = redis.call('ZCOUNT', h .. ':ids', '(' .. ps, '+inf')
    if nh > 0 then
      for _, hid in ipairs(redis.call('ZRANGEBYSCORE', hk, '(' .. ps, '+inf')) do
        if #redis.call('ZRANGEBYSCORE', h .. ':ids', hid, hid) > 0 then unread = unread - 1 end
      end
    end
  end
  return {cid, state, v[1], title, v[3] or '', v[4] or '', v[5] or '', last, redis.call('SCARD', h .. ':mem'), pos, unread}
end
`

// detailFields is the length of luaDetail's answer.
const detailFields = 11

// detailScript renders one chat for a user (luaDetail).
// KEYS: chat hash. ARGV: user id, chat id, read position, cleared through.
var detailScript = redis.NewScript(luaDetail + `
return detail(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
`)

// luaViews returns what the user's own keys say about a chat: the read
// position (as stored) and the id up to which they cleared it.
const luaViews = `
local function views(cid)
  return redis.call('ZSCORE', KEYS[2], cid) or '0', redis.call('ZSCORE', KEYS[3], cid) or '0'
end
`

// pageScript reads one page of a user's chat list: the chats and the user's
// views of them; the caller reads each chat's detail (detailScript).
// KEYS: the user's list, read positions, cleared histories.
// ARGV: cursor score ("" for the first page), cursor chat id, limit.
// Returns {0} for a cold list, else {1, more (0/1), then per chat: score,
// list member, read position, cleared through}.
var pageScript = redis.NewScript(luaViews + `
if not redis.call('ZSCORE', KEYS[1], '` + warmMember + `') then return {0} end
local lim = tonumber(ARGV[3])
local picked = {}
if ARGV[1] == '' then
  picked = redis.call('ZRANGE', KEYS[1], '+inf', '(-inf', 'BYSCORE', 'REV', 'LIMIT', 0, lim + 1, 'WITHSCORES')
else
  -- Chats with the cursor's time and a lower id, then older times.
  local cm = tonumber(ARGV[2])
  local ties = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[1], 'BYSCORE', 'REV', 'WITHSCORES')
  for i = 1, #ties, 2 do
    if #picked < 2 * (lim + 1) and tonumber(ties[i]) < cm then
      picked[#picked + 1] = ties[i]
      picked[#picked + 1] = ties[i + 1]
    end
  end
  local need = lim + 1 - #picked / 2
  if need > 0 then
    local rest = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '(-inf', 'BYSCORE', 'REV', 'LIMIT', 0, need, 'WITHSCORES')
    for i = 1, #rest do picked[#picked + 1] = rest[i] end
  end
end
local n = #picked / 2
local out = {1, 0}
if n > lim then
  out[2] = 1
  n = lim
end
for i = 1, n do
  local cid = string.format('%d', tonumber(picked[2 * i - 1]))
  local pos, clr = views(cid)
  out[#out + 1] = picked[2 * i]
  out[#out + 1] = cid
  out[#out + 1] = pos
  out[#out + 1] = clr
end
return out
`)

// pageFields is the length of one chat's entry in pageScript's answer.
const pageFields = 4

// viewsScript reads whether a user's list is warm and their views of one chat.
// KEYS: the user's list, read positions, cleared histories. ARGV: chat id.
// Returns {0} for a cold list, else {1, read position, cleared through}.
var viewsScript = redis.NewScript(luaViews + `
if not redis.call('ZSCORE', KEYS[1], '` + warmMember + `') then return {0} end
local pos, clr = views(ARGV[1])
return {1, pos, clr}
`)

var allScripts = []*redis.Script{
	messagesScript, messageEditedScript, messageDeletedScript, chatCreatedScript, memberAddedScript, memberRemovedScript,
	chatUpdatedScript, memberUpdatedScript,
	loadChatScript, rebuildScript, detailScript, pageScript, viewsScript,
}

// loadScripts puts every script into Redis's script cache, so that pipelines
// can use EVALSHA (a pipeline cannot fall back to EVAL per command).
func (c *Cache) loadScripts(ctx context.Context) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, c.rdb).Err(); err != nil {
			return fmt.Errorf("load scripts: %w", err)
		}
	}
	c.loaded.Store(true)
	return nil
}

// pipelined runs fill's EVALSHA commands in one pipeline (tx false)
// or one MULTI/EXEC transaction. When Redis lost its script cache (a restart,
// SCRIPT FLUSH), it loads the scripts and runs the whole pipeline again:
// every script is idempotent, so running some twice is harmless.
func (c *Cache) pipelined(ctx context.Context, tx bool, fill func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	run := c.rdb.Pipelined
	if tx {
		run = c.rdb.TxPipelined
	}
	for attempt := 0; ; attempt++ {
		if !c.loaded.Load() {
			if err := c.loadScripts(ctx); err != nil {
				return nil, err
			}
		}
		cmds, err := run(ctx, func(p redis.Pipeliner) error {
			fill(p)
			return nil
		})
		if err != nil && attempt == 0 && hasNoScript(cmds) {
			c.loaded.Store(false)
			continue
		}
		return cmds, err
	}
}

func hasNoScript(cmds []redis.Cmder) bool {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			return true
		}
	}
	return false
}
