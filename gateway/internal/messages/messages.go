// Package messages is the rules of sending and reading: who may send, what a
// message is, the idempotency key that makes a retried send return the
// original, replies, history and read positions.
//
// A send is one append to the log; its 202 carries the id the log gave it.
// Reads that must see what was accepted a moment ago (a reply target, the
// newest message) ask the log itself, not the projections that may lag.
package messages

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// Store is MySQL: the persister's projection of the log (*sqlstore.Store).
type Store interface {
	Message(ctx context.Context, chatID, messageID int64) (domain.Message, error)
	History(ctx context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error)
	ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error)
}

// Cache is the read positions cachewarm projected into Redis (*chatcache.Cache).
type Cache interface {
	Summary(ctx context.Context, userID, chatID int64) (domain.ChatSummary, error)
}

// Members answers membership (*membership.Service).
type Members interface {
	Role(ctx context.Context, chatID, uid int64) (domain.Role, error)
}

// Log is the chat log (the gateway's: the stream, through the group-commit
// publisher).
type Log interface {
	// Append appends an event; msgID, if not empty, is its idempotency key:
	// an append with a key the log has seen stores nothing and answers the
	// original's sequence with Duplicate set.
	Append(ctx context.Context, env event.Envelope, msgID string) (bus.Ack, error)
	// Message is the message the log accepted as id in chatID, read back from
	// the log; domain.ErrNotFound when id is no message of chatID.
	Message(ctx context.Context, chatID, id int64) (domain.Message, error)
	// NewestMessageID is the id of the newest message the log accepted in a
	// chat, 0 for none.
	NewestMessageID(ctx context.Context, chatID int64) (int64, error)
}

// Service applies the message rules.
type Service struct {
	store   Store
	cache   Cache
	members Members
	log     Log
}

// New returns the message service.
func New(st Store, cache Cache, members Members, log Log) *Service {
	return &Service{store: st, cache: cache, members: members, log: log}
}

// Draft is a message as a client sends it.
type Draft struct {
	Text      string
	ClientID  string
	ReplyToID *int64
}

// SendKey is a send's idempotency key: one message per author, chat and
// client_id.
func SendKey(chatID, authorID int64, clientID string) string {
	return fmt.Sprintf("m:%d:%d:%s", chatID, authorID, clientID)
}

// Send appends a message.created event to the log and returns the message as
// the log accepted it. The idempotency key makes a retry return the original
// message: the log deduplicates by key and acknowledges with the original
// sequence, whose event is read back for the original text and time.
func (s *Service) Send(ctx context.Context, me domain.User, chatID int64, d Draft) (domain.Message, error) {
	text, err := domain.NormalizeText(d.Text)
	if err != nil {
		return domain.Message{}, err
	}
	if err := domain.ValidateClientID(d.ClientID); err != nil {
		return domain.Message{}, err
	}
	role, err := s.members.Role(ctx, chatID, me.ID)
	if err != nil {
		return domain.Message{}, err
	}
	if !role.CanSend() {
		return domain.Message{}, domain.Forbidden("a muted member cannot send messages")
	}
	if d.ReplyToID != nil {
		if err := s.checkReplyTarget(ctx, chatID, *d.ReplyToID); err != nil {
			return domain.Message{}, err
		}
	}
	data := event.MessageCreatedData{Author: me, Text: text, ClientID: d.ClientID, ReplyToID: d.ReplyToID}
	env, err := event.New(event.MessageCreated, chatID, me.ID, time.Now(), data)
	if err != nil {
		return domain.Message{}, err
	}
	ack, err := s.log.Append(ctx, env, SendKey(chatID, me.ID, d.ClientID))
	if err != nil {
		return domain.Message{}, err
	}
	if ack.Duplicate {
		// A retry: the answer is the original message, as the log holds it.
		orig, err := s.log.Message(ctx, chatID, int64(ack.Seq))
		if err != nil {
			return domain.Message{}, fmt.Errorf("load original of duplicate send: %w", err)
		}
		return orig, nil
	}
	// What event.Event.Message would decode from the event just appended.
	return domain.Message{ID: int64(ack.Seq), ChatID: chatID, Author: data.Author, Text: data.Text,
		SentAt: env.At, ClientID: data.ClientID, ReplyToID: data.ReplyToID}, nil
}

// checkReplyTarget makes sure id is a message of chatID. A message accepted a
// moment ago may not be in MySQL yet: then the log itself is asked.
func (s *Service) checkReplyTarget(ctx context.Context, chatID, id int64) error {
	bad := domain.Invalid("reply_to_id is not a message of this chat")
	if id <= 0 {
		return bad
	}
	_, err := s.store.Message(ctx, chatID, id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	_, err = s.log.Message(ctx, chatID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return bad
	}
	return err
}

// History is a page of a chat's messages for one of its members.
func (s *Service) History(ctx context.Context, uid, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error) {
	if _, err := s.members.Role(ctx, chatID, uid); err != nil {
		return nil, false, err
	}
	return s.store.History(ctx, chatID, q)
}

// MarkRead moves uid's read position in a chat forward to messageID, which
// must be a message the log accepted. The projections apply max(current,
// new), so appending a stale move would be harmless; skipping it only saves
// the log an event.
func (s *Service) MarkRead(ctx context.Context, uid, chatID, messageID int64) error {
	if messageID <= 0 {
		return domain.Invalid("message_id must be a positive message id")
	}
	if _, err := s.members.Role(ctx, chatID, uid); err != nil {
		return err
	}
	newest, err := s.log.NewestMessageID(ctx, chatID)
	if err != nil {
		return err
	}
	if messageID > newest {
		return domain.Invalid("message_id is beyond the newest message of the chat")
	}
	pos, members := s.readPosition(ctx, uid, chatID)
	if messageID <= pos {
		return nil
	}
	data := event.ReadMovedData{UserID: uid, MessageID: messageID, MembersCount: members}
	env, err := event.New(event.ReadMoved, chatID, uid, time.Now(), data)
	if err != nil {
		return err
	}
	if _, err := s.log.Append(ctx, env, fmt.Sprintf("r:%d:%d:%d", chatID, uid, messageID)); err != nil {
		return fmt.Errorf("append %s: %w", event.ReadMoved, err)
	}
	return nil
}

// readPosition is uid's read position as the projections know it (cache
// first, then MySQL), or 0 when neither answers; and the chat's member count
// when the cache knows it (0 otherwise), which the read's event carries for
// the notifier (event.ReadMovedData) at no extra cost: it comes with the
// same answer.
func (s *Service) readPosition(ctx context.Context, uid, chatID int64) (pos int64, members int) {
	if sum, err := s.cache.Summary(ctx, uid, chatID); err == nil {
		return sum.ReadMessageID, sum.MembersCount
	}
	if pos, err := s.store.ReadPositions(ctx, uid, []int64{chatID}); err == nil {
		return pos[chatID], 0
	}
	return 0, 0
}
