package server_test

import (
	"net/http"
	"testing"

	"github.com/logchat/shared/event"
)

// A read's event carries the chat's member count as the chat list cache
// knows it, so that the notifier can keep read receipts of big groups off
// the chat channel (notifier/relay.ReadReceiptsMaxMembers).
func TestReadEventCarriesTheMemberCount(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	g := h.group(alice, "three", bob, carol)
	m := h.send(alice, g.ID, "hello", "rr1")
	eventually(t, "the group in bob's cached list", func() bool {
		var l listJSON
		h.must(http.StatusOK, "GET", "/api/v1/chats", bob.token, nil, &l)
		return len(l.Chats) == 1 && l.Chats[0].LastMessage != nil && l.Chats[0].LastMessage.ID == m.ID
	})
	h.must(http.StatusNoContent, "POST", chatPath(g.ID, "/read"), bob.token, map[string]any{"message_id": m.ID}, nil)
	ev := h.lastEvent()
	d, err := event.Payload[event.ReadMovedData](ev.Envelope)
	if err != nil || ev.Type != event.ReadMoved || d.UserID != bob.ID || d.MessageID != m.ID || d.MembersCount != 3 {
		t.Fatalf("event %s %+v %v; want bob's read with members_count 3", ev.Type, d, err)
	}
}
