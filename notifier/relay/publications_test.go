package relay

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

var (
	alice = domain.User{ID: 7, Name: "alice"}
	bob   = domain.User{ID: 8, Name: "bob"}
	carol = domain.User{ID: 9, Name: "carol"}
	t0    = time.Date(2026, 11, 27, 10, 0, 0, 120_000_000, time.UTC)
)

func mustEvent(t *testing.T, seq uint64, typ event.Type, chat int64, data any) event.Event {
	t.Helper()
	env, err := event.New(typ, chat, alice.ID, t0, data)
	if err != nil {
		t.Fatal(err)
	}
	return event.Event{Seq: seq, Envelope: env}
}

type golden struct {
	channel string
	json    string
}

// The wire format of every publication, byte for byte: a change here is a
// change of the client contract (API.md, "Realtime").
func TestPublicationsWireFormat(t *testing.T) {
	reply := int64(1040)
	direct := domain.Chat{ID: 42, Kind: domain.KindDirect, CreatedAt: t0.Add(-time.Hour),
		Members: []domain.Member{{User: alice, Role: domain.RoleMember}, {User: bob, Role: domain.RoleMember}}}
	group := domain.Chat{ID: 43, Kind: domain.KindGroup, Title: "Team", CreatedAt: t0.Add(-time.Hour).Truncate(time.Second),
		Members: []domain.Member{{User: alice, Role: domain.RoleAdmin}, {User: bob, Role: domain.RoleMember}, {User: carol, Role: domain.RoleMember}}}

	tests := []struct {
		name string
		ev   event.Event
		want []golden
	}{
		{"message.created", mustEvent(t, 1042, event.MessageCreated, 42, event.MessageCreatedData{Author: alice, Text: "hi <b>", ClientID: "c-1", ReplyToID: &reply}),
			[]golden{{"chat:42", `{"type":"message.created","message":{"id":1042,"chat_id":42,"author":{"id":7,"name":"alice","avatar_url":null},"text":"hi \u003cb\u003e","sent_at":"2026-11-27T10:00:00.120Z","client_id":"c-1","reply_to_id":1040,"edited_at":null,"reply_to":null,"forwarded_from":null}}`}}},
		{"message.created without reply", mustEvent(t, 5, event.MessageCreated, 42, event.MessageCreatedData{Author: bob, Text: "yo", ClientID: "c-2"}),
			[]golden{{"chat:42", `{"type":"message.created","message":{"id":5,"chat_id":42,"author":{"id":8,"name":"bob","avatar_url":null},"text":"yo","sent_at":"2026-11-27T10:00:00.120Z","client_id":"c-2","reply_to_id":null,"edited_at":null,"reply_to":null,"forwarded_from":null}}`}}},
		{"read.moved", mustEvent(t, 1050, event.ReadMoved, 42, event.ReadMovedData{UserID: 8, MessageID: 1042}),
			[]golden{
				{"chat:42", `{"type":"read.updated","chat_id":42,"user_id":8,"message_id":1042}`},
				{"user:8", `{"type":"read.updated","chat_id":42,"user_id":8,"message_id":1042}`},
			}},
		{"read.moved in a group at the receipts limit: on the chat channel too", mustEvent(t, 1051, event.ReadMoved, 42,
			event.ReadMovedData{UserID: 8, MessageID: 1042, MembersCount: ReadReceiptsMaxMembers}),
			[]golden{
				{"chat:42", `{"type":"read.updated","chat_id":42,"user_id":8,"message_id":1042}`},
				{"user:8", `{"type":"read.updated","chat_id":42,"user_id":8,"message_id":1042}`},
			}},
		{"read.moved in a bigger group: the reader's personal channel only", mustEvent(t, 1052, event.ReadMoved, 42,
			event.ReadMovedData{UserID: 8, MessageID: 1042, MembersCount: ReadReceiptsMaxMembers + 1}),
			[]golden{
				{"user:8", `{"type":"read.updated","chat_id":42,"user_id":8,"message_id":1042}`},
			}},
		{"chat.created direct: each sees the other's name", mustEvent(t, 60, event.ChatCreated, 42, event.ChatCreatedData{Chat: direct}),
			[]golden{
				{"user:7", `{"type":"chat.added","chat":{"id":42,"kind":"direct","title":"bob","channel":"chat:42","members_count":2,"last_message":null,"unread_count":0,"read_message_id":0,"updated_at":"2026-11-27T09:00:00.120Z","muted_until":null}}`},
				{"user:8", `{"type":"chat.added","chat":{"id":42,"kind":"direct","title":"alice","channel":"chat:42","members_count":2,"last_message":null,"unread_count":0,"read_message_id":0,"updated_at":"2026-11-27T09:00:00.120Z","muted_until":null}}`},
			}},
		{"chat.created group", mustEvent(t, 61, event.ChatCreated, 43, event.ChatCreatedData{Chat: group}),
			[]golden{
				{"user:7", `{"type":"chat.added","chat":{"id":43,"kind":"group","title":"Team","channel":"chat:43","members_count":3,"last_message":null,"unread_count":0,"read_message_id":0,"updated_at":"2026-11-27T09:00:00.000Z","muted_until":null}}`},
				{"user:8", `{"type":"chat.added","chat":{"id":43,"kind":"group","title":"Team","channel":"chat:43","members_count":3,"last_message":null,"unread_count":0,"read_message_id":0,"updated_at":"2026-11-27T09:00:00.000Z","muted_until":null}}`},
				{"user:9", `{"type":"chat.added","chat":{"id":43,"kind":"group","title":"Team","channel":"chat:43","members_count":3,"last_message":null,"unread_count":0,"read_message_id":0,"updated_at":"2026-11-27T09:00:00.000Z","muted_until":null}}`},
			}},
		{"member.added: only the newcomer", mustEvent(t, 62, event.MemberAdded, 43, event.MemberAddedData{Member: domain.Member{User: carol, Role: domain.RoleMember}, Chat: group}),
			[]golden{
				{"user:9", `{"type":"chat.added","chat":{"id":43,"kind":"group","title":"Team","channel":"chat:43","members_count":3,"last_message":null,"unread_count":0,"read_message_id":0,"updated_at":"2026-11-27T09:00:00.000Z","muted_until":null}}`},
			}},
		{"member.removed", mustEvent(t, 63, event.MemberRemoved, 43, event.MemberRemovedData{UserID: 9, MembersCount: 2}),
			[]golden{{"user:9", `{"type":"chat.removed","chat_id":43}`}}},
		{"message.created, a forward with a reply: the source chat left out", mustEvent(t, 1043, event.MessageCreated, 42, event.MessageCreatedData{
			Author: alice, Text: "fwd", ClientID: "c-3", ReplyToID: &reply,
			ReplyTo: &domain.MessageRef{ID: 1040, Author: bob, Text: "quoted"},
			Forward: &domain.Forward{MessageID: 7, ChatID: 40, Author: carol, SentAt: t0.Add(-time.Minute)}}),
			[]golden{{"chat:42", `{"type":"message.created","message":{"id":1043,"chat_id":42,"author":{"id":7,"name":"alice","avatar_url":null},"text":"fwd","sent_at":"2026-11-27T10:00:00.120Z","client_id":"c-3","reply_to_id":1040,"edited_at":null,"reply_to":{"id":1040,"author":{"id":8,"name":"bob","avatar_url":null},"text":"quoted"},"forwarded_from":{"message_id":7,"chat_id":null,"author":{"id":9,"name":"carol","avatar_url":null},"sent_at":"2026-11-27T09:59:00.120Z"}}}`}}},
		{"message.edited", mustEvent(t, 1100, event.MessageEdited, 42, event.MessageEditedData{Message: domain.Message{
			ID: 1042, ChatID: 42, Author: alice, Text: "hi, edited", SentAt: t0.Add(-time.Second), ClientID: "c-1"}}),
			[]golden{{"chat:42", `{"type":"message.edited","message":{"id":1042,"chat_id":42,"author":{"id":7,"name":"alice","avatar_url":null},"text":"hi, edited","sent_at":"2026-11-27T09:59:59.120Z","client_id":"c-1","reply_to_id":null,"edited_at":"2026-11-27T10:00:00.120Z","reply_to":null,"forwarded_from":null}}`}}},
		{"message.deleted", mustEvent(t, 1101, event.MessageDeleted, 42, event.MessageDeletedData{MessageID: 1042, AuthorID: 7, ClientID: "c-1", SentAt: t0}),
			[]golden{{"chat:42", `{"type":"message.deleted","chat_id":42,"message_id":1042}`}}},
		{"message.hidden: the hider's other devices", mustEvent(t, 1102, event.MessageHidden, 42, event.MessageHiddenData{UserID: 8, MessageID: 1042}),
			[]golden{{"user:8", `{"type":"message.deleted","chat_id":42,"message_id":1042}`}}},
		{"message.hidden through an id: a cleared history", mustEvent(t, 1103, event.MessageHidden, 42, event.MessageHiddenData{UserID: 8, ThroughID: 1042}),
			[]golden{{"user:8", `{"type":"history.cleared","chat_id":42,"through_id":1042}`}}},
		{"unknown type is skipped", mustEvent(t, 64, event.Type("message.pinned"), 43, map[string]any{"x": 1}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Publications(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d publications, want %d: %s", len(got), len(tc.want), dump(got))
			}
			for i, w := range tc.want {
				if got[i].Channel != w.channel || string(got[i].Data) != w.json {
					t.Errorf("publication %d:\n got %s %s\nwant %s %s", i, got[i].Channel, got[i].Data, w.channel, w.json)
				}
			}
		})
	}
}

