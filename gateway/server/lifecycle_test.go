package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/logchat/storage/chatcache"
)

// The message life-cycle (API.md 1.1, "Messages"): edits, deletes for
// everyone and for oneself, forwards, replies quoted as they are now, and
// clearing one's history — through the HTTP API, the log and the real
// projections (MySQL and Redis).

func (h *harness) history(c client, chatID int64) []messageJSON {
	h.t.Helper()
	var page historyJSON
	h.must(http.StatusOK, "GET", chatPath(chatID, "/messages?limit=200"), c.token, nil, &page)
	return page.Messages
}

func (h *harness) summary(c client, chatID int64) summaryJSON {
	h.t.Helper()
	var list listJSON
	h.must(http.StatusOK, "GET", "/api/v1/chats?limit=200", c.token, nil, &list)
	for _, s := range list.Chats {
		if s.ID == chatID {
			return s
		}
	}
	h.t.Fatalf("chat %d is not in %s's list", chatID, c.Name)
	return summaryJSON{}
}

func (h *harness) edit(c client, chatID, mid int64, text string) messageJSON {
	h.t.Helper()
	var out struct {
		Message messageJSON `json:"message"`
	}
	h.must(http.StatusOK, "PATCH", chatPath(chatID, fmt.Sprintf("/messages/%d", mid)), c.token, map[string]string{"text": text}, &out)
	return out.Message
}

func ids(msgs []messageJSON) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func find(msgs []messageJSON, id int64) *messageJSON {
	for i := range msgs {
		if msgs[i].ID == id {
			return &msgs[i]
		}
	}
	return nil
}

func TestEditMessage(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)
	first := h.send(alice, chat.ID, "first", "c1")
	// Edited at once, before the persister may have it: the log answers.
	got := h.edit(alice, chat.ID, first.ID, "  first, edited  ")
	if got.ID != first.ID || got.Text != "first, edited" || got.EditedAt == nil || got.SentAt != first.SentAt {
		t.Fatalf("edit answered %+v", got)
	}
	eventually(t, "the edit in history and both chat lists", func() bool {
		m := find(h.history(bob, chat.ID), first.ID)
		return m != nil && m.Text == "first, edited" && m.EditedAt != nil &&
			h.summary(bob, chat.ID).LastMessage.Text == "first, edited" && h.summary(alice, chat.ID).LastMessage.Text == "first, edited"
	})

	// The same text again is a no-op: 200, and no event.
	before := h.logCount()
	if again := h.edit(alice, chat.ID, first.ID, "first, edited"); again.Text != "first, edited" || *again.EditedAt != *got.EditedAt {
		t.Fatalf("no-op edit answered %+v", again)
	}
	if n := h.logCount(); n != before {
		t.Fatalf("a no-op edit appended %d events", n-before)
	}

	// Back and forth quickly: each edit is judged against the one before
	// it, so the last one wins, never a deduplicated earlier one.
	for _, text := range []string{"A", "B", "A", "B"} {
		if m := h.edit(alice, chat.ID, first.ID, text); m.Text != text {
			t.Fatalf("edit to %q answered %q", text, m.Text)
		}
	}
	eventually(t, "the last edit in history", func() bool { return find(h.history(bob, chat.ID), first.ID).Text == "B" })

	path := chatPath(chat.ID, fmt.Sprintf("/messages/%d", first.ID))
	h.fails(http.StatusForbidden, "forbidden", "PATCH", path, bob.token, map[string]string{"text": "not mine"})
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", path, alice.token, map[string]string{"text": "   "})
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", path, alice.token, map[string]string{})
	h.fails(http.StatusNotFound, "not_found", "PATCH", chatPath(chat.ID, "/messages/999999"), alice.token, map[string]string{"text": "x"})
	h.fails(http.StatusNotFound, "not_found", "PATCH", chatPath(chat.ID, "/messages/abc"), alice.token, map[string]string{"text": "x"})
	carol := h.register("carol")
	h.fails(http.StatusNotFound, "not_found", "PATCH", path, carol.token, map[string]string{"text": "x"})

	// A deleted message cannot be edited.
	h.must(http.StatusNoContent, "DELETE", path, alice.token, nil, nil)
	h.fails(http.StatusNotFound, "not_found", "PATCH", path, alice.token, map[string]string{"text": "back?"})
}

