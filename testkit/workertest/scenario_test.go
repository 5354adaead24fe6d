package workertest

import (
	"strings"
	"testing"

	"github.com/logchat/shared/event"
)

// The scenario is what every worker's suite runs on: it must hold every
// event type the system has, and say what it means to.
func TestScenarioHoldsEveryEventTypeAndItsPoisonIsMarked(t *testing.T) {
	sc := NewScenario()
	types := map[event.Type]int{}
	messages := map[int64]map[uint64]bool{} // chat -> message sequences
	poison := 0
	for i, a := range sc.Appends {
		seq := uint64(i + 1)
		if a.Poison {
			poison++
			continue
		}
		types[a.Envelope.Type]++
		switch a.Envelope.Type {
		case event.MessageCreated:
			if messages[a.Envelope.ChatID] == nil {
				messages[a.Envelope.ChatID] = map[uint64]bool{}
			}
			messages[a.Envelope.ChatID][seq] = true
		case event.ReadMoved:
			d, err := event.Payload[event.ReadMovedData](a.Envelope)
			if err != nil || !messages[a.Envelope.ChatID][uint64(d.MessageID)] {
				t.Errorf("read %d of chat %d points at %d, no earlier message of the chat (%v)", seq, a.Envelope.ChatID, d.MessageID, err)
			}
		}
		if strings.HasPrefix(a.MsgID, "m:") != (a.Envelope.Type == event.MessageCreated && !strings.HasPrefix(a.MsgID, "late-retry-")) {
			t.Errorf("append %d (%s) has Nats-Msg-Id %q", seq, a.Envelope.Type, a.MsgID)
		}
	}
	for _, typ := range []event.Type{event.MessageCreated, event.ReadMoved, event.ChatCreated, event.MemberAdded, event.MemberRemoved,
		event.MessageEdited, event.MessageDeleted, event.MessageHidden, event.ChatUpdated, event.MemberUpdated, "message.pinned"} {
		if types[typ] == 0 {
			t.Errorf("no %s event", typ)
		}
	}
	if poison != 4 {
		t.Errorf("%d poison appends, want 4 (an invalid message, an edit to an empty text, a payload that is no object, bytes that are no event)", poison)
	}
	if d := Diff(map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "3", "c": "4"}); d != "  missing a = 1\n  b:\n    want 2\n    got  3\n  extra   c = 4\n" {
		t.Errorf("Diff:\n%s", d)
	}
}
