package relay

import (
	"encoding/json"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/realtime"
)

// The API promises times as RFC 3339 in UTC with exactly three fractional
// digits ("2026-11-27T10:00:00.120Z"). time.Time's own JSON drops trailing
// zeros ("…00.12Z", "…00Z"), so publications carrying times are encoded
// through these mirrors of the shared types. wire_test.go checks that the
// mirrors have the same JSON fields as the shared types, so they cannot drift.

const apiTimeLayout = "2006-01-02T15:04:05.000Z07:00"

type apiTime time.Time

func (t apiTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(apiTimeLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, apiTimeLayout)
	return append(b, '"'), nil
}

type wireMessage struct {
	ID        int64       `json:"id"`
	ChatID    int64       `json:"chat_id"`
	Author    domain.User `json:"author"`
	Text      string      `json:"text"`
	SentAt    apiTime     `json:"sent_at"`
	ClientID  string      `json:"client_id"`
	ReplyToID *int64      `json:"reply_to_id"`
}

func toWireMessage(m domain.Message) wireMessage {
	return wireMessage{ID: m.ID, ChatID: m.ChatID, Author: m.Author, Text: m.Text,
		SentAt: apiTime(m.SentAt), ClientID: m.ClientID, ReplyToID: m.ReplyToID}
}

type wireSummary struct {
	ID            int64           `json:"id"`
	Kind          domain.ChatKind `json:"kind"`
	Title         string          `json:"title"`
	Channel       string          `json:"channel"`
	MembersCount  int             `json:"members_count"`
	LastMessage   *wireMessage    `json:"last_message"`
	UnreadCount   int             `json:"unread_count"`
	ReadMessageID int64           `json:"read_message_id"`
	UpdatedAt     apiTime         `json:"updated_at"`
}

type wireMessageCreated struct {
	Type    string      `json:"type"`
	Message wireMessage `json:"message"`
}

type wireChatAdded struct {
	Type string      `json:"type"`
	Chat wireSummary `json:"chat"`
}

func encodeMessageCreated(p realtime.MessageCreated) ([]byte, error) {
	return json.Marshal(wireMessageCreated{Type: p.Type, Message: toWireMessage(p.Message)})
}

func encodeChatAdded(p realtime.ChatAdded) ([]byte, error) {
	s := p.Chat
	w := wireSummary{ID: s.ID, Kind: s.Kind, Title: s.Title, Channel: s.Channel,
		MembersCount: s.MembersCount, UnreadCount: s.UnreadCount,
		ReadMessageID: s.ReadMessageID, UpdatedAt: apiTime(s.UpdatedAt)}
	if s.LastMessage != nil {
		m := toWireMessage(*s.LastMessage)
		w.LastMessage = &m
	}
	return json.Marshal(wireChatAdded{Type: p.Type, Chat: w})
}
