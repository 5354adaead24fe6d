// Package realtime defines the publications clients receive on Centrifugo
// channels (API.md, "Realtime"). The notifier writes them; clients and tests
// read them. Every publication is a JSON object with a "type".
package realtime

import "github.com/logchat/shared/domain"

// Publication types.
const (
	TypeMessageCreated = "message.created"
	TypeReadUpdated    = "read.updated"
	TypeChatAdded      = "chat.added"
	TypeChatRemoved    = "chat.removed"
)

// MessageCreated goes to the chat's channel.
type MessageCreated struct {
	Type    string         `json:"type"`
	Message domain.Message `json:"message"`
}

// ReadUpdated goes to the chat's channel and to the reader's personal channel.
type ReadUpdated struct {
	Type      string `json:"type"`
	ChatID    int64  `json:"chat_id"`
	UserID    int64  `json:"user_id"`
	MessageID int64  `json:"message_id"`
}

// ChatAdded goes to the personal channel of a user who created or joined a chat.
type ChatAdded struct {
	Type string             `json:"type"`
	Chat domain.ChatSummary `json:"chat"`
}

// ChatRemoved goes to the personal channel of a user who left or was removed.
type ChatRemoved struct {
	Type   string `json:"type"`
	ChatID int64  `json:"chat_id"`
}
