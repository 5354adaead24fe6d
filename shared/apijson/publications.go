package apijson

import (
	"time"

	"github.com/logchat/shared/domain"
)

// Publications are what clients receive on Centrifugo channels (API.md,
// "Realtime"): JSON objects with a "type". The notifier builds them with the
// constructors below, which set Type, so a publication's type and body cannot
// disagree.

// Publication types.
const (
	TypeMessageCreated = "message.created"
	TypeReadUpdated    = "read.updated"
	TypeChatAdded      = "chat.added"
	TypeChatRemoved    = "chat.removed"
	TypeMemberAdded    = "member.added"
	TypeMemberRemoved  = "member.removed"
	TypeMessageEdited  = "message.edited"
	TypeMessageDeleted = "message.deleted"
	TypeHistoryCleared = "history.cleared"
	TypeChatUpdated    = "chat.updated"
	TypeMemberUpdated  = "member.updated"
	// Ephemeral (API.md 1.1, "Typing and presence"): published by the
	// gateway on chat channels without history, never in the log or in a
	// user's update stream.
	TypeTyping          = "typing"
	TypePresenceUpdated = "presence.updated"
)

// MessageCreated goes to the chat's channel.
type MessageCreated struct {
	Type    string  `json:"type"`
	Message Message `json:"message"`
}

// NewMessageCreated is the publication of a newly accepted message.
func NewMessageCreated(m domain.Message) MessageCreated {
	return MessageCreated{Type: TypeMessageCreated, Message: FromMessage(m)}
}

// ReadUpdated goes to the chat's channel and to the reader's personal channel.
type ReadUpdated struct {
	Type      string `json:"type"`
	ChatID    int64  `json:"chat_id"`
	UserID    int64  `json:"user_id"`
	MessageID int64  `json:"message_id"`
}

// NewReadUpdated is the publication of a user's new read position in a chat.
func NewReadUpdated(chatID, userID, messageID int64) ReadUpdated {
	return ReadUpdated{Type: TypeReadUpdated, ChatID: chatID, UserID: userID, MessageID: messageID}
}

// ChatAdded goes to the personal channel of a user who created or joined a chat.
type ChatAdded struct {
	Type string      `json:"type"`
	Chat ChatSummary `json:"chat"`
}

// NewChatAdded is the publication of a chat the viewer now belongs to, as the
// viewer's chat list shows it.
func NewChatAdded(s domain.ChatSummary) ChatAdded {
	return ChatAdded{Type: TypeChatAdded, Chat: FromSummary(s)}
}

// ChatRemoved goes to the personal channel of a user who left or was removed.
type ChatRemoved struct {
	Type   string `json:"type"`
	ChatID int64  `json:"chat_id"`
}

// NewChatRemoved is the publication of a chat the viewer no longer belongs to.
func NewChatRemoved(chatID int64) ChatRemoved {
	return ChatRemoved{Type: TypeChatRemoved, ChatID: chatID}
}

// MemberAdded goes to the personal channels of a chat's other members when
// someone joins it (API.md, "Per-user updates").
type MemberAdded struct {
	Type         string `json:"type"`
	ChatID       int64  `json:"chat_id"`
	Member       Member `json:"member"`
	MembersCount int    `json:"members_count"`
}

// NewMemberAdded is the publication of a new member, with the chat's member
// count afterwards.
func NewMemberAdded(chatID int64, m domain.Member, membersCount int) MemberAdded {
	return MemberAdded{Type: TypeMemberAdded, ChatID: chatID, Member: m, MembersCount: membersCount}
}

// MemberRemoved goes to the personal channels of a chat's remaining members
// when someone leaves it or is removed.
type MemberRemoved struct {
	Type         string `json:"type"`
	ChatID       int64  `json:"chat_id"`
	UserID       int64  `json:"user_id"`
	MembersCount int    `json:"members_count"`
}