func dump(ps []Publication) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Channel + " " + string(p.Data) + "\n")
	}
	return b.String()
}

func TestMalformedEventsAreErrors(t *testing.T) {
	bad := func(typ event.Type, data string) event.Event {
		ev := mustEvent(t, 9, typ, 42, map[string]any{})
		ev.Data = json.RawMessage(data)
		return ev
	}
	for _, ev := range []event.Event{
		bad(event.MessageCreated, `[1,2]`),
		bad(event.MessageCreated, `{"text":""}`), // no author, no text: a message that cannot exist
		bad(event.MessageCreated, `{"author":{"id":7,"name":"a"},"text":"","client_id":"c1"}`),
		bad(event.ReadMoved, `{"user_id":"seven"}`),
		bad(event.ReadMoved, `{"message_id":3}`),
		bad(event.ChatCreated, `{"chat":{"members":[{"user":{"name":"nobody"}}]}}`),
		bad(event.MemberAdded, `{"member":{},"chat":{}}`),
		bad(event.MemberRemoved, `{"members_count":1}`),
	} {
		if ps, err := Publications(ev); err == nil {
			t.Errorf("%s %s: want an error, got %s", ev.Type, ev.Data, dump(ps))
		}
	}
}

// A publication decodes into the shared type it claims to be, with the same values.
func TestMessageCreatedRoundTrips(t *testing.T) {
	ev := mustEvent(t, 77, event.MessageCreated, 42, event.MessageCreatedData{Author: alice, Text: "x", ClientID: "c"})
	ps, err := Publications(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type    string         `json:"type"`
		Message domain.Message `json:"message"`
	}
	if err := json.Unmarshal(ps[0].Data, &got); err != nil {
		t.Fatal(err)
	}
	want, _ := ev.Message()
	if !reflect.DeepEqual(got.Message, want) || got.Type != "message.created" {
		t.Fatalf("round trip: got %+v, want %+v", got.Message, want)
	}
}
