// Package event defines the versioned envelope of everything written to the log.
//
// The log is the source of truth: MySQL, Redis and the realtime channels are
// projections of it. An event never carries its own id; its id is the stream
// sequence the log assigned on append (for a message, that is the message id).
// Adding a field or a new Type is backward compatible: workers ignore types they
// do not know. Changing the meaning of a field needs a new Version.
package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// encoding/json, faster: every worker decodes every event, and the
	// gateway encodes each one; the golden files in testdata hold the format.
	json "github.com/segmentio/encoding/json"

	"github.com/logchat/shared/domain"
)

// Version is the envelope version this code writes and understands.
const Version = 1

// Type names an event. New types may appear in the log before a worker knows them.
type Type string

const (
	MessageCreated Type = "message.created"
	ReadMoved      Type = "read.moved"
	ChatCreated    Type = "chat.created"
	MemberAdded    Type = "member.added"
	MemberRemoved  Type = "member.removed"
	// The message life-cycle (API.md 1.1, "Messages"): changes of messages
	// already in the log. Their subject kind is KindChange, not KindMessage,
	// so that "the newest message of a chat" stays one lookup of the log.
	MessageEdited  Type = "message.edited"
	MessageDeleted Type = "message.deleted"
	MessageHidden  Type = "message.hidden"
	// Chats and people (API.md 1.1, "Chats and roles", "People"): written to
	// MySQL by the gateway, published through its outbox.
	ChatUpdated   Type = "chat.updated"   // a group's title
	MemberUpdated Type = "member.updated" // a member's role, or the member's name
)

// Envelope is the JSON body of every event in the log.
type Envelope struct {
	V       int             `json:"v"`
	Type    Type            `json:"type"`
	ChatID  int64           `json:"chat_id"`
	ActorID int64           `json:"actor_id"`
	At      time.Time       `json:"at"`
	Data    json.RawMessage `json:"data"`
	// ChatVersion is, for the events the gateway stages with a change of a
	// chat (chat.*, member.*), the chat's version after the change: 1 for
	// chat.created, one more for each later change. A projection that
	// rebuilds chats and members from the log applies a change only over an
	// older version. 0 (absent) in other events and in those written before
	// versions existed.
	ChatVersion int64 `json:"chat_version,omitempty"`
}

// MessageCreatedData is the payload of MessageCreated. The message id is the
// event's stream sequence; sent_at is the envelope's At.
type MessageCreatedData struct {
	Author    domain.User `json:"author"`
	Text      string      `json:"text"`
	ClientID  string      `json:"client_id"`
	ReplyToID *int64      `json:"reply_to_id"`
	// ReplyTo quotes the replied message as it was at sending, for the
	// publications (history resolves the quote again when read).
	ReplyTo *domain.MessageRef `json:"reply_to,omitempty"`
	// Forward is the original of a forwarded message.
	Forward *domain.Forward `json:"forwarded_from,omitempty"`
}

// MessageEditedData is the payload of MessageEdited: the message as it is
// after the edit (EditedAt is the envelope's At), whole, so that the notifier
// publishes it without a lookup. Projections take its Text; an edit applies
// only over an older one (by sequence) and never to a deleted message.
type MessageEditedData struct {
	Message domain.Message `json:"message"`
}

// MessageDeletedData is the payload of MessageDeleted: a message deleted for
// everyone. It names the message's author, client_id and time, so that a
// projection that meets the delete before the message (a partial replay)
// can store a tombstone that the message, when it comes, does not overwrite.
type MessageDeletedData struct {
	MessageID int64     `json:"message_id"`
	AuthorID  int64     `json:"author_id"`
	ClientID  string    `json:"client_id"`
	SentAt    time.Time `json:"sent_at"`
}

// MessageHiddenData is the payload of MessageHidden: messages hidden from one
// user's own view of a chat. Exactly one of MessageID (a delete "for me") and
// ThroughID (clear history: every message up to and including it) is set.
type MessageHiddenData struct {
	UserID    int64 `json:"user_id"`
	MessageID int64 `json:"message_id,omitempty"`
	ThroughID int64 `json:"through_id,omitempty"`
}

