// Package store is the MySQL side of the system: the schema (migrations/), the
// gateway's strongly consistent tables (users, chats, members), and the
// persister's projection of the log (messages, read positions, progress).
//
// Chat-scoped rows (messages, read_positions, persister_progress) are reached
// through a ShardResolver, even while there is one shard, so that sharding by
// chat id can be added without touching callers. Users, chats and memberships
// live in the main database.
//
// Errors: domain.ErrNotFound for a missing row, domain.ErrConflict for a
// taken unique key; anything else is a wrapped driver error (an outage).
//
// IMPLEMENTATION STATUS: signatures are fixed (the gateway, persister and
// cachewarm code against them); bodies marked TODO are being written.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/logchat/shared/domain"
)

var errTODO = errors.New("store: not implemented yet")

// ShardResolver maps a chat to the database holding its chat-scoped rows.
type ShardResolver interface {
	// ShardFor returns the shard of chatID.
	ShardFor(chatID int64) Shard
	// Shards lists every shard (for migrations, progress and health).
	Shards() []Shard
}

// Shard is one database of chat-scoped rows.
type Shard struct {
	Name string
	DB   *sql.DB
}

// Store is the MySQL store.
type Store struct {
	main   *sql.DB
	shards ShardResolver
}

// Open connects to the main database (dsn, go-sql-driver format) and uses it
// as the single shard. It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) { return nil, errTODO }

// Close closes every connection pool.
func (s *Store) Close() error { return errTODO }

// Migrate applies the embedded migrations to the main database and every
// shard. Idempotent; safe to run from every process at start.
func (s *Store) Migrate(ctx context.Context) error { return errTODO }

// Ping checks the main database and every shard.
func (s *Store) Ping(ctx context.Context) error { return errTODO }

// ---- users ----

// CreateUser inserts a user. ErrConflict when the name is taken, ignoring case.
func (s *Store) CreateUser(ctx context.Context, name string, passwordHash []byte, at time.Time) (domain.User, error) {
	return domain.User{}, errTODO
}

// UserByName finds a user by name, ignoring case, with the password hash.
func (s *Store) UserByName(ctx context.Context, name string) (domain.User, []byte, error) {
	return domain.User{}, nil, errTODO
}

// UserByID finds a user. ErrNotFound when missing.
func (s *Store) UserByID(ctx context.Context, id int64) (domain.User, error) {
	return domain.User{}, errTODO
}

// UsersByIDs returns the users that exist among ids, in any order.
func (s *Store) UsersByIDs(ctx context.Context, ids []int64) ([]domain.User, error) {
	return nil, errTODO
}

// SearchUsers lists users whose name starts with prefix, ignoring case,
// ordered by name (case-folded), at most limit.
func (s *Store) SearchUsers(ctx context.Context, prefix string, limit int) ([]domain.User, error) {
	return nil, errTODO
}

// ---- chats and members (written by the gateway) ----

// Publish appends the event describing a change to the log. The store calls it
// inside the transaction that makes the change and commits only when it
// returns nil, so a change the log does not know about is never committed.
type Publish func(chat domain.Chat) error

// CreateDirectChat returns the direct chat of a and b, creating it (and calling
// publish) when it does not exist; created says which. Both are members with
// role member. Concurrent calls for one pair yield one chat.
func (s *Store) CreateDirectChat(ctx context.Context, a, b domain.User, at time.Time, publish Publish) (chat domain.Chat, created bool, err error) {
	return domain.Chat{}, false, errTODO
}

// CreateGroupChat creates a group: creator is admin, others are members.
func (s *Store) CreateGroupChat(ctx context.Context, title string, creator domain.User, others []domain.User, at time.Time, publish Publish) (domain.Chat, error) {
	return domain.Chat{}, errTODO
}

// Chat returns a chat with its members (users with names, and roles), members
// ordered by user id. ErrNotFound when missing.
func (s *Store) Chat(ctx context.Context, chatID int64) (domain.Chat, error) {
	return domain.Chat{}, errTODO
}

// MemberRole is userID's role in chatID; ErrNotFound when not a member (or no
// such chat).
func (s *Store) MemberRole(ctx context.Context, chatID, userID int64) (domain.Role, error) {
	return "", errTODO
}

