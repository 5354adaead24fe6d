// Package chatcache is the Redis projection of the log: each user's chat list
// ordered by activity, each chat's summary and last message, read positions,
// and what unread counts are computed from. cachewarm writes it (ApplyEvents);
// the gateway reads it (ChatList, Summary).
//
// Every write is idempotent: a replayed or duplicated event changes nothing
// (sets and sorted sets absorb repeats, positions and last messages only move
// forward). What is missing (Redis flushed, a user never seen) is rebuilt from
// MySQL through the Loader.
//
// IMPLEMENTATION STATUS: signatures are fixed (the gateway and cachewarm code
// against them); bodies marked TODO are being written.
package chatcache

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/persister/store"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

var errTODO = errors.New("chatcache: not implemented yet")

// Loader reads what the cache rebuilds from. *store.Store implements it.
type Loader interface {
	AllUserChats(ctx context.Context, userID int64) ([]store.ChatRow, error)
	Chat(ctx context.Context, chatID int64) (domain.Chat, error)
	MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error)
	ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error)
	UnreadCount(ctx context.Context, chatID, userID, after int64) (int, error)
}

var _ Loader = (*store.Store)(nil)

// Cache is the Redis chat-list cache. All keys start with the prefix.
type Cache struct {
	rdb    redis.UniversalClient
	prefix string
	loader Loader
}

// New returns a cache over rdb with keys under prefix, rebuilding from loader.
func New(rdb redis.UniversalClient, prefix string, loader Loader) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, loader: loader}
}

// Ping checks Redis.
func (c *Cache) Ping(ctx context.Context) error { return c.rdb.Ping(ctx).Err() }

// ApplyEvents applies a batch of one partition's events in log order
// (MessageCreated, ReadMoved, ChatCreated, MemberAdded, MemberRemoved; other
// types are skipped). Pipelined; idempotent.
func (c *Cache) ApplyEvents(ctx context.Context, events []event.Event) error { return errTODO }

// ChatList returns a page of userID's chats, most recent activity first
// (updated_at desc, then id desc), with last message, unread count and read
// position, titles resolved for userID and Channel set. cursor is "" for the
// first page; next is "" at the end. A user whose list is not cached is
// rebuilt from the loader first.
func (c *Cache) ChatList(ctx context.Context, userID int64, cursor string, limit int) (page []domain.ChatSummary, next string, err error) {
	return nil, "", errTODO
}

// Summary returns one chat as userID sees it in the list (rebuilt from the
// loader when not cached). domain.ErrNotFound when userID is not a member.
func (c *Cache) Summary(ctx context.Context, userID, chatID int64) (domain.ChatSummary, error) {
	return domain.ChatSummary{}, errTODO
}

// ErrBadCursor means a chat-list cursor could not be decoded (HTTP 400).
var ErrBadCursor = errors.New("chatcache: bad cursor")
