// Package chatcache is the Redis projection of the log: each user's chat list
// ordered by activity, each chat's summary and last message, read positions,
// and what unread counts are computed from. cachewarm writes it (ApplyEvents);
// the gateway reads it (ChatList, Summary).
//
// # Key layout
//
// Every key starts with the prefix P (REDIS_PREFIX). <cid> and <uid> are
// decimal ids. A chat's keys carry the hash tag {c:<cid>}, a user's {u:<uid>}
// (see "Redis Cluster" below); c:<cid> stands for P{c:<cid>}, u:<uid> for
// P{u:<uid>}.
//
//	P u:<uid>:chats   ZSET  the user's chat list. Member: the chat id zero-padded
//	                        to 19 digits; score: the chat's updated_at in Unix
//	                        milliseconds. ZRANGE ... REV returns equal scores in
//	                        reverse lexicographic order, which for equal-width
//	                        digits is id desc: exactly the API's order
//	                        (updated_at desc, then id desc). A float64 holds
//	                        millisecond times exactly, so no precision is lost.
//	                        The sentinel member "~warm" (score -inf) says the
//	                        list is complete (rebuilt from MySQL at least once);
//	                        a list without it is cold, whether absent or only
//	                        holding entries written by events since a flush.
//	                        Keeping the mark inside the list means the two can
//	                        never be lost separately.
//	P u:<uid>:read    ZSET  the user's read positions. Member: chat id; score:
//	                        the position (a message id). Written with ZADD GT,
//	                        so it only moves forward without a script.
//	P c:<cid>         HASH  the chat. kind, title, ca (created_at ms), upd
//	                        (updated_at ms), lid (last message id), last (last
//	                        message JSON; "?" when only its id is known: read
//	                        from MySQL), les (sequence of the last message's
//	                        last edit), floor (see below), mv (sequence of the
//	                        last membership event applied), n:<uid> (member
//	                        names, direct chats only: their title is the other
//	                        member's name). The hash's existence means "this
//	                        chat's members are cached".
//	P c:<cid>:mem     SET   member user ids (complete whenever c:<cid> exists).
//	P c:<cid>:recent  ZSET  the chat's RecentBodies newest messages whole.
//	                        Score: message id; member: the message JSON (as
//	                        in last). When the last message is deleted, or a
//	                        user hid it, the one before it comes from here.
//	P c:<cid>:del     ZSET  ids of messages deleted for everyone above floor
//	                        (score and member the id), so that a replay of a
//	                        deleted message adds nothing back.
//	P c:<cid>:hid:<uid> ZSET ids the user hid from their own view ("delete
//	                        for me"; score and member the id). In the chat's
//	                        slot: the chat's detail reads it.
//	P u:<uid>:clr     ZSET  the user's cleared histories. Member: chat id;
//	                        score: the id up to which they cleared it (ZADD GT).
//	P c:<cid>:ids     ZSET  the chat's newest messages above floor, at most
//	                        RecentMessages of them. Score: message id; member:
//	                        "<author id>:<client_id>", so that a send retried
//	                        after the log's duplicate window (a second event,
//	                        another id, the same author and client_id) is
//	                        recognised and ignored, as MySQL ignores it.
//
// # Unread counts
//
// unread(user, chat) = ZCOUNT(c:<cid>:ids, (pos, +inf)) when pos >= floor,
// where pos is the user's read position, or the id up to which they cleared
// the chat's history if that is higher; less the ids above pos the user hid
// that are still in the index (a deleted message leaves it). The API counts only messages "written
// by someone else", and this needs no per-author index: adding a message
// moves its author's read position to it (ApplyEvents' second step), and positions never move
// back, so none of a user's own messages above floor is ever above their
// position. floor is the id below which c:<cid>:ids is not complete: 0 for a
// chat created while cachewarm ran, id-1 for the first message cachewarm saw
// after the chat was (re)loaded from MySQL, raised when the set is trimmed;
// absent means unknown. When pos < floor (or floor is unknown and there are
// messages after pos) the count comes from MySQL (Loader.UnreadCount). When
// pos >= lid the count is 0 without looking further.
//
// # Idempotency
//
// Every write is idempotent and safe under redelivery and replay from any
// sequence: messages are keyed by id (and by author and client_id), last
// message, updated_at and read positions only move forward (compare-and-set in
// Lua), and membership events apply only when their sequence is above the
// chat's mv. Writes are Lua scripts sent pipelined, then the users' keys
// they name: two round trips per batch (three when a chat must first be
// loaded from MySQL).
//
// What is missing (Redis flushed, a user never seen) is rebuilt from MySQL
// through the Loader. Rebuilt data never overwrites what cachewarm wrote:
// a chat is created from MySQL only if absent, its last message filled in
// only if unknown, read positions merged with max, and a chat is added to the
// user's list only if the cached member set (which events maintain) holds
// the user.
//
// After a flush the cache is as good as MySQL: a message or read that
// cachewarm applied shortly before the flush, but the persister had not
// written yet, is not applied again, so a chat's last message or a read
// position can stay behind until the chat's next message or read. (Unread
// counts are not affected: until cachewarm sees the chat's next message they
// are counted in MySQL.) `ingest replay cachewarm --since 10m` after a flush
// closes that gap; replays are harmless.
//
// # Redis Cluster
//
// Every script reads and writes the keys of one chat (KEYS[1] is the chat
// hash, the others share its tag) or of one user, never both, so on Redis
// Cluster each runs on the node serving that slot; a user's rebuild is one
// MULTI on the user's slot. What used to cross the two in one script is now
// two steps, each idempotent: a chat's script answers with what users' keys
// need (the chat's time and its members for their lists, an author's read
// position, whether a removed user is still out), and ApplyEvents then
// writes those in a second pipeline, in the scripts' order; a batch that
// stops in between is redelivered, and the chat's script, applied already,
// answers the same again (it reports the chat's current time and members,
// not what it changed). A reader lists the page from the user's keys
// (pageScript: entries, read positions, cleared ids), then renders each chat
// from the chat's keys (detailScript), pipelined. Between the two steps a
// reader may see a message's chat before its author's read position moved,
// or a list entry of a chat whose member set no longer holds the user (the
// entry is left out: state "notmember").
// testkit.SlotWatch checks, under MONITOR on a real cluster, that no script
// reaches past its slot.
//
// The tags changed the key names (before: P c:<cid>, P u:<uid>:chats, ...).
// A cache under the old names is not read: after an upgrade the cache starts
// cold, as after a flush, and fills itself (lists rebuilt on first read,
// chats loaded by cachewarm); docs/design.md ("Redis: one instance or Redis
// Cluster") gives the order of the upgrade and how to drop the old keys.
//
// Keys have no TTL:
// Redis should run with maxmemory-policy noeviction (or a volatile-* policy),
// so that keys are lost only all together (a flush), never one by one.
package chatcache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
)