// Validate checks what every projection relies on.
func (d MessageHiddenData) Validate() error {
	if d.UserID <= 0 || (d.MessageID > 0) == (d.ThroughID > 0) || d.MessageID < 0 || d.ThroughID < 0 {
		return fmt.Errorf("message.hidden needs a user and exactly one of message_id and through_id")
	}
	return nil
}

// ReadMovedData is the payload of ReadMoved: user's read position in the chat
// moves forward to MessageID (never backward; consumers apply max()).
type ReadMovedData struct {
	UserID    int64 `json:"user_id"`
	MessageID int64 `json:"message_id"`
	// MembersCount is the chat's member count as the gateway knew it when
	// the read was recorded; 0 when it did not know (and in events from
	// before the field). It lets the notifier keep read receipts of big
	// groups off the chat channel, which every member watches, without a
	// read model of its own.
	MembersCount int `json:"members_count,omitempty"`
}

// ChatCreatedData is the payload of ChatCreated: the chat as created, members included.
type ChatCreatedData struct {
	Chat domain.Chat `json:"chat"`
}

// MemberAddedData is the payload of MemberAdded: who joined, and the chat
// afterwards, so that consumers can build the newcomer's chat list entry
// without a lookup.
//
// Chat.Members is the whole member list for a direct chat (its title is the
// other member's name), and empty for a group: a list in every event would
// make building a group of n members one at a time O(n²) bytes of log (2 GB
// for 10,000). A group's consumers that need its members read them from
// MySQL, and MembersCount says how many there are. Events written before
// this carry a group's whole list and no count (Count handles both).
type MemberAddedData struct {
	Member       domain.Member `json:"member"`
	Chat         domain.Chat   `json:"chat"`
	MembersCount int           `json:"members_count,omitempty"`
}

// NewMemberAddedData is the payload of member joining chat (chat as it is
// afterwards, members included): a group's member list is left out.
func NewMemberAddedData(member domain.Member, chat domain.Chat) MemberAddedData {
	d := MemberAddedData{Member: member, Chat: chat, MembersCount: len(chat.Members)}
	if chat.Kind == domain.KindGroup {
		d.Chat.Members = nil
	}
	return d
}

// Count is the chat's member count after the join.
func (d MemberAddedData) Count() int {
	if d.MembersCount > 0 {
		return d.MembersCount
	}
	return len(d.Chat.Members)
}

// MemberRemovedData is the payload of MemberRemoved.
type MemberRemovedData struct {
	UserID       int64 `json:"user_id"`
	MembersCount int   `json:"members_count"`
}

// ChatUpdatedData is the payload of ChatUpdated: the chat as it is after the
// change, without its member list (as in a group's member.added), and its
// member count.
type ChatUpdatedData struct {
	Chat         domain.Chat `json:"chat"`
	MembersCount int         `json:"members_count"`
}

// MemberUpdatedData is the payload of MemberUpdated: a member as they are
// now (their role in the chat, their user with its current name and
// picture). Previous is the user before a change of name or picture (nil
// for a change of role), so that copies of it (a cached last message's
// author) can be found and replaced.
type MemberUpdatedData struct {
	Member   domain.Member `json:"member"`
	Previous *domain.User  `json:"previous,omitempty"`
}

// New builds an envelope with its payload marshalled. At is truncated to
// milliseconds, the precision of the API's times and of the database.
func New(t Type, chatID, actorID int64, at time.Time, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("marshal %s payload: %w", t, err)
	}
	return Envelope{V: Version, Type: t, ChatID: chatID, ActorID: actorID, At: at.UTC().Truncate(time.Millisecond), Data: raw}, nil
}

// Encode marshals the envelope for the log.
func (e Envelope) Encode() ([]byte, error) { return json.Marshal(e) }

// Decode parses an envelope and checks what every consumer relies on. An error
// here means the event can never be processed: it is poison.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if e.V < 1 || e.V > Version {
		return Envelope{}, fmt.Errorf("unsupported envelope version %d", e.V)
	}
	if e.Type == "" || e.ChatID <= 0 {
		return Envelope{}, fmt.Errorf("envelope lacks type or chat_id")
	}
	return e, nil
}