func TestDeleteMessage(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	chat := h.direct(alice, bob)
	m1 := h.send(alice, chat.ID, "one", "c1")
	m2 := h.send(bob, chat.ID, "two", "c2")
	m3 := h.send(alice, chat.ID, "three", "c3")
	// bob's own send moved his read position to m2: m3 is unread.
	eventually(t, "bob's unread count", func() bool { return h.summary(bob, chat.ID).UnreadCount == 1 })

	path := func(id int64) string { return chatPath(chat.ID, fmt.Sprintf("/messages/%d", id)) }
	// In a direct chat only the author deletes.
	h.fails(http.StatusForbidden, "forbidden", "DELETE", path(m3.ID), bob.token, nil)
	h.fails(http.StatusNotFound, "not_found", "DELETE", path(m3.ID), carol.token, nil)
	h.fails(http.StatusBadRequest, "invalid_argument", "DELETE", path(m3.ID)+"?for=everyone", alice.token, nil)
	before := h.logCount()
	h.must(http.StatusNoContent, "DELETE", path(m3.ID), alice.token, nil, nil)
	h.must(http.StatusNoContent, "DELETE", path(m3.ID), alice.token, nil, nil) // twice: 204 both times
	if n := h.logCount(); n != before+1 {
		t.Fatalf("deleting twice appended %d events, want 1", n-before)
	}
	eventually(t, "the message gone for both, the list back on the one before", func() bool {
		for _, c := range []client{alice, bob} {
			if slices.Contains(ids(h.history(c, chat.ID)), m3.ID) {
				return false
			}
			s := h.summary(c, chat.ID)
			if s.LastMessage == nil || s.LastMessage.ID != m2.ID {
				return false
			}
		}
		return h.summary(bob, chat.ID).UnreadCount == 0
	})
	// updated_at stays the time of the deleted message.
	if s := h.summary(bob, chat.ID); s.UpdatedAt != m3.SentAt {
		t.Errorf("updated_at %s after a delete, want %s", s.UpdatedAt, m3.SentAt)
	}
	h.must(http.StatusNoContent, "DELETE", path(m2.ID), bob.token, nil, nil)
	h.must(http.StatusNoContent, "DELETE", path(m1.ID), alice.token, nil, nil)
	eventually(t, "an empty chat", func() bool {
		s := h.summary(alice, chat.ID)
		return len(h.history(alice, chat.ID)) == 0 && s.LastMessage == nil && h.summary(bob, chat.ID).UnreadCount == 0
	})

	// In a group an admin deletes anyone's message; a member only their own.
	group := h.group(alice, "team", bob, carol)
	g1 := h.send(bob, group.ID, "bob's", "g1")
	g2 := h.send(carol, group.ID, "carol's", "g2")
	h.fails(http.StatusForbidden, "forbidden", "DELETE", chatPath(group.ID, fmt.Sprintf("/messages/%d", g2.ID)), bob.token, nil)
	h.must(http.StatusNoContent, "DELETE", chatPath(group.ID, fmt.Sprintf("/messages/%d", g2.ID)), alice.token, nil, nil)
	eventually(t, "the admin's delete", func() bool {
		got := ids(h.history(bob, group.ID))
		return slices.Equal(got, []int64{g1.ID})
	})
	// A reply to a deleted message quotes it with no text.
	var out struct {
		Message messageJSON `json:"message"`
	}
	h.must(http.StatusAccepted, "POST", chatPath(group.ID, "/messages"), bob.token,
		map[string]any{"text": "re", "client_id": "g3", "reply_to_id": g1.ID}, &out)
	if out.Message.ReplyTo == nil || out.Message.ReplyTo.Text != "bob's" || out.Message.ReplyTo.Author.ID != bob.ID {
		t.Fatalf("reply answered %+v", out.Message)
	}
	h.must(http.StatusNoContent, "DELETE", chatPath(group.ID, fmt.Sprintf("/messages/%d", g1.ID)), bob.token, nil, nil)
	eventually(t, "the quote of a deleted message", func() bool {
		m := find(h.history(carol, group.ID), out.Message.ID)
		return m != nil && m.ReplyTo != nil && m.ReplyTo.ID == g1.ID && m.ReplyTo.Text == ""
	})
}