// NewMemberRemoved is the publication of a member gone, with the chat's
// member count afterwards.
func NewMemberRemoved(chatID, userID int64, membersCount int) MemberRemoved {
	return MemberRemoved{Type: TypeMemberRemoved, ChatID: chatID, UserID: userID, MembersCount: membersCount}
}

// MessageEdited goes to the chat's channel: the message after an edit.
type MessageEdited struct {
	Type    string  `json:"type"`
	Message Message `json:"message"`
}

// NewMessageEdited is the publication of an edited message.
func NewMessageEdited(m domain.Message) MessageEdited {
	return MessageEdited{Type: TypeMessageEdited, Message: FromMessage(m)}
}

// MessageDeleted goes to the chat's channel when a message is deleted for
// everyone, and to a user's personal channel when they delete it for
// themselves (their other devices hide it too).
type MessageDeleted struct {
	Type      string `json:"type"`
	ChatID    int64  `json:"chat_id"`
	MessageID int64  `json:"message_id"`
}

// NewMessageDeleted is the publication of a message gone from a view.
func NewMessageDeleted(chatID, messageID int64) MessageDeleted {
	return MessageDeleted{Type: TypeMessageDeleted, ChatID: chatID, MessageID: messageID}
}

// HistoryCleared goes to a user's personal channel when they clear their
// history of a chat: every message up to ThroughID is gone from their view.
type HistoryCleared struct {
	Type      string `json:"type"`
	ChatID    int64  `json:"chat_id"`
	ThroughID int64  `json:"through_id"`
}

// NewHistoryCleared is the publication of a cleared history.
func NewHistoryCleared(chatID, throughID int64) HistoryCleared {
	return HistoryCleared{Type: TypeHistoryCleared, ChatID: chatID, ThroughID: throughID}
}

// ChatUpdated goes to the chat's channel when a group is renamed. The
// summary is the chat's own: no last message, unread count or read position
// (those are each member's), which clients keep from their list.
type ChatUpdated struct {
	Type string      `json:"type"`
	Chat ChatSummary `json:"chat"`
}

// NewChatUpdated is the publication of a chat's new title.
func NewChatUpdated(s domain.ChatSummary) ChatUpdated {
	return ChatUpdated{Type: TypeChatUpdated, Chat: FromSummary(s)}
}

// MemberUpdated goes to the chat's channel when a member's role or name changes.
type MemberUpdated struct {
	Type   string      `json:"type"`
	ChatID int64       `json:"chat_id"`
	User   User        `json:"user"`
	Role   domain.Role `json:"role"`
}

// NewMemberUpdated is the publication of a member as they are now.
func NewMemberUpdated(chatID int64, m domain.Member) MemberUpdated {
	return MemberUpdated{Type: TypeMemberUpdated, ChatID: chatID, User: m.User, Role: m.Role}
}

// Typing goes to the chat's channel while a member types (at most every 3 s
// per member and chat); it is not kept in the channel's history.
type Typing struct {
	Type   string `json:"type"`
	ChatID int64  `json:"chat_id"`
	User   User   `json:"user"`
}

// NewTyping is the publication of a member typing in a chat.
func NewTyping(chatID int64, u domain.User) Typing {
	return Typing{Type: TypeTyping, ChatID: chatID, User: u}
}

// PresenceUpdated goes to the channel of each direct chat of a user whose
// presence changed, for the partner: online, and the time the user's last
// connection closed (null when never, or when the partner may not see it).
type PresenceUpdated struct {
	Type       string `json:"type"`
	UserID     int64  `json:"user_id"`
	Online     bool   `json:"online"`
	LastSeenAt *Time  `json:"last_seen_at"`
}

// NewPresenceUpdated is the publication of a user's presence as the partner
// may see it.
func NewPresenceUpdated(userID int64, online bool, lastSeenAt *time.Time) PresenceUpdated {
	p := PresenceUpdated{Type: TypePresenceUpdated, UserID: userID, Online: online}
	if lastSeenAt != nil {
		t := Time(*lastSeenAt)
		p.LastSeenAt = &t
	}
	return p
}
