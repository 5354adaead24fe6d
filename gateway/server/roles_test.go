package server_test

import (
	"fmt"
	"net/http"
	"testing"
)

// Roles and titles (API.md 1.1, "Chats and roles"): who may do what, the
// last admin, and the changes reaching the chat list through the log.
func TestRolesAndTitle(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	admin, mod, member, muted := h.register("admin"), h.register("mod"), h.register("member"), h.register("muted")
	outsider := h.register("outsider")
	g := h.group(admin, "team", mod, member, muted)
	role := func(c client, target client, r string) response {
		return h.do("PATCH", chatPath(g.ID, fmt.Sprintf("/members/%d", target.ID)), c.token, map[string]string{"role": r})
	}
	roleOf := func(ch chatJSON, id int64) string {
		for _, m := range ch.Members {
			if m.User.ID == id {
				return m.Role
			}
		}
		return ""
	}
	expect := func(r response, status int) {
		t.Helper()
		if r.status != status {
			t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
		}
	}

	// Only admins make moderators and admins.
	expect(role(member, mod, "moderator"), http.StatusForbidden)
	r := role(admin, mod, "moderator")
	expect(r, http.StatusOK)
	var ch chatJSON
	r.decode(t, &ch)
	if roleOf(ch, mod.ID) != "moderator" {
		t.Fatalf("after promotion: %+v", ch.Members)
	}
	// A moderator mutes and unmutes members, but makes no moderators.
	expect(role(mod, muted, "muted"), http.StatusOK)
	h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(g.ID, "/messages"), muted.token, map[string]any{"text": "hi", "client_id": "m1"})
	expect(role(mod, member, "moderator"), http.StatusForbidden)
	expect(role(mod, admin, "muted"), http.StatusForbidden)
	expect(role(mod, muted, "member"), http.StatusOK)
	h.send(muted, g.ID, "unmuted", "m2")
	expect(role(mod, muted, "muted"), http.StatusOK)
	// Bad input and unknown people.
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", chatPath(g.ID, fmt.Sprintf("/members/%d", member.ID)), admin.token, map[string]string{"role": "owner"})
	h.fails(http.StatusNotFound, "not_found", "PATCH", chatPath(g.ID, fmt.Sprintf("/members/%d", outsider.ID)), admin.token, map[string]string{"role": "member"})
	h.fails(http.StatusNotFound, "not_found", "PATCH", chatPath(g.ID, fmt.Sprintf("/members/%d", member.ID)), outsider.token, map[string]string{"role": "member"})
	// The same role again: 200, no event.
	before := h.logCount()
	expect(role(admin, mod, "moderator"), http.StatusOK)
	h.announceSettled(before)

	// The last admin neither leaves nor loses the role while others remain.
	h.fails(http.StatusConflict, "conflict", "PATCH", chatPath(g.ID, fmt.Sprintf("/members/%d", admin.ID)), admin.token, map[string]string{"role": "member"})
	h.fails(http.StatusConflict, "conflict", "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", admin.ID)), admin.token, nil)
	expect(role(admin, member, "admin"), http.StatusOK)
	expect(role(admin, admin, "member"), http.StatusOK) // another admin now exists

	// Removal: a moderator removes members and muted members, not admins.
	h.fails(http.StatusForbidden, "forbidden", "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", member.ID)), mod.token, nil)
	h.must(http.StatusNoContent, "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", muted.ID)), mod.token, nil, nil)
	h.fails(http.StatusNotFound, "not_found", "GET", chatPath(g.ID, ""), muted.token, nil)

	// Titles: group admins only; never a direct chat's.
	h.fails(http.StatusForbidden, "forbidden", "PATCH", chatPath(g.ID, ""), mod.token, map[string]string{"title": "mine"})
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", chatPath(g.ID, ""), member.token, map[string]string{"title": "bad\u202etitle"})
	h.fails(http.StatusBadRequest, "invalid_argument", "PATCH", chatPath(g.ID, ""), member.token, map[string]string{})
	h.must(http.StatusOK, "PATCH", chatPath(g.ID, ""), member.token, map[string]string{"title": "team, renamed"}, &ch)
	if ch.Title != "team, renamed" {
		t.Fatalf("renamed chat: %+v", ch.summaryJSON)
	}
	eventually(t, "the new title in everyone's list", func() bool {
		return h.summary(mod, g.ID).Title == "team, renamed" && h.summary(admin, g.ID).Title == "team, renamed"
	})
	d := h.direct(admin, mod)
	h.fails(http.StatusForbidden, "forbidden", "PATCH", chatPath(d.ID, ""), admin.token, map[string]string{"title": "x"})
	h.fails(http.StatusForbidden, "forbidden", "PATCH", chatPath(d.ID, fmt.Sprintf("/members/%d", mod.ID)), admin.token, map[string]string{"role": "muted"})
}

// announceSettled fails when the log grew past n.
func (h *harness) announceSettled(n uint64) {
	h.t.Helper()
	if got := h.logCount(); got != n {
		h.t.Fatalf("the log grew by %d events, want none", got-n)
	}
}
