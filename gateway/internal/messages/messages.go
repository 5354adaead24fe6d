// Package messages is the rules of sending and reading: who may send, what a
// message is, the idempotency key that makes a retried send return the
// original, replies, forwards, edits, deletes (for everyone and for oneself),
// history and read positions.
//
// A send is one append to the log; its 202 carries the id the log gave it.
// Reads that must see what was accepted a moment ago (a reply target, the
// newest message) ask the log itself, not the projections that may lag.
package messages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error)
	History(ctx context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error)
	ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error)
	AppliedThrough(ctx context.Context, chatID int64, partition int) (uint64, error)
	// The search index (the searcher's projection) and what a search reads
	// beside it: search.go.
	SearchCandidates(ctx context.Context, q sqlstore.SearchQuery) ([]sqlstore.SearchHit, error)
	VisibleMessages(ctx context.Context, viewer int64, hits []sqlstore.SearchHit) (map[int64]domain.Message, error)
	MemberChatIDs(ctx context.Context, userID int64) ([]int64, error)
}

// Cache is the read positions cachewarm projected into Redis (*chatcache.Cache).
type Cache interface {
	Summary(ctx context.Context, userID, chatID int64) (domain.ChatSummary, error)
}

// Members answers membership (*membership.Service).
type Members interface {
	Role(ctx context.Context, chatID, uid int64) (domain.Role, error)
	// ManagerRole is Role asked of MySQL, never of a cache: for powers
	// over other members' messages.
	ManagerRole(ctx context.Context, chatID, uid int64) (domain.Role, error)
	// DirectPeer is the other member of a direct chat (direct false for a group).
	DirectPeer(ctx context.Context, chatID, uid int64) (peer int64, direct bool, err error)
}

// People is what messages need of people (*people.Service): the author as
// they are now, and blocks.
type People interface {
	Current(ctx context.Context, u domain.User) domain.User
	MayMessage(ctx context.Context, a, b int64) error
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
	// LastChange is the newest edit, delete or hide of the chat's messages
	// in the log (0 for none) and the partition of the chat's events.
	LastChange(ctx context.Context, chatID int64) (seq uint64, partition int, err error)
}

// Service applies the message rules.
type Service struct {
	store   Store
	cache   Cache
	members Members
	people  People
	log     Log
}

// New returns the message service.
func New(st Store, cache Cache, members Members, people People, log Log) *Service {
	return &Service{store: st, cache: cache, members: members, people: people, log: log}
}

// mayWrite says whether me may write in a chat they may send in: not in a
// direct chat where either member blocked the other. When MySQL cannot say
// (an outage), the message goes through: sends are accepted through a MySQL
// outage, the log being the buffer, and a block is a courtesy between two
// people, not a security boundary (see people.MayMessage).
func (s *Service) mayWrite(ctx context.Context, chatID, me int64) error {
	peer, direct, err := s.members.DirectPeer(ctx, chatID, me)
	if err != nil || !direct {
		return nil
	}
	return s.people.MayMessage(ctx, me, peer)
}

// MaySend says whether uid may send in chatID, with the errors of a send:
// not a member (404), muted (403), a direct chat where either blocked the
// other (403). Typing notices follow it.
func (s *Service) MaySend(ctx context.Context, uid, chatID int64) error {
	role, err := s.members.Role(ctx, chatID, uid)
	if err != nil {
		return err
	}
	if !role.CanSend() {
		return domain.Forbidden("a muted member cannot send messages")
	}
	return s.mayWrite(ctx, chatID, uid)
}

// Draft is a message as a client sends it: a text, or a forward of another
// message (never both).
type Draft struct {
	Text      string
	ClientID  string
	ReplyToID *int64
	Forward   *Source
}

// Source names a message to forward.
type Source struct {
	ChatID, MessageID int64
}

// SendKey is a send's idempotency key: one message per author, chat and
// client_id.
func SendKey(chatID, authorID int64, clientID string) string {
	return fmt.Sprintf("m:%d:%d:%s", chatID, authorID, clientID)
}

