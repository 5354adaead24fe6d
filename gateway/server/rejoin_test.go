package server_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/logchat/shared/event"
)

// Leaving a direct chat ends the membership; asking for the chat again
// (POST /chats with the same person) makes the caller a member again, through
// a member.added event like any addition, with the history as it was (API
// 1.1, "Chats and roles"). While out, nothing of the chat reaches them: before
// this, POST /chats answered a user who had left with the chat's newest
// message, unread count and read position, without making them a member.
func TestDirectChatRejoin(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	ab := h.direct(alice, bob)
	m1 := h.send(alice, ab.ID, "one", "r1")
	m2 := h.send(bob, ab.ID, "two", "r2") // bob's read position moves to his own message
	m3 := h.send(alice, ab.ID, "three", "r3")

	list := func(c client) listJSON {
		var l listJSON
		h.must(http.StatusOK, "GET", "/api/v1/chats", c.token, nil, &l)
		return l
	}
	inList := func(c client) *summaryJSON {
		for _, s := range list(c).Chats {
			if s.ID == ab.ID {
				return &s
			}
		}
		return nil
	}
	eventually(t, "the chat in bob's list with alice's last message", func() bool {
		s := inList(bob)
		return s != nil && s.LastMessage != nil && s.LastMessage.ID == m3.ID
	})

	h.must(http.StatusNoContent, "DELETE", chatPath(ab.ID, fmt.Sprintf("/members/%d", bob.ID)), bob.token, nil, nil)
	m4 := h.send(alice, ab.ID, "while you were away", "r4")

	t.Run("out of the chat, bob sees nothing of it", func(t *testing.T) {
		h.fails(http.StatusNotFound, "not_found", "GET", chatPath(ab.ID, ""), bob.token, nil)
		h.fails(http.StatusNotFound, "not_found", "GET", chatPath(ab.ID, "/messages"), bob.token, nil)
		h.fails(http.StatusNotFound, "not_found", "POST", chatPath(ab.ID, "/messages"), bob.token, map[string]any{"text": "x", "client_id": "x"})
		h.fails(http.StatusForbidden, "forbidden", "POST", "/api/v1/realtime/subscription-token", bob.token, map[string]any{"channel": ab.Channel})
		eventually(t, "the chat gone from bob's list", func() bool { return inList(bob) == nil })
	})

	t.Run("alice asking for the chat does not bring bob back", func(t *testing.T) {
		before := h.logCount()
		var c chatJSON
		h.must(http.StatusOK, "POST", "/api/v1/chats", alice.token, map[string]any{"member_ids": []int64{bob.ID}}, &c)
		if c.ID != ab.ID || c.MembersCount != 1 || len(c.Members) != 1 || c.Members[0].User.ID != alice.ID {
			t.Fatalf("alice's chat %+v", c)
		}
		if h.logCount() != before {
			t.Fatal("alice's request changed the log")
		}
	})

	t.Run("bob asking for the chat rejoins it, with its history", func(t *testing.T) {
		before := h.logCount()
		var c chatJSON
		r := h.must(http.StatusOK, "POST", "/api/v1/chats", bob.token, map[string]any{"member_ids": []int64{alice.ID}}, &c)
		// The answer comes with bob a member again: whatever it shows of
		// the chat, it shows to a member.
		if c.ID != ab.ID || c.Kind != "direct" || c.Title != "alice" || c.MembersCount != 2 || len(c.Members) != 2 {
			t.Fatalf("rejoined chat %s", r.body)
		}
		if c.ReadMessageID != m2.ID {
			t.Fatalf("read position %d after rejoining, want %d as it was", c.ReadMessageID, m2.ID)
		}
		if h.logCount() != before+1 {
			t.Fatalf("the rejoin appended %d events, want 1", h.logCount()-before)
		}
		ev := h.lastEvent()
		d, err := event.Payload[event.MemberAddedData](ev.Envelope)
		if err != nil || ev.Type != event.MemberAdded || ev.ChatID != ab.ID || d.Member.User.ID != bob.ID || d.Member.Role != "member" || len(d.Chat.Members) != 2 {
			t.Fatalf("event %s %+v %v", ev.Type, d, err)
		}

		var hist historyJSON
		h.must(http.StatusOK, "GET", chatPath(ab.ID, "/messages"), bob.token, nil, &hist)
		var got []int64
		for _, m := range hist.Messages {
			got = append(got, m.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint([]int64{m1.ID, m2.ID, m3.ID, m4.ID}) {
			t.Fatalf("history after rejoining %v", got)
		}
		h.must(http.StatusOK, "POST", "/api/v1/realtime/subscription-token", bob.token, map[string]any{"channel": ab.Channel}, nil)
		eventually(t, "the chat back in bob's list, as it was", func() bool {
			s := inList(bob)
			return s != nil && s.LastMessage != nil && s.LastMessage.ID == m4.ID && s.ReadMessageID == m2.ID && s.UnreadCount == 2
		})
		h.send(bob, ab.ID, "back", "r5")

		// Asking again changes nothing.
		before = h.logCount()
		h.must(http.StatusOK, "POST", "/api/v1/chats", bob.token, map[string]any{"member_ids": []int64{alice.ID}}, nil)
		if h.logCount() != before {
			t.Fatal("a second request appended an event")
		}
	})
}
