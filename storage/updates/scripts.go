package updates

import "github.com/redis/go-redis/v9"

// The scripts. Each runs alone in Redis, which is what makes a user's
// numbering gap-free and visible in order (see the package comment). Numbers
// go in and out as decimal strings or Redis integers, never as Lua floats
// rendered back, so that no id is ever written in exponent notation.

// appendScript adds one update to a user's stream. It is what a fan-out
// costs per member, so it runs as few commands as it can: the stream holds
// exactly pts - floor entries (nothing else removes any), so no ZCARD; and
// the keys' time to live is set when the stream is made and renewed every
// 64th update, not at each one (it is 30 days; an update or two late
// changes nothing).
//
//	KEYS: meta, log
//	ARGV: new stream id, partition, seq, keep, ttl seconds, body, recent
//	returns {1, stream, n}: stored as the n-th update
//	        {0, stream, n}: applied before; n is its number
//	        {2}:            applied before, no longer among the recent entries
var appendScript = redis.NewScript(`
local hwf = 'hw:' .. ARGV[2]
local m = redis.call('HMGET', KEYS[1], 'stream', hwf, 'floor')
local stream, hw = m[1], m[2]
if hw and tonumber(hw) >= tonumber(ARGV[3]) then
  local want = ARGV[3] .. '|'
  local recent = redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[7]) - 1, 'WITHSCORES')
  for i = 1, #recent, 2 do
    if string.sub(recent[i], 1, #want) == want then
      return {0, stream, tonumber(recent[i + 1])}
    end
  end
  return {2}
end
local floor = tonumber(m[3]) or 0
if not stream then
  stream = ARGV[1]
  redis.call('HSET', KEYS[1], 'stream', stream, 'pts', 0, 'floor', 0)
end
local n = redis.call('HINCRBY', KEYS[1], 'pts', 1)
redis.call('HSET', KEYS[1], hwf, ARGV[3])
redis.call('ZADD', KEYS[2], n, ARGV[3] .. '|' .. ARGV[6])
local keep = tonumber(ARGV[4])
if n - floor > keep then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', n - keep)
  redis.call('HSET', KEYS[1], 'floor', n - keep)
end
if n % 64 == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return {1, stream, n}
`)

// membersScript applies one membership event to a chat.
//
//	KEYS: members set, version
//	ARGV: seq, number of ids to add, the ids to add, then the ids to remove
//	returns 1 when applied, 0 when the chat had seen seq already
var membersScript = redis.NewScript(`
local mv = redis.call('GET', KEYS[2])
if mv and tonumber(mv) >= tonumber(ARGV[1]) then return 0 end
local nadd = tonumber(ARGV[2])
for i = 3, 2 + nadd do redis.call('SADD', KEYS[1], ARGV[i]) end
for i = 3 + nadd, #ARGV do redis.call('SREM', KEYS[1], ARGV[i]) end
redis.call('SET', KEYS[2], ARGV[1])
return 1
`)

// currentScript returns a user's stream id and last number, creating the
// stream (empty) when there is none.
//
//	KEYS: meta, log
//	ARGV: new stream id, ttl seconds
//	returns {stream, n}
var currentScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'stream', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'pts', 0, 'floor', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local m = redis.call('HMGET', KEYS[1], 'stream', 'pts')
return {m[1], m[2]}
`)

// afterScript reads a user's updates after a cursor.
//
//	KEYS: meta, log
//	ARGV: stream id, n, limit
//	returns {'gone'}:  the stream is not that one, or n is below the floor
//	        {'ahead'}: n is beyond the last update (a forged cursor)
//	        {'ok', member, n, member, n, …}
var afterScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'stream', 'pts', 'floor')
if not m[1] or m[1] ~= ARGV[1] then return {'gone'} end
local after = tonumber(ARGV[2])
if after < tonumber(m[3]) then return {'gone'} end
if after > tonumber(m[2]) then return {'ahead'} end
local rows = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {'ok'}
for i = 1, #rows do out[#out + 1] = rows[i] end
return out
`)