// Send appends a message.created event to the log and returns the message as
// the log accepted it: a text, or a forward (the source's current text and
// its origin), with the quote of the replied message as it is now. The
// idempotency key makes a retry return the original message: the log
// deduplicates by key and acknowledges with the original sequence, whose
// event is read back for the original text and time.
func (s *Service) Send(ctx context.Context, me domain.User, chatID int64, d Draft) (domain.Message, error) {
	if err := domain.ValidateClientID(d.ClientID); err != nil {
		return domain.Message{}, err
	}
	var text string
	var err error
	if d.Forward == nil {
		if text, err = domain.NormalizeText(d.Text); err != nil {
			return domain.Message{}, err
		}
	} else if d.Text != "" {
		return domain.Message{}, domain.Invalid("a forward carries the source's text: send either text or forward")
	}
	role, err := s.members.Role(ctx, chatID, me.ID)
	if err != nil {
		return domain.Message{}, err
	}
	if !role.CanSend() {
		return domain.Message{}, domain.Forbidden("a muted member cannot send messages")
	}
	if err := s.mayWrite(ctx, chatID, me.ID); err != nil {
		return domain.Message{}, err
	}
	me = s.people.Current(ctx, me)
	data := event.MessageCreatedData{Author: me, Text: text, ClientID: d.ClientID, ReplyToID: d.ReplyToID}
	if d.Forward != nil {
		src, err := s.forwardSource(ctx, me.ID, *d.Forward)
		if err != nil {
			return domain.Message{}, err
		}
		f := domain.ForwardOf(src)
		data.Text, data.Forward = src.Text, &f
	}
	if d.ReplyToID != nil {
		target, err := s.replyTarget(ctx, chatID, *d.ReplyToID)
		if err != nil {
			return domain.Message{}, err
		}
		ref := domain.RefOf(target)
		data.ReplyTo = &ref
	}
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
	return event.Event{Seq: ack.Seq, Envelope: env}.Message()
}

// forwardSource is the message to forward: one of a chat the caller is a
// member of (404 otherwise), not deleted, with its current text.
func (s *Service) forwardSource(ctx context.Context, uid int64, src Source) (domain.Message, error) {
	if src.ChatID <= 0 || src.MessageID <= 0 {
		return domain.Message{}, domain.Invalid("forward needs a positive chat_id and message_id")
	}
	if _, err := s.members.Role(ctx, src.ChatID, uid); err != nil {
		return domain.Message{}, err
	}
	m, err := s.current(ctx, src.ChatID, src.MessageID)
	if err != nil {
		return domain.Message{}, err
	}
	if m.Deleted {
		return domain.Message{}, fmt.Errorf("message %d was deleted: %w", m.ID, domain.ErrNotFound)
	}
	return m, nil
}

// replyTarget is message id of chatID, for a reply. A message accepted a
// moment ago may not be in MySQL yet: then the log itself is asked.
func (s *Service) replyTarget(ctx context.Context, chatID, id int64) (domain.Message, error) {
	bad := domain.Invalid("reply_to_id is not a message of this chat")
	if id <= 0 {
		return domain.Message{}, bad
	}
	m, err := s.store.Message(ctx, chatID, id)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, domain.ErrNotFound) {
		return domain.Message{}, err
	}
	m, err = s.log.Message(ctx, chatID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Message{}, bad
	}
	return m, err
}

// appliedWait bounds how long an edit or a forward waits for MySQL to apply
// the chat's newest change before answering 503.
const appliedWait = 3 * time.Second

// current reads message id of chatID as the log has made it by now. MySQL
// may lag the log, and an edit judged against a stale text (the no-op rule,
// the idempotency key) or a forward of it would be wrong, so this first waits
// until the persister has applied the chat's newest change in the log. A
// message MySQL does not have yet is read from the log: it is newer than
// every applied change, so no change of it exists. domain.ErrNotFound when
// id is no message of chatID.
func (s *Service) current(ctx context.Context, chatID, id int64) (domain.Message, error) {
	if id <= 0 {
		return domain.Message{}, fmt.Errorf("message %d: %w", id, domain.ErrNotFound)
	}
	seq, partition, err := s.log.LastChange(ctx, chatID)
	if err != nil {
		return domain.Message{}, err
	}
	if seq > 0 {
		if err := s.waitApplied(ctx, chatID, partition, seq); err != nil {
			return domain.Message{}, err
		}
	}
	m, err := s.store.Message(ctx, chatID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return s.log.Message(ctx, chatID, id)
	}
	return m, err
}

