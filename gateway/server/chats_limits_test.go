package server_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/logchat/gateway/server"
	"github.com/logchat/shared/event"
)

// POST /chats takes at most 200 member_ids, refused before any is looked up;
// a group has at most GROUP_MAX_MEMBERS members, on creation and when a
// member is added (API 1.1, "Chats and roles").
func TestChatSizeLimits(t *testing.T) {
	h := newHarness(t)
	const groupMax = 4
	v := h.variant(func(c *server.Config) { c.GroupMaxMembers = groupMax })
	alice := v.register("alice")
	others := make([]client, 4)
	for i := range others {
		others[i] = v.register(fmt.Sprint("user", i))
	}
	ids := func(cs ...client) []int64 {
		out := make([]int64, len(cs))
		for i, c := range cs {
			out[i] = c.ID
		}
		return out
	}
	unknown := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(1_000_000 + i)
		}
		return out
	}

	t.Run("more than 200 member_ids is 400 before any is looked up", func(t *testing.T) {
		before := v.logCount()
		// Unknown ids: were they looked up, the answer would be 404.
		v.fails(http.StatusBadRequest, "invalid_argument", "POST", "/api/v1/chats", alice.token,
			map[string]any{"title": "big", "member_ids": unknown(201)})
		v.fails(http.StatusBadRequest, "invalid_argument", "POST", "/api/v1/chats", alice.token,
			map[string]any{"member_ids": unknown(5000)})
		// 200 is allowed (under the default group cap), and then they are looked up.
		h.fails(http.StatusNotFound, "not_found", "POST", "/api/v1/chats", alice.token,
			map[string]any{"title": "big", "member_ids": unknown(200)})
		if v.logCount() != before {
			t.Fatal("a refused creation changed the log")
		}
	})

	t.Run("a group beyond the cap is 409 on creation", func(t *testing.T) {
		before := v.logCount()
		// The creator and four others: five members, one too many.
		v.fails(http.StatusConflict, "conflict", "POST", "/api/v1/chats", alice.token,
			map[string]any{"title": "five", "member_ids": ids(others...)})
		if v.logCount() != before {
			t.Fatal("a refused creation changed the log")
		}
		// Repeated ids and the caller's own count once.
		var g chatJSON
		v.must(http.StatusCreated, "POST", "/api/v1/chats", alice.token,
			map[string]any{"title": "four", "member_ids": append(ids(others[:3]...), others[0].ID, alice.ID)}, &g)
		if g.MembersCount != groupMax {
			t.Fatalf("group of %d members", g.MembersCount)
		}
	})

	t.Run("adding to a full group is 409, and possible again after a removal", func(t *testing.T) {
		g := v.group(alice, "team", others[:3]...)
		add := map[string]any{"user_id": others[3].ID}
		before := v.logCount()
		v.fails(http.StatusConflict, "conflict", "POST", chatPath(g.ID, "/members"), alice.token, add)
		if v.logCount() != before {
			t.Fatal("a refused addition changed the log")
		}
		// Adding someone who is already a member of a full group changes nothing.
		var same chatJSON
		v.must(http.StatusOK, "POST", chatPath(g.ID, "/members"), alice.token, map[string]any{"user_id": others[0].ID}, &same)
		if same.MembersCount != groupMax || v.logCount() != before {
			t.Fatalf("re-adding a member: %d members, log %d -> %d", same.MembersCount, before, v.logCount())
		}
		v.must(http.StatusNoContent, "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", others[0].ID)), alice.token, nil, nil)
		var full chatJSON
		v.must(http.StatusOK, "POST", chatPath(g.ID, "/members"), alice.token, add, &full)
		if full.MembersCount != groupMax {
			t.Fatalf("after the addition: %d members", full.MembersCount)
		}
		if ev := v.lastEvent(); ev.Type != event.MemberAdded || ev.ChatID != g.ID {
			t.Fatalf("last event %s of chat %d", ev.Type, ev.ChatID)
		}
	})

	t.Run("the default cap is 10,000", func(t *testing.T) {
		// The harness's own gateway has no GroupMaxMembers: a group of the
		// creator and 200 others is far below the default.
		a := h.register("zed")
		members := make([]int64, 0, 200)
		for i := range 200 {
			members = append(members, h.register(fmt.Sprint("m", i)).ID)
		}
		var g chatJSON
		h.must(http.StatusCreated, "POST", "/api/v1/chats", a.token, map[string]any{"title": "crowd", "member_ids": members}, &g)
		if g.MembersCount != 201 || len(g.Members) != 201 {
			t.Fatalf("crowd of %d members", g.MembersCount)
		}
	})
}
