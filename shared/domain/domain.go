// Package domain holds the chat domain: users, chats, memberships and messages,
// the validation rules of the API contract, and the errors every layer translates.
//
// It imports nothing from Fiber, NATS, MySQL or Redis on purpose: every service
// and every storage adapter speaks these types, and none of them owns them.
package domain

import (
	"errors"
	"time"
)

// User is an account. Names are unique without regard to case.
type User struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// AvatarURL is where the user's picture is served (nil: none); the URL
	// changes with the picture, so it may be cached forever.
	AvatarURL *string `json:"avatar_url"`
}

// AvatarPath is the API path of an avatar by its key.
func AvatarPath(key string) string { return "/api/v1/avatars/" + key }

// Profile is a user as their profile shows them (API.md 1.1, "People").
// LastSeenAt and Online are what the viewer may see: nil and false when the
// user hides them (privacy) or blocked the viewer.
type Profile struct {
	User
	About      string     `json:"about"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	Online     bool       `json:"online"`
}

// Visibility is a privacy setting's value.
type Visibility string

const (
	Everyone Visibility = "everyone"
	Nobody   Visibility = "nobody"
)

// Privacy is a user's privacy settings: who sees when they were last seen,
// and who may start a direct chat with them.
type Privacy struct {
	LastSeen       Visibility `json:"last_seen"`
	DirectMessages Visibility `json:"direct_messages"`
}

// MaxAboutRunes is the longest "about" text of a profile.
const MaxAboutRunes = 500

// ChatKind distinguishes a two-person chat from a titled group.
type ChatKind string

const (
	KindDirect ChatKind = "direct"
	KindGroup  ChatKind = "group"
)

// Role is a member's role in a chat.
type Role string

const (
	RoleAdmin     Role = "admin"
	RoleModerator Role = "moderator"
	RoleMember    Role = "member"
	RoleMuted     Role = "muted"
)

// CanSend reports whether a member with this role may post messages.
func (r Role) CanSend() bool { return r != RoleMuted }

// CanDeleteOthers reports whether a member with this role may delete other
// members' messages in a group (API.md 1.1, "Chats and roles").
func (r Role) CanDeleteOthers() bool { return r == RoleAdmin || r == RoleModerator }

// CanManageMembers reports whether a member with this role may add others
// and change a group's title.
func (r Role) CanManageMembers() bool { return r == RoleAdmin }

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleModerator, RoleMember, RoleMuted:
		return true
	}
	return false
}

// CanRemove reports whether a member with role r may remove a member whose
// role is target (API.md 1.1): an admin anyone, a moderator members and
// muted members.
func (r Role) CanRemove(target Role) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleModerator:
		return target == RoleMember || target == RoleMuted
	}
	return false
}

// CanSetRole reports whether a member with role r may change someone's role
// from one role to another: admins make anything of anyone; a moderator
// switches members and muted members between the two; only admins make
// admins and moderators.
func (r Role) CanSetRole(from, to Role) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleModerator:
		plain := func(x Role) bool { return x == RoleMember || x == RoleMuted }
		return plain(from) && plain(to)
	}
	return false
}

// RoleOf is userID's role among members ("" when not a member).
func RoleOf(members []Member, userID int64) Role {
	for _, m := range members {
		if m.User.ID == userID {
			return m.Role
		}
	}
	return ""
}

// IsLastAdmin reports whether userID is the only admin of a chat that has
// other members: such an admin may neither leave nor lose the role (409).
func IsLastAdmin(members []Member, userID int64) bool {
	if RoleOf(members, userID) != RoleAdmin || len(members) < 2 {
		return false
	}
	for _, m := range members {
		if m.Role == RoleAdmin && m.User.ID != userID {
			return false
		}
	}
	return true
}

// Member is a user's membership in a chat.
type Member struct {
	User User `json:"user"`
	Role Role `json:"role"`
}

// Chat is a conversation. Title is empty for direct chats: their title is the
// other member's name and depends on who is looking (see DirectTitle).
type Chat struct {
	ID        int64     `json:"id"`
	Kind      ChatKind  `json:"kind"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	Members   []Member  `json:"members"`
	// Version counts the changes made to the chat (its creation included)
	// that were staged as log events; set on the chat a change hands to the
	// event it stages. Not part of any JSON: the envelope carries it.
	Version int64 `json:"-"`
}

