package event

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

func golden(t *testing.T, name string, env Envelope) {
	t.Helper()
	got, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("the wire format of %s changed:\n got %s\nwant %s", name, got, want)
	}
	back, err := Decode(want)
	if err != nil || back.Type != env.Type || back.ChatID != env.ChatID || !back.At.Equal(env.At) {
		t.Fatalf("decode of the golden %s: %+v, %v", name, back, err)
	}
}

// The event JSON is the log's wire format: old events are read by new code
// and new events by old code. These golden files make any change visible.
func TestEventWireFormat(t *testing.T) {
	reply := int64(1040)
	alice := domain.User{ID: 7, Name: "alice"}
	bob := domain.User{ID: 8, Name: "bob"}
	chat := domain.Chat{ID: 42, Kind: domain.KindDirect, CreatedAt: at, Members: []domain.Member{
		{User: alice, Role: domain.RoleMember}, {User: bob, Role: domain.RoleMember}}}
	for name, tc := range map[string]struct {
		typ  Type
		data any
	}{
		"message_created":    {MessageCreated, MessageCreatedData{Author: alice, Text: "hi <b>", ClientID: "0b9c", ReplyToID: &reply}},
		"read_moved":         {ReadMoved, ReadMovedData{UserID: 8, MessageID: 1042}},
		"read_moved_counted": {ReadMoved, ReadMovedData{UserID: 8, MessageID: 1042, MembersCount: 5000}},
		"chat_created":       {ChatCreated, ChatCreatedData{Chat: chat}},
		"member_added":       {MemberAdded, MemberAddedData{Member: domain.Member{User: bob, Role: domain.RoleMember}, Chat: chat}},
		"member_removed":     {MemberRemoved, MemberRemovedData{UserID: 8, MembersCount: 1}},
		// A group's join: the count, not the member list.
		"member_added_group": {MemberAdded, NewMemberAddedData(domain.Member{User: bob, Role: domain.RoleMember},
			domain.Chat{ID: 42, Kind: domain.KindGroup, Title: "team", CreatedAt: at, Members: chat.Members})},
	} {
		t.Run(name, func(t *testing.T) {
			env, err := New(tc.typ, 42, 7, at, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, env)
		})
	}
}

func TestMessageFromEvent(t *testing.T) {
	env, _ := New(MessageCreated, 42, 7, at, MessageCreatedData{Author: domain.User{ID: 7, Name: "alice"}, Text: "hi", ClientID: "c"})
	m, err := Event{Seq: 1042, Envelope: env}.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != 1042 || m.ChatID != 42 || m.Author.Name != "alice" || !m.SentAt.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("message = %+v: id is the sequence, sent_at the envelope's time in ms", m)
	}
}

func TestDecodeRejectsWhatNoConsumerCanApply(t *testing.T) {
	for _, raw := range []string{
		"\x00 not json",
		`{"v":2,"type":"message.created","chat_id":1}`,
		`{"v":1,"chat_id":1}`,
		`{"v":1,"type":"message.created"}`,
	} {
		if _, err := Decode([]byte(raw)); err == nil {
			t.Errorf("Decode(%q) accepted", raw)
		}
	}
	// A type this code does not know is not an error: newer producers exist.
	if _, err := Decode([]byte(`{"v":1,"type":"message.pinned","chat_id":1,"data":{}}`)); err != nil {
		t.Errorf("unknown type rejected: %v", err)
	}
}

// A group's member.added leaves the member list out and counts it; a direct
// chat's keeps it (its title is the other member's name); an event from
// before the count is counted by its list.
func TestMemberAddedDataCount(t *testing.T) {
	ms := []domain.Member{{User: domain.User{ID: 1}}, {User: domain.User{ID: 2}}, {User: domain.User{ID: 3}}}
	g := NewMemberAddedData(ms[2], domain.Chat{Kind: domain.KindGroup, Members: ms})
	if len(g.Chat.Members) != 0 || g.Count() != 3 {
		t.Fatalf("group: %d members carried, count %d", len(g.Chat.Members), g.Count())
	}
	d := NewMemberAddedData(ms[1], domain.Chat{Kind: domain.KindDirect, Members: ms[:2]})
	if len(d.Chat.Members) != 2 || d.Count() != 2 {
		t.Fatalf("direct: %d members carried, count %d", len(d.Chat.Members), d.Count())
	}
	if old := (MemberAddedData{Chat: domain.Chat{Members: ms}}); old.Count() != 3 {
		t.Fatalf("an old event counts %d", old.Count())
	}
}
