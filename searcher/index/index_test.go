package index

import (
	"slices"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// Op turns each message event into the index change it makes, and nothing
// else into any.
func TestOp(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	alice := domain.User{ID: 7, Name: "alice"}
	ev := func(typ event.Type, seq uint64, data any) event.Event {
		env, err := event.New(typ, 42, alice.ID, at, data)
		if err != nil {
			t.Fatal(err)
		}
		return event.Event{Envelope: env, Seq: seq}
	}
	created := ev(event.MessageCreated, 100, event.MessageCreatedData{Author: alice, Text: "Квазары, hello!", ClientID: "c1"})
	op, ok, err := Op(created)
	if err != nil || !ok || op.ChatID != 42 || op.MessageID != 100 || op.Version != 100 || op.Delete ||
		!slices.Equal(op.Terms, []string{"квазары", "hello"}) {
		t.Fatalf("created: %+v %v %v", op, ok, err)
	}
	if _, _, err := Op(ev(event.MessageCreated, 101, event.MessageCreatedData{Author: alice, Text: "", ClientID: "c2"})); err == nil {
		t.Fatal("an empty message must be refused for good")
	}
	read := ev(event.ReadMoved, 102, event.ReadMovedData{UserID: 7, MessageID: 100})
	if _, ok, err := Op(read); ok || err != nil {
		t.Fatalf("a read moved the index: %v %v", ok, err)
	}
	unknown := created
	unknown.Type = "message.reacted"
	if _, ok, err := Op(unknown); ok || err != nil {
		t.Fatalf("an unknown type: %v %v", ok, err)
	}
}