// HasMember reports whether userID is one of members.
func HasMember(members []Member, userID int64) bool {
	for _, m := range members {
		if m.User.ID == userID {
			return true
		}
	}
	return false
}

// DirectTitle is the title of a direct chat as seen by viewer: the other member's name.
func DirectTitle(members []Member, viewer int64) string {
	for _, m := range members {
		if m.User.ID != viewer {
			return m.User.Name
		}
	}
	return ""
}

// Message is one chat message. Its ID is the sequence of its event in the log,
// so ids increase within every chat in the order messages were accepted.
type Message struct {
	ID        int64     `json:"id"`
	ChatID    int64     `json:"chat_id"`
	Author    User      `json:"author"`
	Text      string    `json:"text"`
	SentAt    time.Time `json:"sent_at"`
	ClientID  string    `json:"client_id"`
	ReplyToID *int64    `json:"reply_to_id"`
	// EditedAt is the time of the last edit; nil for a message never edited.
	EditedAt *time.Time `json:"edited_at"`
	// ReplyTo is the replied message as a reader sees it: resolved when
	// history is read, and as it was at sending in publications.
	ReplyTo *MessageRef `json:"reply_to"`
	// Forward names the original of a forwarded message (API.md's
	// forwarded_from); a forward of a forward keeps the first original.
	Forward *Forward `json:"forwarded_from"`
	// Deleted marks the tombstone of a message deleted for everyone (its
	// text is gone). History never shows one; a reply's quote of one has
	// an empty text.
	Deleted bool `json:"-"`
}

// MessageRefTextRunes is how much of a replied message's text a quote carries.
const MessageRefTextRunes = 200

// MessageRef is a quote of a message: API.md's MessageRef.
type MessageRef struct {
	ID     int64  `json:"id"`
	Author User   `json:"author"`
	Text   string `json:"text"`
}

// RefOf quotes m: the first MessageRefTextRunes code points of its text, and
// no text at all once it is deleted.
func RefOf(m Message) MessageRef {
	text := m.Text
	if m.Deleted {
		text = ""
	}
	if n := 0; len(text) > MessageRefTextRunes {
		for i := range text {
			if n == MessageRefTextRunes {
				text = text[:i]
				break
			}
			n++
		}
	}
	return MessageRef{ID: m.ID, Author: m.Author, Text: text}
}

// Forward is where a forwarded message comes from. ChatID is the source
// chat; a reader who is not a member of it sees null there (the API hides
// it per reader).
type Forward struct {
	MessageID int64     `json:"message_id"`
	ChatID    int64     `json:"chat_id"`
	Author    User      `json:"author"`
	SentAt    time.Time `json:"sent_at"`
}

// ForwardOf is the origin a forward of m carries: m's own origin when m is
// itself a forward, else m.
func ForwardOf(m Message) Forward {
	if m.Forward != nil {
		return *m.Forward
	}
	return Forward{MessageID: m.ID, ChatID: m.ChatID, Author: m.Author, SentAt: m.SentAt}
}

// Errors that cross layers. Storage adapters translate driver errors into these;
// the HTTP layer turns them into status codes; consumers into ack or dead-letter.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrForbidden   = errors.New("forbidden")
	ErrInvalid     = errors.New("invalid argument")
	ErrUnavailable = errors.New("unavailable")
)

// ChatSummary is a chat as it appears in a user's chat list. Title is already
// resolved for the viewer (the other member's name for a direct chat).
type ChatSummary struct {
	ID            int64     `json:"id"`
	Kind          ChatKind  `json:"kind"`
	Title         string    `json:"title"`
	Channel       string    `json:"channel"`
	MembersCount  int       `json:"members_count"`
	LastMessage   *Message  `json:"last_message"`
	UnreadCount   int       `json:"unread_count"`
	ReadMessageID int64     `json:"read_message_id"`
	UpdatedAt     time.Time `json:"updated_at"`
	// MutedUntil is reserved by API.md 1.1: always nil for now.
	MutedUntil *time.Time `json:"muted_until"`
}

// ChatChannel is the realtime channel of a chat (Centrifugo namespace "chat").
func ChatChannel(chatID int64) string { return "chat:" + itoa(chatID) }

// PersonalChannel is a user's own realtime channel (Centrifugo namespace "user").
func PersonalChannel(userID int64) string { return "user:" + itoa(userID) }