func TestDeleteForMeAndClearHistory(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)
	m1 := h.send(alice, chat.ID, "one", "c1")
	m2 := h.send(alice, chat.ID, "two", "c2")
	eventually(t, "bob's unread count", func() bool { return h.summary(bob, chat.ID).UnreadCount == 2 })

	h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, fmt.Sprintf("/messages/%d?for=me", m2.ID)), bob.token, nil, nil)
	eventually(t, "m2 hidden from bob only", func() bool {
		s := h.summary(bob, chat.ID)
		return slices.Equal(ids(h.history(bob, chat.ID)), []int64{m1.ID}) && s.LastMessage != nil && s.LastMessage.ID == m1.ID &&
			s.UnreadCount == 1 && slices.Equal(ids(h.history(alice, chat.ID)), []int64{m1.ID, m2.ID}) &&
			h.summary(alice, chat.ID).LastMessage.ID == m2.ID
	})
	h.fails(http.StatusNotFound, "not_found", "DELETE", chatPath(chat.ID, "/messages/999999?for=me"), bob.token, nil)

	// Clearing: every message so far leaves bob's view; new ones come.
	h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, "/history"), bob.token, nil, nil)
	eventually(t, "bob's history cleared", func() bool {
		s := h.summary(bob, chat.ID)
		return len(h.history(bob, chat.ID)) == 0 && s.LastMessage == nil && s.UnreadCount == 0 && len(h.history(alice, chat.ID)) == 2
	})
	m3 := h.send(alice, chat.ID, "three", "c3")
	eventually(t, "a new message after clearing", func() bool {
		s := h.summary(bob, chat.ID)
		return slices.Equal(ids(h.history(bob, chat.ID)), []int64{m3.ID}) && s.UnreadCount == 1 && s.LastMessage != nil && s.LastMessage.ID == m3.ID
	})
	// Redis lost: the views are rebuilt from MySQL.
	if err := h.rdb.FlushDB(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if s := h.summary(bob, chat.ID); s.UnreadCount != 1 || s.LastMessage == nil || s.LastMessage.ID != m3.ID {
		t.Fatalf("after a flush bob's summary is %+v", s)
	}
}

