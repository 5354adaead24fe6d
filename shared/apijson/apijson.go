// Package apijson is how the API's objects look on the wire, in HTTP answers
// and in realtime publications alike. API.md writes every time as RFC 3339 in
// UTC with exactly three fractional digits ("2026-11-27T10:00:00.120Z");
// time.Time's own JSON drops trailing zeros and keeps nanoseconds, so the
// objects that carry times are encoded through these mirrors of the domain
// types. Tests check that the mirrors have the same JSON fields as the domain
// types, so the two cannot drift apart.
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

// Message is domain.Message on the wire.
type Message struct {
	ID        int64       `json:"id"`
	ChatID    int64       `json:"chat_id"`
	Author    domain.User `json:"author"`
	Text      string      `json:"text"`
	SentAt    Time        `json:"sent_at"`
	ClientID  string      `json:"client_id"`
	ReplyToID *int64      `json:"reply_to_id"`
}

// FromMessage converts a message for the wire.
func FromMessage(m domain.Message) Message {
	return Message{ID: m.ID, ChatID: m.ChatID, Author: m.Author, Text: m.Text,
		SentAt: Time(m.SentAt), ClientID: m.ClientID, ReplyToID: m.ReplyToID}
}

// FromMessages converts messages for the wire.
func FromMessages(ms []domain.Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = FromMessage(m)
	}
	return out
}

// Summary is domain.ChatSummary on the wire.
type Summary struct {
	ID            int64           `json:"id"`
	Kind          domain.ChatKind `json:"kind"`
	Title         string          `json:"title"`
	Channel       string          `json:"channel"`
	MembersCount  int             `json:"members_count"`
	LastMessage   *Message        `json:"last_message"`
	UnreadCount   int             `json:"unread_count"`
	ReadMessageID int64           `json:"read_message_id"`
	UpdatedAt     Time            `json:"updated_at"`
}

// FromSummary converts a chat summary for the wire; an empty channel is
// filled in (clients never build channel names themselves).
func FromSummary(s domain.ChatSummary) Summary {
	out := Summary{ID: s.ID, Kind: s.Kind, Title: s.Title, Channel: s.Channel,
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