// waitApplied waits until MySQL holds every event of a partition up to seq.
func (s *Service) waitApplied(ctx context.Context, chatID int64, partition int, seq uint64) error {
	deadline := time.Now().Add(appliedWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		applied, err := s.store.AppliedThrough(ctx, chatID, partition)
		if err != nil {
			return err
		}
		if applied >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the chat's history is still catching up with the log; retry", domain.ErrUnavailable)
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Edit replaces the text of one of the caller's own messages (API.md 1.1):
// the same id and position, edited_at set. Editing to the same text is a
// no-op. A deleted message is not found.
func (s *Service) Edit(ctx context.Context, me domain.User, chatID, id int64, text string) (domain.Message, error) {
	text, err := domain.NormalizeText(text)
	if err != nil {
		return domain.Message{}, err
	}
	role, err := s.members.Role(ctx, chatID, me.ID)
	if err != nil {
		return domain.Message{}, err
	}
	m, err := s.current(ctx, chatID, id)
	if err != nil {
		return domain.Message{}, err
	}
	if m.Deleted {
		return domain.Message{}, fmt.Errorf("message %d was deleted: %w", id, domain.ErrNotFound)
	}
	if m.Author.ID != me.ID {
		return domain.Message{}, domain.Forbidden("only the author can edit a message")
	}
	if !role.CanSend() {
		return domain.Message{}, domain.Forbidden("a muted member cannot edit messages")
	}
	if err := s.mayWrite(ctx, chatID, me.ID); err != nil {
		return domain.Message{}, err
	}
	m.Author = s.people.Current(ctx, me)
	if m, err = s.resolveOne(ctx, me.ID, m); err != nil {
		return domain.Message{}, err
	}
	if m.Text == text {
		return m, nil
	}
	// The version edited is part of the key: a retry of this very edit is
	// deduplicated, while a later edit back to an earlier text is not.
	var base int64
	if m.EditedAt != nil {
		base = m.EditedAt.UnixMilli()
	}
	sum := sha256.Sum256([]byte(text))
	key := fmt.Sprintf("e:%d:%d:%d:%s", chatID, id, base, hex.EncodeToString(sum[:12]))
	m.Text = text
	now := time.Now()
	env, err := event.New(event.MessageEdited, chatID, me.ID, now, event.MessageEditedData{Message: m})
	if err != nil {
		return domain.Message{}, err
	}
	if _, err := s.log.Append(ctx, env, key); err != nil {
		return domain.Message{}, fmt.Errorf("append %s: %w", event.MessageEdited, err)
	}
	at := env.At
	m.EditedAt = &at
	return m, nil
}

// Delete deletes a message for everyone: the author may, and in a group an
// admin or moderator. Deleting a deleted message succeeds again.
func (s *Service) Delete(ctx context.Context, uid, chatID, id int64) error {
	if _, err := s.members.Role(ctx, chatID, uid); err != nil {
		return err
	}
	m, err := s.message(ctx, chatID, id)
	if err != nil {
		return err
	}
	if m.Deleted {
		return nil
	}
	if m.Author.ID != uid {
		role, err := s.members.ManagerRole(ctx, chatID, uid)
		if err != nil {
			return err
		}
		if !role.CanDeleteOthers() {
			return domain.Forbidden("only the author, or an admin or moderator of a group, can delete this message")
		}
	}
	data := event.MessageDeletedData{MessageID: m.ID, AuthorID: m.Author.ID, ClientID: m.ClientID, SentAt: m.SentAt}
	env, err := event.New(event.MessageDeleted, chatID, uid, time.Now(), data)
	if err != nil {
		return err
	}
	if _, err := s.log.Append(ctx, env, fmt.Sprintf("d:%d:%d", chatID, id)); err != nil {
		return fmt.Errorf("append %s: %w", event.MessageDeleted, err)
	}
	return nil
}

// Hide removes a message from the caller's own view of the chat ("delete
// for me"): their history, chat list and unread count.
func (s *Service) Hide(ctx context.Context, uid, chatID, id int64) error {
	if _, err := s.members.Role(ctx, chatID, uid); err != nil {
		return err
	}
	if _, err := s.message(ctx, chatID, id); err != nil {
		return err
	}
	return s.appendHidden(ctx, chatID, event.MessageHiddenData{UserID: uid, MessageID: id},
		fmt.Sprintf("h:%d:%d:%d", chatID, uid, id))
}

// ClearHistory hides every message of the chat accepted so far from the
// caller's own view.
func (s *Service) ClearHistory(ctx context.Context, uid, chatID int64) error {
	if _, err := s.members.Role(ctx, chatID, uid); err != nil {
		return err
	}
	newest, err := s.log.NewestMessageID(ctx, chatID)
	if err != nil || newest == 0 {
		return err
	}
	return s.appendHidden(ctx, chatID, event.MessageHiddenData{UserID: uid, ThroughID: newest},
		fmt.Sprintf("c:%d:%d:%d", chatID, uid, newest))
}

func (s *Service) appendHidden(ctx context.Context, chatID int64, d event.MessageHiddenData, key string) error {
	env, err := event.New(event.MessageHidden, chatID, d.UserID, time.Now(), d)
	if err != nil {
		return err
	}
	if _, err := s.log.Append(ctx, env, key); err != nil {
		return fmt.Errorf("append %s: %w", event.MessageHidden, err)
	}
	return nil
}

// message is message id of chatID from MySQL, or from the log when MySQL
// does not have it yet; domain.ErrNotFound when it is no message of chatID.
func (s *Service) message(ctx context.Context, chatID, id int64) (domain.Message, error) {
	if id <= 0 {
		return domain.Message{}, fmt.Errorf("message %d: %w", id, domain.ErrNotFound)
	}
	m, err := s.store.Message(ctx, chatID, id)
	if errors.Is(err, domain.ErrNotFound) {
		return s.log.Message(ctx, chatID, id)
	}
	return m, err
}

// History is a page of a chat's messages for one of its members, as that
// member sees them: without what they hid, with replies' quotes as the
// quoted messages are now, and a forward's source chat only when the reader
// is a member of it.
func (s *Service) History(ctx context.Context, uid, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error) {
	if _, err := s.members.Role(ctx, chatID, uid); err != nil {
		return nil, false, err
	}
	q.Viewer = uid
	msgs, more, err := s.store.History(ctx, chatID, q)
	if err != nil {
		return nil, false, err
	}
	if err := s.resolve(ctx, uid, msgs); err != nil {
		return nil, false, err
	}
	return msgs, more, nil
}

// resolveOne is resolve for one message.
func (s *Service) resolveOne(ctx context.Context, uid int64, m domain.Message) (domain.Message, error) {
	one := []domain.Message{m}
	if err := s.resolve(ctx, uid, one); err != nil {
		return domain.Message{}, err
	}
	return one[0], nil
}

// resolve fills in what a message shows its reader at read time (API.md
// 1.1): the quote of the replied message as it is now, and the source chat
// of a forward only for a member of it.
func (s *Service) resolve(ctx context.Context, uid int64, msgs []domain.Message) error {
	var chats, ids []int64
	for _, m := range msgs {
		if m.ReplyToID != nil {
			chats, ids = append(chats, m.ChatID), append(ids, *m.ReplyToID)
		}
	}
	var quoted map[int64]domain.Message
	if len(ids) > 0 {
		var err error
		if quoted, err = s.store.MessagesByID(ctx, chats, ids); err != nil {
			return err
		}
	}
	member := map[int64]bool{}
	for i := range msgs {
		m := &msgs[i]
		if m.ReplyToID != nil {
			if q, ok := quoted[*m.ReplyToID]; ok {
				ref := domain.RefOf(q)
				m.ReplyTo = &ref
			}
			// Not in MySQL yet (sent a moment ago): the quote taken at
			// sending, if any, stands.
		}
		if f := m.Forward; f != nil && f.ChatID > 0 && f.ChatID != m.ChatID {
			ok, seen := member[f.ChatID]
			if !seen {
				_, err := s.members.Role(ctx, f.ChatID, uid)
				ok = err == nil
				member[f.ChatID] = ok
			}
			if !ok {
				hidden := *f
				hidden.ChatID = 0
				m.Forward = &hidden
			}
		}
	}
	return nil
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
