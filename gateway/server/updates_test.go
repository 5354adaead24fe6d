package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type updatesJSON struct {
	Updates []json.RawMessage `json:"updates"`
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
}

type updateHead struct {
	Cursor  string      `json:"cursor"`
	Type    string      `json:"type"`
	ChatID  int64       `json:"chat_id"`
	Message messageJSON `json:"message"`
	Chat    summaryJSON `json:"chat"`
	// message.deleted, history.cleared
	MessageID int64 `json:"message_id"`
	ThroughID int64 `json:"through_id"`
}

// GET /updates (API.md, "Per-user updates"): a cursor taken first, then
// everything after it in order, paged, the same objects as the personal
// channel carries; 410 for a cursor of a stream the server does not have,
// 400 for one it never gave out.
func TestUpdatesAfterACursor(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	h.startNotifier()
	alice, bob := h.register("alice"), h.register("bob")

	var start updatesJSON
	h.must(http.StatusOK, "GET", "/api/v1/updates", alice.token, nil, &start)
	if len(start.Updates) != 0 || start.HasMore || !strings.HasPrefix(start.Cursor, "0.") {
		t.Fatalf("a new user's first answer: %+v", start)
	}

	ab := h.direct(alice, bob)
	sent := []int64{h.send(bob, ab.ID, "one", "u1").ID, h.send(bob, ab.ID, "two", "u2").ID, h.send(alice, ab.ID, "three", "u3").ID}

	var all []updateHead
	eventually(t, "alice's four updates", func() bool {
		var page updatesJSON
		h.must(http.StatusOK, "GET", "/api/v1/updates?after="+start.Cursor+"&limit=100", alice.token, nil, &page)
		all = all[:0]
		for _, raw := range page.Updates {
			var u updateHead
			if err := json.Unmarshal(raw, &u); err != nil {
				t.Fatal(err)
			}
			all = append(all, u)
		}
		return len(all) >= 4
	})
	if all[0].Type != "chat.added" || all[0].Chat.ID != ab.ID {
		t.Fatalf("first update %+v, want chat.added of %d", all[0], ab.ID)
	}
	stream := strings.TrimPrefix(start.Cursor, "0.")
	for i, u := range all {
		if u.Cursor != fmt.Sprintf("%d.%s", i+1, stream) {
			t.Fatalf("update %d has cursor %s", i, u.Cursor)
		}
		if i > 0 && (u.Type != "message.created" || u.Message.ID != sent[i-1]) {
			t.Fatalf("update %d = %+v, want message %d", i, u, sent[i-1])
		}
	}
	if len(all) != 4 {
		t.Fatalf("%d updates, want 4 (alice's own reads are not updates: sending moves them without a read event)", len(all))
	}

	// Paging: one at a time, each page's cursor the last update's.
	cur, n := start.Cursor, 0
	for {
		var page updatesJSON
		h.must(http.StatusOK, "GET", "/api/v1/updates?limit=1&after="+cur, alice.token, nil, &page)
		if len(page.Updates) == 0 {
			if page.HasMore || page.Cursor != cur {
				t.Fatalf("an empty page: %+v after %s", page, cur)
			}
			break
		}
		n++
		var u updateHead
		_ = json.Unmarshal(page.Updates[0], &u)
		if u.Cursor != page.Cursor || page.HasMore != (n < 4) {
			t.Fatalf("page %d: %+v (update cursor %s)", n, page, u.Cursor)
		}
		cur = page.Cursor
	}
	if n != 4 {
		t.Fatalf("paged through %d updates, want 4", n)
	}

	// Bob's stream is his own: alice's cursor means nothing there.
	h.fails(http.StatusGone, "gone", "GET", "/api/v1/updates?after="+start.Cursor, bob.token, nil)
	h.fails(http.StatusGone, "gone", "GET", "/api/v1/updates?after=0.zzzzzzzz", alice.token, nil)
	for _, bad := range []string{"x", "1", "-1." + stream, "1.AB", "99." + stream} {
		h.fails(http.StatusBadRequest, "invalid_argument", "GET", "/api/v1/updates?after="+bad, alice.token, nil)
	}
	for _, bad := range []string{"0", "1001", "x"} {
		h.fails(http.StatusBadRequest, "invalid_argument", "GET", "/api/v1/updates?limit="+bad, alice.token, nil)
	}
	h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/updates", "", nil)
}
