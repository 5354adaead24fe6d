// Package apijson is the wire format of the API (API.md): every JSON object the
// gateway answers over HTTP and every publication the notifier sends to
// Centrifugo channels, as encoded on the wire. It is the one place these
// shapes are declared; the gateway and the notifier encode these types, and
// testdata/*.json holds a golden file for each of them, built from fixed
// example values by golden_test.go. The web client's tests
// (web/tests/wire.test.ts) read the same golden files, so a change of the
// wire shows up on both sides of it.
//
// API.md writes every time as RFC 3339 in UTC with exactly three fractional
// digits ("2026-11-27T10:00:00.120Z"); time.Time's own JSON drops trailing
// zeros and keeps nanoseconds, so the objects that carry times are mirrors of
// the domain types with Time fields. Tests check that the mirrors have the
// same JSON fields as the domain types, so the two cannot drift apart.
package apijson

import (
	"time"

	"github.com/logchat/shared/domain"
)

// Layout is the API's time format.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Time is a time that encodes in the API's format.
type Time time.Time

// MarshalJSON writes the time in UTC with milliseconds.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(Layout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, Layout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	var tt time.Time
	if err := tt.UnmarshalJSON(b); err != nil {
		return err
	}
	*t = Time(tt)
	return nil
}

// User and Member carry no times, so the domain types are already their wire
// form; the aliases name them in this package's vocabulary, and the golden
// files pin their encoding like every other object's.
type (
	User   = domain.User
	Member = domain.Member
)

// Message is domain.Message on the wire.
type Message struct {
	ID            int64          `json:"id"`
	ChatID        int64          `json:"chat_id"`
	Author        User           `json:"author"`
	Text          string         `json:"text"`
	SentAt        Time           `json:"sent_at"`
	ClientID      string         `json:"client_id"`
	ReplyToID     *int64         `json:"reply_to_id"`
	EditedAt      *Time          `json:"edited_at"`
	ReplyTo       *MessageRef    `json:"reply_to"`
	ForwardedFrom *ForwardedFrom `json:"forwarded_from"`
}

// MessageRef is a quote of a replied message; it carries no time, so the
// domain type is its wire form.
type MessageRef = domain.MessageRef

// ForwardedFrom is domain.Forward on the wire: ChatID is null when the
// reader is not a member of the source chat (the domain value is 0 then).
type ForwardedFrom struct {
	MessageID int64  `json:"message_id"`
	ChatID    *int64 `json:"chat_id"`
	Author    User   `json:"author"`
	SentAt    Time   `json:"sent_at"`
}

// FromMessage converts a message for the wire.
func FromMessage(m domain.Message) Message {
	out := Message{ID: m.ID, ChatID: m.ChatID, Author: m.Author, Text: m.Text,
		SentAt: Time(m.SentAt), ClientID: m.ClientID, ReplyToID: m.ReplyToID, ReplyTo: m.ReplyTo}
	if m.EditedAt != nil {
		t := Time(*m.EditedAt)
		out.EditedAt = &t
	}
	if f := m.Forward; f != nil {
		out.ForwardedFrom = &ForwardedFrom{MessageID: f.MessageID, Author: f.Author, SentAt: Time(f.SentAt)}
		if f.ChatID > 0 {
			id := f.ChatID
			out.ForwardedFrom.ChatID = &id
		}
	}
	return out
}

// FromMessages converts messages for the wire.
func FromMessages(ms []domain.Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = FromMessage(m)
	}
	return out
}

// ChatSummary is domain.ChatSummary on the wire: a chat as the caller's chat
// list shows it.
type ChatSummary struct {
	ID            int64           `json:"id"`
	Kind          domain.ChatKind `json:"kind"`
	Title         string          `json:"title"`
	Channel       string          `json:"channel"`
	MembersCount  int             `json:"members_count"`
	LastMessage   *Message        `json:"last_message"`
	UnreadCount   int             `json:"unread_count"`
	ReadMessageID int64           `json:"read_message_id"`
	UpdatedAt     Time            `json:"updated_at"`
	MutedUntil    *Time           `json:"muted_until"` // reserved: always null in 1.1
}

// FromSummary converts a chat summary for the wire; an empty channel is
// filled in (clients never build channel names themselves).
func FromSummary(s domain.ChatSummary) ChatSummary {
	out := ChatSummary{ID: s.ID, Kind: s.Kind, Title: s.Title, Channel: s.Channel,
		MembersCount: s.MembersCount, UnreadCount: s.UnreadCount,
		ReadMessageID: s.ReadMessageID, UpdatedAt: Time(s.UpdatedAt)}
	if s.LastMessage != nil {
		m := FromMessage(*s.LastMessage)
		out.LastMessage = &m
	}
	if out.Channel == "" {
		out.Channel = domain.ChatChannel(s.ID)
	}
	return out
}

// Chat is a chat with its members: the caller's summary of it plus when it
// was created and who is in it. Members is never null on the wire: a chat
// without members encodes [].
type Chat struct {
	ChatSummary
	CreatedAt Time     `json:"created_at"`
	Members   []Member `json:"members"`
}
