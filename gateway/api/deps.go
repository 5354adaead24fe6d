package api

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// The gateway declares what it needs of each dependency; *sqlstore.Store,
// *chatcache.Cache, *bus.Publisher and a jetstream.Stream implement these.

// Store is MySQL: accounts, chats and memberships (strongly consistent, the
// basis of every authorization decision) and the persister's projection of the
// log (history, read positions).
type Store interface {
	Ping(ctx context.Context) error

	CreateUser(ctx context.Context, name string, passwordHash []byte, at time.Time) (domain.User, error)
	UserByName(ctx context.Context, name string) (domain.User, []byte, error)
	UserByID(ctx context.Context, id int64) (domain.User, error)
	UsersByIDs(ctx context.Context, ids []int64) ([]domain.User, error)
	SearchUsers(ctx context.Context, prefix string, limit int) ([]domain.User, error)

	CreateDirectChat(ctx context.Context, a, b domain.User, at time.Time, stage sqlstore.Stage) (domain.Chat, bool, error)
	CreateGroupChat(ctx context.Context, title string, createdBy int64, members []domain.Member, at time.Time, stage sqlstore.Stage) (domain.Chat, error)
	Chat(ctx context.Context, chatID int64) (domain.Chat, error)
	MemberRole(ctx context.Context, chatID, userID int64) (domain.Role, error)
	AddMember(ctx context.Context, chatID int64, user domain.User, role domain.Role, at time.Time, stage sqlstore.Stage) (domain.Chat, bool, error)
	RemoveMember(ctx context.Context, chatID, userID int64, stage sqlstore.Stage) error
	UserChats(ctx context.Context, userID int64, after *sqlstore.ListCursor, limit int) ([]sqlstore.ChatRow, error)

	History(ctx context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error)
	Message(ctx context.Context, chatID, messageID int64) (domain.Message, error)
	MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error)
	ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error)
	UnreadCounts(ctx context.Context, userID int64, after map[int64]int64) (map[int64]int, error)
}

// Outbox publishes the events that chat and membership changes staged in
// their transactions (*outbox.Relay).
type Outbox interface {
	// Flush returns once the events committed so far are in the log, or with
	// the reason they are not yet.
	Flush(ctx context.Context) error
}

// ChatCache is the Redis chat list (cachewarm's projection of the log).
type ChatCache interface {
	Ping(ctx context.Context) error
	ChatList(ctx context.Context, userID int64, cursor string, limit int) ([]domain.ChatSummary, string, error)
	Summary(ctx context.Context, userID, chatID int64) (domain.ChatSummary, error)
	// MemberOf answers membership from the cache when MySQL cannot
	// (known=false: the cache does not hold the chat's members).
	MemberOf(ctx context.Context, chatID, userID int64) (member, known bool, err error)
}

// Publisher appends events to the log.
type Publisher interface {
	Publish(ctx context.Context, env event.Envelope, msgID string) (bus.Ack, error)
}

// EventLog reads single events back from the log (a jetstream.Stream): the
// original of a deduplicated send, a reply target the persister has not
// written yet, the newest message of a chat.
type EventLog interface {
	GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error)
	GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error)
}

var (
	_ Store     = (*sqlstore.Store)(nil)
	_ Publisher = (*bus.Publisher)(nil)
	_ EventLog  = (jetstream.Stream)(nil)
)
