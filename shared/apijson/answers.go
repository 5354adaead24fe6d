package apijson

import "github.com/logchat/shared/domain"

// The bodies of HTTP answers (API.md, "Accounts", "Chats", "Messages",
// "Realtime" and "Conventions"). A list is never null on the wire: callers
// pass an empty slice for an empty list.

// AuthResult answers POST /auth/register and /auth/login.
type AuthResult struct {
	User  User   `json:"user"`
	Token string `json:"token"`
}

// UserList answers GET /users.
type UserList struct {
	Users []User `json:"users"`
}

// Profile answers GET /users/{id}, PATCH /me and the avatar requests.
type Profile struct {
	User
	About      string `json:"about"`
	LastSeenAt *Time  `json:"last_seen_at"`
	Online     bool   `json:"online"`
}

// FromProfile converts a profile for the wire.
func FromProfile(p domain.Profile) Profile {
	out := Profile{User: p.User, About: p.About, Online: p.Online}
	if p.LastSeenAt != nil {
		t := Time(*p.LastSeenAt)
		out.LastSeenAt = &t
	}
	return out
}

// Privacy answers GET and PATCH /me/privacy; it carries no time, so the
// domain type is its wire form.
type Privacy = domain.Privacy

// ChatPage answers GET /chats. NextCursor is opaque to clients and null on
// the last page.
type ChatPage struct {
	Chats      []ChatSummary `json:"chats"`
	NextCursor *string       `json:"next_cursor"`
}

// MessagePage answers GET /chats/{id}/messages: ascending by id; HasMore says
// whether more messages exist beyond the page in its direction.
type MessagePage struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"has_more"`
}

// SearchPage answers GET /search/messages: newest first. NextCursor is
// opaque to clients and null on the last page.
type SearchPage struct {
	Messages   []Message `json:"messages"`
	NextCursor *string   `json:"next_cursor"`
}

// SendResult answers POST /chats/{id}/messages (202), and a retry of it with
// the same client_id alike.
type SendResult struct {
	Message Message `json:"message"`
}

// RealtimeToken answers GET /realtime/token.
type RealtimeToken struct {
	URL             string `json:"url"`
	Token           string `json:"token"`
	ExpiresAt       Time   `json:"expires_at"`
	PersonalChannel string `json:"personal_channel"`
}

// SubscriptionToken answers POST /realtime/subscription-token.
type SubscriptionToken struct {
	Token string `json:"token"`
}

// ErrorBody is the body of every non-2xx answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is what went wrong: one of API.md's codes and a sentence for
// people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