// Payload decodes the envelope's data into a typed payload.
func Payload[T any](e Envelope) (T, error) {
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		return v, fmt.Errorf("decode %s payload: %w", e.Type, err)
	}
	return v, nil
}

// Event is an envelope as read back from the log, with its position there.
type Event struct {
	Seq       uint64 // stream sequence: the event id, and the message id for MessageCreated
	Partition int    // the log partition it was read from (all of a chat's events share one)
	Envelope
	// TraceParent is the W3C trace context the event was appended with
	// (its "traceparent" header in the log; "" when it has none): the
	// trace of the request that caused it, which every worker's lines and
	// spans about this event join.
	TraceParent string
}

// Message rebuilds the domain message of a MessageCreated event.
func (ev Event) Message() (domain.Message, error) {
	d, err := Payload[MessageCreatedData](ev.Envelope)
	if err != nil {
		return domain.Message{}, err
	}
	return domain.Message{
		ID: int64(ev.Seq), ChatID: ev.ChatID, Author: d.Author, Text: d.Text,
		SentAt: ev.At, ClientID: d.ClientID, ReplyToID: d.ReplyToID,
		ReplyTo: d.ReplyTo, Forward: d.Forward,
	}, nil
}

// Edited decodes a MessageEdited event: the message after the edit, checked
// as a message in the log is, with EditedAt the event's time.
func (ev Event) Edited() (domain.Message, error) {
	d, err := Payload[MessageEditedData](ev.Envelope)
	if err != nil {
		return domain.Message{}, err
	}
	m := d.Message
	if m.ChatID != ev.ChatID {
		return domain.Message{}, fmt.Errorf("message.edited of chat %d names chat %d", ev.ChatID, m.ChatID)
	}
	at := ev.At
	m.EditedAt = &at
	if err := domain.ValidateMessage(m); err != nil {
		return domain.Message{}, err
	}
	if uint64(m.ID) >= ev.Seq {
		return domain.Message{}, fmt.Errorf("message.edited %d edits message %d, which is not older", ev.Seq, m.ID)
	}
	return m, nil
}

// Deleted decodes a MessageDeleted event.
func (ev Event) Deleted() (MessageDeletedData, error) {
	d, err := Payload[MessageDeletedData](ev.Envelope)
	if err != nil {
		return d, err
	}
	if d.MessageID <= 0 || uint64(d.MessageID) >= ev.Seq || d.AuthorID <= 0 || domain.ValidateClientID(d.ClientID) != nil || d.SentAt.IsZero() {
		return d, fmt.Errorf("message.deleted %d needs an older message id, its author, client_id and sent_at", ev.Seq)
	}
	return d, nil
}

// Hidden decodes a MessageHidden event.
func (ev Event) Hidden() (MessageHiddenData, error) {
	d, err := Payload[MessageHiddenData](ev.Envelope)
	if err != nil {
		return d, err
	}
	return d, d.Validate()
}

// Subject kinds: the last token of an event's subject, so that the log can be
// queried for "the last message of chat 42" without reading other event kinds.
const (
	KindMessage = "msg"
	KindRead    = "read"
	KindMember  = "member"
	KindChat    = "chat"
	KindChange  = "change" // edits, deletes and hides of messages
)

// SubjectKind maps an event type to its subject token.
func SubjectKind(t Type) string {
	switch t {
	case MessageCreated:
		return KindMessage
	case ReadMoved:
		return KindRead
	case ChatCreated, ChatUpdated:
		return KindChat
	case MessageEdited, MessageDeleted, MessageHidden:
		return KindChange
	default:
		if strings.HasPrefix(string(t), "member.") {
			return KindMember
		}
		if strings.HasPrefix(string(t), "message.") {
			return KindMessage
		}
		return "other"
	}
}

// FormatChatID renders a chat id for a subject token.
func FormatChatID(id int64) string { return strconv.FormatInt(id, 10) }