// Loader reads what the cache rebuilds from. *sqlstore.Store implements it.
type Loader interface {
	AllUserChats(ctx context.Context, userID int64) ([]sqlstore.ChatRow, error)
	Chat(ctx context.Context, chatID int64) (domain.Chat, error)
	MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error)
	ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error)
	UnreadCount(ctx context.Context, chatID, userID, after int64) (int, error)
}

var _ Loader = (*sqlstore.Store)(nil)

// DefaultRecentMessages is how many of a chat's newest messages the cache
// indexes for unread counts. A user further behind is counted in MySQL.
const DefaultRecentMessages = 5000

// Cache is the Redis chat-list cache. All keys start with the prefix.
type Cache struct {
	rdb    redis.UniversalClient
	prefix string
	loader Loader

	recent   int
	rebuilds singleflight.Group
	loaded   atomic.Bool // scripts are known to be in Redis's script cache
}

// New returns a cache over rdb with keys under prefix, rebuilding from loader.
func New(rdb redis.UniversalClient, prefix string, loader Loader) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, loader: loader, recent: DefaultRecentMessages}
}

// SetRecentMessages sets how many of each chat's newest messages are indexed
// (default DefaultRecentMessages). Call it before the cache is used.
func (c *Cache) SetRecentMessages(n int) {
	if n > 0 {
		c.recent = n
	}
}

// Ping checks that Redis serves every key: on Redis Cluster, every master
// (redisconn.Ping says why not any one).
func (c *Cache) Ping(ctx context.Context) error { return redisconn.Ping(ctx, c.rdb) }

// ErrBadCursor means a chat-list cursor could not be decoded (HTTP 400).
var ErrBadCursor = errors.New("chatcache: bad cursor")

// warmMember marks a complete chat list (see the package comment).
const warmMember = "~warm"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// listMember is a chat's member in a user's list: equal-width digits, so that
// lexicographic order is numeric order.
func listMember(chatID int64) string { return fmt.Sprintf("%019d", chatID) }

// Keys carry a hash tag ({c:<cid>} or {u:<uid>}): on Redis Cluster all of
// one chat's keys share a slot, and all of one user's, so each script and
// transaction, which touches one chat's or one user's keys only, runs on
// one node (see "Redis Cluster" in the package comment).
func (c *Cache) chatKey(chatID int64) string    { return c.prefix + "{c:" + itoa(chatID) + "}" }
func (c *Cache) userKey(userID int64) string    { return c.prefix + "{u:" + itoa(userID) + "}" }
func (c *Cache) listKey(userID int64) string    { return c.userKey(userID) + ":chats" }
func (c *Cache) readKey(userID int64) string    { return c.userKey(userID) + ":read" }
func (c *Cache) clearedKey(userID int64) string { return c.userKey(userID) + ":clr" }

// hiddenKey is in the chat's slot: the chat's detail script reads it.
func (c *Cache) hiddenKey(userID, chatID int64) string {
	return c.chatKey(chatID) + ":hid:" + itoa(userID)
}