// MemberIDs lists the user ids of a chat's members.
func (s *Store) MemberIDs(ctx context.Context, chatID int64) ([]int64, error) {
	return nil, errTODO
}

// AddMember adds user with role to a chat and calls publish with the chat as it
// is afterwards. added is false (and publish is not called) when the user
// already was a member.
func (s *Store) AddMember(ctx context.Context, chatID int64, user domain.User, role domain.Role, at time.Time, publish Publish) (chat domain.Chat, added bool, err error) {
	return domain.Chat{}, false, errTODO
}

// RemoveMember removes userID from a chat and calls publish with the chat as
// it is afterwards. ErrNotFound when userID is not a member.
func (s *Store) RemoveMember(ctx context.Context, chatID, userID int64, publish Publish) error {
	return errTODO
}

// ChatRow is what the chat list needs of one chat, straight from MySQL: the
// fallback when Redis has nothing for a user.
type ChatRow struct {
	Chat          domain.Chat // with members
	LastMessageID int64
	UpdatedAt     time.Time
}

// ListCursor is a position in a chat list ordered by (updated_at desc, id desc).
type ListCursor struct {
	UpdatedAt time.Time
	ChatID    int64
}

// UserChats lists a user's chats by (updated_at desc, id desc), starting after
// the cursor when one is given, at most limit.
func (s *Store) UserChats(ctx context.Context, userID int64, after *ListCursor, limit int) ([]ChatRow, error) {
	return nil, errTODO
}

// AllUserChats lists every chat of a user (ids and order as UserChats). Used to
// rebuild the user's cached chat list.
func (s *Store) AllUserChats(ctx context.Context, userID int64) ([]ChatRow, error) {
	return nil, errTODO
}

// ---- messages and read positions (chat-scoped, through the shard resolver) ----

// HistoryQuery selects a page: the newest Limit (Before and After zero), the
// newest Limit with id < Before, or the oldest Limit with id > After.
type HistoryQuery struct {
	Before, After int64
	Limit         int
}

// History returns a page of a chat's messages ascending by id (authors with
// names), and whether more exist beyond the page in its direction.
func (s *Store) History(ctx context.Context, chatID int64, q HistoryQuery) ([]domain.Message, bool, error) {
	return nil, false, errTODO
}

// Message returns one message of a chat. ErrNotFound when it is not (yet) there.
func (s *Store) Message(ctx context.Context, chatID, messageID int64) (domain.Message, error) {
	return domain.Message{}, errTODO
}

// MessagesByID returns the messages with the given ids, keyed by chat id and
// message id pairs (chatIDs[i], ids[i]); missing ones are absent from the map.
func (s *Store) MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error) {
	return nil, errTODO
}

// ReadPositions returns userID's read position in each chat (0 when none).
func (s *Store) ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error) {
	return nil, errTODO
}

// UnreadCount counts the messages of chatID with id > after written by someone
// other than userID.
func (s *Store) UnreadCount(ctx context.Context, chatID, userID, after int64) (int, error) {
	return 0, errTODO
}

// ---- the persister's projection ----

// ReadMove is a read position that moves forward to MessageID.
type ReadMove struct {
	ChatID, UserID, MessageID int64
}

// Batch is what one consumer batch of one partition changes.
type Batch struct {
	Partition int
	LastSeq   uint64           // recorded as the partition's high-water mark
	Messages  []domain.Message // inserted if absent (by id, and by author+client_id)
	Reads     []ReadMove       // applied as max(current, new)
}

// ApplyBatch writes a batch in one transaction per shard, with multi-row
// statements: messages (INSERT IGNORE: a replayed or duplicated event changes
// nothing), the authors' read positions moved to their messages, read moves,
// chats.last_message_id/updated_at, and the partition's high-water mark.
func (s *Store) ApplyBatch(ctx context.Context, b Batch) error { return errTODO }

// Progress returns each partition's high-water mark on each shard.
func (s *Store) Progress(ctx context.Context) (map[string]map[int]uint64, error) {
	return nil, errTODO
}