func TestForwardAndReply(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	src := h.direct(alice, bob)
	dst := h.group(alice, "team", bob, carol)
	orig := h.send(bob, src.ID, "worth sharing", "s1")
	edited := h.edit(bob, src.ID, orig.ID, "worth sharing, edited")

	forward := func(c client, to int64, body map[string]any) response {
		return h.do("POST", chatPath(to, "/messages"), c.token, body)
	}
	fw := map[string]any{"client_id": "f1", "forward": map[string]int64{"chat_id": src.ID, "message_id": orig.ID}}
	h.fails(http.StatusBadRequest, "invalid_argument", "POST", chatPath(dst.ID, "/messages"), alice.token,
		map[string]any{"client_id": "f0", "text": "and text", "forward": map[string]int64{"chat_id": src.ID, "message_id": orig.ID}})
	// carol is not in the source chat: 404, whether the message exists or not.
	h.fails(http.StatusNotFound, "not_found", "POST", chatPath(dst.ID, "/messages"), carol.token,
		map[string]any{"client_id": "f0", "forward": map[string]int64{"chat_id": src.ID, "message_id": orig.ID}})
	h.fails(http.StatusNotFound, "not_found", "POST", chatPath(dst.ID, "/messages"), alice.token,
		map[string]any{"client_id": "f0", "forward": map[string]int64{"chat_id": src.ID, "message_id": 999999}})
	r := forward(alice, dst.ID, fw)
	if r.status != http.StatusAccepted {
		t.Fatalf("forward: %d %s", r.status, r.body)
	}
	var out struct {
		Message messageJSON `json:"message"`
	}
	r.decode(t, &out)
	f := out.Message
	if f.Text != edited.Text || f.ForwardedFrom == nil || f.ForwardedFrom.MessageID != orig.ID || f.ForwardedFrom.Author.ID != bob.ID ||
		f.ForwardedFrom.ChatID == nil || *f.ForwardedFrom.ChatID != src.ID || f.ForwardedFrom.SentAt != orig.SentAt {
		t.Fatalf("forward answered %+v (from %+v)", f, f.ForwardedFrom)
	}
	eventually(t, "the forward in history, the source chat shown to members of it only", func() bool {
		c := find(h.history(carol, dst.ID), f.ID)
		b := find(h.history(bob, dst.ID), f.ID)
		return c != nil && b != nil && c.ForwardedFrom != nil && c.ForwardedFrom.ChatID == nil &&
			c.ForwardedFrom.Author.Name == "bob" && b.ForwardedFrom.ChatID != nil && *b.ForwardedFrom.ChatID == src.ID
	})
	// A forward of the forward keeps the first original.
	again := h.direct(bob, carol)
	r = forward(bob, again.ID, map[string]any{"client_id": "f2", "forward": map[string]int64{"chat_id": dst.ID, "message_id": f.ID}})
	r.decode(t, &out)
	if r.status != http.StatusAccepted || out.Message.ForwardedFrom == nil || out.Message.ForwardedFrom.MessageID != orig.ID {
		t.Fatalf("forward of a forward: %d %s", r.status, r.body)
	}

	// A reply quotes the message as it is now.
	h.must(http.StatusAccepted, "POST", chatPath(src.ID, "/messages"), alice.token,
		map[string]any{"text": "agreed", "client_id": "r1", "reply_to_id": orig.ID}, &out)
	reply := out.Message
	if reply.ReplyTo == nil || reply.ReplyTo.Text != edited.Text || reply.ReplyToID == nil || *reply.ReplyToID != orig.ID {
		t.Fatalf("reply answered %+v", reply)
	}
	h.edit(bob, src.ID, orig.ID, "changed my mind")
	eventually(t, "the quote follows the edit", func() bool {
		m := find(h.history(alice, src.ID), reply.ID)
		return m != nil && m.ReplyTo != nil && m.ReplyTo.Text == "changed my mind" && m.ReplyTo.Author.Name == "bob"
	})
}

// updatesAfter reads c's update stream after a cursor until want updates came.
func (h *harness) updatesAfter(c client, cursor string, want int) []updateHead {
	h.t.Helper()
	var all []updateHead
	eventually(h.t, fmt.Sprintf("%d updates of %s", want, c.Name), func() bool {
		var page updatesJSON
		h.must(http.StatusOK, "GET", "/api/v1/updates?limit=1000&after="+cursor, c.token, nil, &page)
		all = all[:0]
		for _, raw := range page.Updates {
			var u updateHead
			if err := json.Unmarshal(raw, &u); err != nil {
				h.t.Fatal(err)
			}
			all = append(all, u)
		}
		return len(all) >= want
	})
	if len(all) != want {
		h.t.Fatalf("%d updates of %s, want %d: %+v", len(all), c.Name, want, all)
	}
	return all
}

