package apijson

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	segmentjson "github.com/segmentio/encoding/json"

	"github.com/logchat/shared/domain"
)

// go test ./shared/apijson -update rewrites testdata/*.json from examples().
// A diff there is a change of the wire format, which API.md calls breaking:
// review it, and update the web client (web/src/api/types.ts) with it.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the examples")

// examples are fixed values of every wire object and publication, named after
// their golden file. Every field holds a value that is not its zero value
// where the contract allows it, so a field that is renamed or stops being
// encoded changes the file. The web client's wire test maps these same names
// to its own types.
func examples() map[string]any {
	at := func(ms int) time.Time { return time.Date(2026, 11, 27, 10, 0, 0, ms*1_000_000, time.UTC) }
	avatar := "/api/v1/avatars/3q2-7wAAAAAbCdEfGhIjKlMnOpQrStUv"
	alice := domain.User{ID: 7, Name: "alice", AvatarURL: &avatar}
	bob := domain.User{ID: 8, Name: "bob"}
	reply := int64(1041)
	// sent_at with a trailing zero in its milliseconds: the API keeps all three digits.
	edited := at(450)
	msg := domain.Message{ID: 1042, ChatID: 42, Author: alice, Text: "hi <b>bob</b> & 👋",
		SentAt: at(120), ClientID: "0b9c6f0e-7d2a-4a57-9a1e-2f1d3c4b5a69", ReplyToID: &reply, EditedAt: &edited,
		ReplyTo: &domain.MessageRef{ID: 1041, Author: bob, Text: "hello"},
		Forward: &domain.Forward{MessageID: 977, ChatID: 40, Author: bob, SentAt: at(7)}}
	first := domain.Message{ID: 1041, ChatID: 42, Author: bob, Text: "hello",
		SentAt: at(5), ClientID: "c1", ReplyToID: nil}
	summary := domain.ChatSummary{ID: 42, Kind: domain.KindGroup, Title: "Weekend", Channel: "chat:42",
		MembersCount: 2, LastMessage: &msg, UnreadCount: 3, ReadMessageID: 1039, UpdatedAt: at(120)}
	direct := domain.ChatSummary{ID: 43, Kind: domain.KindDirect, Title: "bob", Channel: "chat:43",
		MembersCount: 2, UpdatedAt: at(0)}
	cursor := "eyJzIjoiYyIsImMiOiIxNzY0MjM3NjAwMTIwIn0"

	return map[string]any{
		"user":         alice,
		"message":      FromMessage(msg),
		"chat_summary": FromSummary(summary),
		"chat": Chat{ChatSummary: FromSummary(summary), CreatedAt: Time(at(1)), Members: []Member{
			{User: alice, Role: domain.RoleAdmin}, {User: bob, Role: domain.RoleMember}}},
		"auth_result":        AuthResult{User: alice, Token: "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"},
		"user_list":          UserList{Users: []User{alice, {ID: 11, Name: "alina"}}},
		"chat_page":          ChatPage{Chats: []ChatSummary{FromSummary(summary), FromSummary(direct)}, NextCursor: &cursor},
		"message_page":       MessagePage{Messages: FromMessages([]domain.Message{first, msg}), HasMore: true},
		"send_result":        SendResult{Message: FromMessage(msg)},
		"search_page":        SearchPage{Messages: FromMessages([]domain.Message{msg, first}), NextCursor: &cursor},
		"realtime_token":     RealtimeToken{URL: "ws://127.0.0.1:8000/connection/websocket", Token: "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", ExpiresAt: Time(at(999)), PersonalChannel: "user:7"},
		"subscription_token": SubscriptionToken{Token: "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"},
		"error":              ErrorBody{Error: ErrorDetail{Code: "not_found", Message: "no such chat"}},

		"publication_message_created": NewMessageCreated(msg),
		"publication_read_updated":    NewReadUpdated(42, 8, 1042),
		"publication_chat_added":      NewChatAdded(direct),
		"publication_chat_removed":    NewChatRemoved(42),
		"publication_member_added":    NewMemberAdded(42, domain.Member{User: bob, Role: domain.RoleMember}, 3),
		"publication_member_removed":  NewMemberRemoved(42, 8, 2),
		"publication_message_edited":  NewMessageEdited(msg),
		"publication_message_deleted": NewMessageDeleted(42, 1041),
		"publication_history_cleared": NewHistoryCleared(42, 1042),
		"profile":                     FromProfile(domain.Profile{User: alice, About: "likes 🚲 and <b>tags</b>", LastSeenAt: &edited, Online: true}),
		"privacy":                     Privacy{LastSeen: domain.Nobody, DirectMessages: domain.Everyone},
		"publication_chat_updated": NewChatUpdated(domain.ChatSummary{ID: 42, Kind: domain.KindGroup, Title: "Weekend plans",
			Channel: "chat:42", MembersCount: 3, UpdatedAt: at(1)}),
		"publication_member_updated":   NewMemberUpdated(42, domain.Member{User: bob, Role: domain.RoleModerator}),
		"publication_typing":           NewTyping(43, alice),
		"publication_presence_updated": NewPresenceUpdated(7, false, &edited),
	}
}

// The wire format of every object is its golden file, byte for byte, with
// both JSON encoders in use: the gateway answers with segmentio's, the
// notifier publishes with encoding/json's.
func TestGoldenFiles(t *testing.T) {
	for name, v := range examples() {
		t.Run(name, func(t *testing.T) {
			std, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			seg, err := segmentjson.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(std, seg) {
				t.Fatalf("the gateway's encoder (segmentio) and the notifier's (encoding/json) disagree:\n%s\n%s", seg, std)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, std, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')

			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./shared/apijson -update writes it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("the wire format of %s changed (a breaking change of API.md).\n got %s\nwant %s\n"+
					"If it is intended: go test ./shared/apijson -update, and change web/src/api/types.ts to match.",
					name, pretty.Bytes(), want)
			}

			// What is written reads back to the same value, so Go clients
			// (tests, the benchmark) can decode answers with these types.
			back := reflect.New(reflect.TypeOf(v))
			if err := json.Unmarshal(want, back.Interface()); err != nil {
				t.Fatalf("decode %s: %v", path, err)
			}
			again, err := json.Marshal(back.Elem().Interface())
			if err != nil || !bytes.Equal(again, std) {
				t.Fatalf("round trip of %s:\n got %s %v\nwant %s", path, again, err, std)
			}
		})
	}
}

// No golden file outlives its example: the web client's test reads every
// file in testdata/, and a stale one would check a shape nobody sends.
func TestNoStrayGoldenFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	ex := examples()
	var stray []string
	for _, f := range files {
		if _, ok := ex[strings.TrimSuffix(filepath.Base(f), ".json")]; !ok {
			stray = append(stray, f)
		}
	}
	if len(files) != len(ex) || len(stray) > 0 {
		slices.Sort(stray)
		t.Fatalf("%d golden files for %d examples; without an example: %v", len(files), len(ex), stray)
	}
}
