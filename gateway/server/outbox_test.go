package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"testing"

	"github.com/logchat/shared/event"
)

// Chat creation and membership changes are consistent between MySQL and the
// log: the change and its event are committed together (the outbox), and the
// event reaches the log after the commit.

// The transaction fails after the event was staged (a trigger refuses the
// outbox row, as a failing commit would): the answer is an error, MySQL has
// no trace of the change and the log gets no event.
func TestChangeWhoseTransactionFailsLeavesNoEvent(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	g := h.group(alice, "before", bob)
	raw, err := sql.Open("mysql", h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TRIGGER outbox_refuses AFTER INSERT ON outbox FOR EACH ROW
		SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'outbox refused'`); err != nil {
		t.Fatal(err)
	}
	before := h.logCount()
	h.fails(http.StatusServiceUnavailable, "unavailable", "POST", "/api/v1/chats", alice.token,
		map[string]any{"title": "doomed", "member_ids": []int64{bob.ID}})
	h.fails(http.StatusServiceUnavailable, "unavailable", "POST", "/api/v1/chats", alice.token,
		map[string]any{"member_ids": []int64{carol.ID}})
	h.fails(http.StatusServiceUnavailable, "unavailable", "POST", chatPath(g.ID, "/members"), alice.token,
		map[string]any{"user_id": carol.ID})
	h.fails(http.StatusServiceUnavailable, "unavailable", "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", bob.ID)), alice.token, nil)

	var chats, members int
	raw.QueryRow("SELECT COUNT(*) FROM chats").Scan(&chats)
	raw.QueryRow("SELECT COUNT(*) FROM chat_members").Scan(&members)
	if chats != 1 || members != 2 {
		t.Fatalf("%d chats and %d members after the failures, want the first group and its 2 members", chats, members)
	}

	// The next change goes through, and only its event follows: nothing of
	// the failed ones was waiting to be published.
	if _, err := raw.Exec("DROP TRIGGER outbox_refuses"); err != nil {
		t.Fatal(err)
	}
	after := h.group(alice, "after", carol)
	if h.logCount() != before+1 {
		t.Fatalf("the log grew by %d events, want the one of the last chat", h.logCount()-before)
	}
	if ev := h.lastEvent(); ev.Type != event.ChatCreated || ev.ChatID != after.ID {
		t.Fatalf("last event %s of chat %d, want chat.created of %d", ev.Type, ev.ChatID, after.ID)
	}
}

// The log is down when the change commits: the answer is still a success,
// MySQL has the change, and once the log is back each event is in it once,
// in order.
func TestChangeWhoseAppendFailsIsPublishedLater(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	h.nats.Shutdown()

	var g chatJSON
	h.must(http.StatusCreated, "POST", "/api/v1/chats", alice.token, map[string]any{"title": "offline", "member_ids": []int64{bob.ID}}, &g)
	h.must(http.StatusOK, "POST", chatPath(g.ID, "/members"), alice.token, map[string]any{"user_id": carol.ID}, nil)
	h.must(http.StatusNoContent, "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", bob.ID)), alice.token, nil, nil)
	chat, err := h.store.Chat(context.Background(), g.ID)
	if err != nil || len(chat.Members) != 2 {
		t.Fatalf("chat in MySQL: %+v, %v; want alice and carol", chat, err)
	}
	h.fails(http.StatusNotFound, "not_found", "GET", chatPath(g.ID, ""), bob.token, nil)

	h.nats.Restart(t)
	eventually(t, "the three events in the log", func() bool { return len(h.chatEvents(g.ID)) >= 3 })
	eventually(t, "the outbox empty", func() bool {
		pending, err := h.store.OutboxPending(context.Background())
		return err == nil && !pending
	})
	evs := h.chatEvents(g.ID)
	var types []event.Type
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types) != fmt.Sprint([]event.Type{event.ChatCreated, event.MemberAdded, event.MemberRemoved}) {
		t.Fatalf("events of the chat: %v, want each once, in order", types)
	}
}