// Every member hears of an edit and a delete for everyone; a delete for
// oneself and a cleared history reach only one's own other devices.
func TestLifecycleUpdates(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	h.startNotifier()
	alice, bob := h.register("alice"), h.register("bob")
	var aliceAt, bobAt updatesJSON
	h.must(http.StatusOK, "GET", "/api/v1/updates", alice.token, nil, &aliceAt)
	h.must(http.StatusOK, "GET", "/api/v1/updates", bob.token, nil, &bobAt)
	chat := h.direct(alice, bob)
	m := h.send(alice, chat.ID, "hello", "c1")

	h.edit(alice, chat.ID, m.ID, "hello, edited")
	h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, fmt.Sprintf("/messages/%d?for=me", m.ID)), bob.token, nil, nil)
	h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, "/history"), bob.token, nil, nil)
	h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, fmt.Sprintf("/messages/%d", m.ID)), alice.token, nil, nil)

	// Both: chat.added, message.created, then the changes.
	for _, u := range [][]updateHead{h.updatesAfter(alice, aliceAt.Cursor, 4)[2:], h.updatesAfter(bob, bobAt.Cursor, 6)[2:]} {
		if u[0].Type != "message.edited" || u[0].Message.ID != m.ID || u[0].Message.Text != "hello, edited" || u[0].Message.EditedAt == nil {
			t.Errorf("first update %+v, want the edit", u[0])
		}
		if last := u[len(u)-1]; last.Type != "message.deleted" || last.ChatID != chat.ID || last.MessageID != m.ID {
			t.Errorf("last update %+v, want the delete", last)
		}
	}
	bobs := h.updatesAfter(bob, bobAt.Cursor, 6)[2:]
	if bobs[1].Type != "message.deleted" || bobs[1].MessageID != m.ID || bobs[2].Type != "history.cleared" || bobs[2].ThroughID != m.ID {
		t.Errorf("bob's own changes: %+v", bobs[1:3])
	}
}

// The cache keeps a chat's newest chatcache.RecentBodies messages whole;
// when every one of them is deleted, or hidden from a user, the list still
// shows the newest message left, read from MySQL.
func TestLastMessageBeyondTheRecentOnes(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)
	var sent []messageJSON
	for i := range chatcache.RecentBodies + 2 {
		sent = append(sent, h.send(alice, chat.ID, fmt.Sprint("m", i), fmt.Sprint("c", i)))
	}
	eventually(t, "the last message listed", func() bool { return h.summary(bob, chat.ID).LastMessage.ID == sent[len(sent)-1].ID })

	// bob hides all but the first two.
	for _, m := range sent[2:] {
		h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, fmt.Sprintf("/messages/%d?for=me", m.ID)), bob.token, nil, nil)
	}
	eventually(t, "bob's last message, from MySQL", func() bool {
		s := h.summary(bob, chat.ID)
		return s.LastMessage != nil && s.LastMessage.ID == sent[1].ID && s.UnreadCount == 2
	})
	if s := h.summary(alice, chat.ID); s.LastMessage.ID != sent[len(sent)-1].ID {
		t.Fatalf("alice's last message is %d, want %d", s.LastMessage.ID, sent[len(sent)-1].ID)
	}

	// alice deletes all but the first, newest first: the last message
	// steps back through the recent ones, then by id alone.
	for i := len(sent) - 1; i >= 1; i-- {
		h.must(http.StatusNoContent, "DELETE", chatPath(chat.ID, fmt.Sprintf("/messages/%d", sent[i].ID)), alice.token, nil, nil)
	}
	eventually(t, "the first message is the last one left", func() bool {
		a, b := h.summary(alice, chat.ID), h.summary(bob, chat.ID)
		return a.LastMessage != nil && a.LastMessage.ID == sent[0].ID && a.LastMessage.Text == "m0" &&
			b.LastMessage != nil && b.LastMessage.ID == sent[0].ID && b.UnreadCount == 1
	})
}
