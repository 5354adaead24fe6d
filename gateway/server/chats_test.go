package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logchat/gateway/server"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
)

func TestCreateChat(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")

	t.Run("direct: 201, then 200 with the same chat from either side", func(t *testing.T) {
		before := h.logCount()
		var c chatJSON
		r := h.must(http.StatusCreated, "POST", "/api/v1/chats", alice.token, map[string]any{"member_ids": []int64{bob.ID}}, &c)
		if c.Kind != "direct" || c.Title != "bob" || c.Channel != fmt.Sprintf("chat:%d", c.ID) || c.MembersCount != 2 ||
			c.LastMessage != nil || c.UnreadCount != 0 || c.ReadMessageID != 0 || len(c.Members) != 2 {
			t.Fatalf("chat %s", r.body)
		}
		if !timeFormat.MatchString(c.CreatedAt) || c.UpdatedAt != c.CreatedAt {
			t.Fatalf("created_at %q updated_at %q", c.CreatedAt, c.UpdatedAt)
		}
		for _, m := range c.Members {
			if m.Role != "member" {
				t.Fatalf("direct chat member %+v", m)
			}
		}
		if h.logCount() != before+1 {
			t.Fatal("no chat.created appended")
		}
		ev := h.lastEvent()
		d, err := event.Payload[event.ChatCreatedData](ev.Envelope)
		if err != nil || ev.Type != event.ChatCreated || ev.ChatID != c.ID || d.Chat.ID != c.ID || len(d.Chat.Members) != 2 {
			t.Fatalf("event %+v %+v %v", ev, d, err)
		}

		var again chatJSON
		h.must(http.StatusOK, "POST", "/api/v1/chats", alice.token, map[string]any{"member_ids": []int64{bob.ID, bob.ID, alice.ID}}, &again)
		if again.ID != c.ID {
			t.Fatalf("second create made chat %d, first %d", again.ID, c.ID)
		}
		var fromBob chatJSON
		h.must(http.StatusOK, "POST", "/api/v1/chats", bob.token, map[string]any{"member_ids": []int64{alice.ID}, "title": "  "}, &fromBob)
		if fromBob.ID != c.ID || fromBob.Title != "alice" {
			t.Fatalf("bob sees chat %d titled %q", fromBob.ID, fromBob.Title)
		}
		if h.logCount() != before+1 {
			t.Fatal("an existing direct chat was announced again")
		}
	})

	t.Run("group: creator admin, others members", func(t *testing.T) {
		var g chatJSON
		h.must(http.StatusCreated, "POST", "/api/v1/chats", alice.token,
			map[string]any{"title": "  Team  ", "member_ids": []int64{bob.ID, carol.ID, bob.ID, alice.ID}}, &g)
		if g.Kind != "group" || g.Title != "Team" || g.MembersCount != 3 {
			t.Fatalf("group %+v", g)
		}
		roles := map[int64]string{}
		for _, m := range g.Members {
			roles[m.User.ID] = m.Role
		}
		if roles[alice.ID] != "admin" || roles[bob.ID] != "member" || roles[carol.ID] != "member" {
			t.Fatalf("roles %v", roles)
		}
		var alone chatJSON
		h.must(http.StatusCreated, "POST", "/api/v1/chats", alice.token, map[string]any{"title": "notes"}, &alone)
		if alone.MembersCount != 1 {
			t.Fatalf("a group of one has %d members", alone.MembersCount)
		}
	})

	t.Run("rejected creations change nothing", func(t *testing.T) {
		for name, c := range map[string]struct {
			body   any
			status int
			code   string
		}{
			"no title, two others": {map[string]any{"member_ids": []int64{bob.ID, carol.ID}}, 400, "invalid_argument"},
			"no title, nobody":     {map[string]any{"member_ids": []int64{}}, 400, "invalid_argument"},
			"no title, only self":  {map[string]any{"member_ids": []int64{alice.ID}}, 400, "invalid_argument"},
			"title too long":       {map[string]any{"title": strings.Repeat("t", 101), "member_ids": []int64{bob.ID}}, 400, "invalid_argument"},
			"unknown user, direct": {map[string]any{"member_ids": []int64{987654}}, 404, "not_found"},
			"unknown user, group":  {map[string]any{"title": "x", "member_ids": []int64{bob.ID, 987654}}, 404, "not_found"},
			"bad member_ids":       {raw(`{"member_ids": "bob"}`), 400, "invalid_argument"},
		} {
			t.Run(name, func(t *testing.T) {
				before := h.logCount()
				h.fails(c.status, c.code, "POST", "/api/v1/chats", alice.token, c.body)
				if h.logCount() != before {
					t.Fatal("a rejected creation changed the log")
				}
			})
		}
	})
}

func TestMembership(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol, dave := h.register("alice"), h.register("bob"), h.register("carol"), h.register("dave")
	g := h.group(alice, "team", bob)
	members := func(c chatJSON) string {
		var s []string
		for _, m := range c.Members {
			s = append(s, m.User.Name+"/"+m.Role)
		}
		return strings.Join(s, ",")
	}

	t.Run("a non-member gets 404 everywhere and 403 for the channel", func(t *testing.T) {
		before := h.logCount()
		for _, c := range []struct{ method, path string }{
			{"GET", chatPath(g.ID, "")},
			{"GET", chatPath(g.ID, "/messages")},
			{"POST", chatPath(g.ID, "/messages")},
			{"POST", chatPath(g.ID, "/read")},
			{"POST", chatPath(g.ID, "/members")},
			{"DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", bob.ID))},
			{"GET", chatPath(987654, "")},
			{"POST", chatPath(987654, "/messages")},
			{"GET", "/api/v1/chats/abc"},
		} {
			body := map[string]any{"text": "hi", "client_id": "x", "message_id": 1, "user_id": carol.ID}
			h.fails(http.StatusNotFound, "not_found", c.method, c.path, carol.token, body)
		}
		h.fails(http.StatusForbidden, "forbidden", "POST", "/api/v1/realtime/subscription-token", carol.token,
			map[string]any{"channel": g.Channel})
		if h.logCount() != before {
			t.Fatal("a non-member's request changed the log")
		}
	})

	t.Run("only admins add", func(t *testing.T) {
		before := h.logCount()
		h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(g.ID, "/members"), bob.token, map[string]any{"user_id": carol.ID})
		h.fails(http.StatusNotFound, "not_found", "POST", chatPath(g.ID, "/members"), alice.token, map[string]any{"user_id": 987654})
		if h.logCount() != before {
			t.Fatal("a rejected add changed the log")
		}
		var c chatJSON
		h.must(http.StatusOK, "POST", chatPath(g.ID, "/members"), alice.token, map[string]any{"user_id": carol.ID}, &c)
		if got := members(c); got != "alice/admin,bob/member,carol/member" || c.MembersCount != 3 {
			t.Fatalf("members %s (%d)", got, c.MembersCount)
		}
		ev := h.lastEvent()
		d, err := event.Payload[event.MemberAddedData](ev.Envelope)
		// A group's join carries the count, not the member list (O(n²) log to build a group otherwise).
		if err != nil || ev.Type != event.MemberAdded || d.Member.User.ID != carol.ID || len(d.Chat.Members) != 0 || d.Count() != 3 {
			t.Fatalf("event %+v %+v %v", ev, d, err)
		}
		h.must(http.StatusOK, "GET", chatPath(g.ID, ""), carol.token, nil, nil)
		h.must(http.StatusOK, "POST", "/api/v1/realtime/subscription-token", carol.token, map[string]any{"channel": g.Channel}, nil)
	})

	t.Run("members cannot remove others; anyone can leave; admins remove", func(t *testing.T) {
		before := h.logCount()
		h.fails(http.StatusForbidden, "forbidden", "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", carol.ID)), bob.token, nil)
		h.fails(http.StatusNotFound, "not_found", "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", dave.ID)), alice.token, nil)
		if h.logCount() != before {
			t.Fatal("a rejected removal changed the log")
		}
		h.must(http.StatusNoContent, "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", bob.ID)), bob.token, nil, nil)
		ev := h.lastEvent()
		d, err := event.Payload[event.MemberRemovedData](ev.Envelope)
		if err != nil || ev.Type != event.MemberRemoved || d.UserID != bob.ID || d.MembersCount != 2 || ev.ActorID != bob.ID {
			t.Fatalf("event %+v %+v %v", ev, d, err)
		}
		h.fails(http.StatusNotFound, "not_found", "GET", chatPath(g.ID, ""), bob.token, nil)
		// carol's membership is fresh in the gateway's cache when she is removed:
		// the removal must still take effect at once.
		h.must(http.StatusOK, "GET", chatPath(g.ID, "/messages"), carol.token, nil, nil)
		h.must(http.StatusNoContent, "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", carol.ID)), alice.token, nil, nil)
		h.fails(http.StatusNotFound, "not_found", "GET", chatPath(g.ID, "/messages"), carol.token, nil)
		h.fails(http.StatusNotFound, "not_found", "POST", chatPath(g.ID, "/messages"), carol.token, map[string]any{"text": "still here?", "client_id": "gone-1"})
		h.fails(http.StatusForbidden, "forbidden", "POST", "/api/v1/realtime/subscription-token", carol.token,
			map[string]any{"channel": g.Channel})
	})

	t.Run("a removal through another gateway instance takes effect at once", func(t *testing.T) {
		other := h.variant(func(*server.Config) {})
		h.must(http.StatusOK, "POST", chatPath(g.ID, "/members"), alice.token, map[string]any{"user_id": dave.ID}, nil)
		// dave's membership is now cached by the other instance, for 30 s.
		other.send(dave, g.ID, "hello from the other instance", "other-1")
		h.must(http.StatusNoContent, "DELETE", chatPath(g.ID, fmt.Sprintf("/members/%d", dave.ID)), alice.token, nil, nil)
		deadline := time.Now().Add(2 * time.Second)
		for {
			r := other.do("POST", chatPath(g.ID, "/messages"), dave.token, map[string]any{"text": "still here?", "client_id": "other-2"})
			if r.status == http.StatusNotFound {
				break
			}
			if r.status != http.StatusAccepted || time.Now().After(deadline) {
				t.Fatalf("the other instance still lets a removed member send: %d %s", r.status, r.body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("nobody adds to a direct chat", func(t *testing.T) {
		d := h.direct(alice, dave)
		h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(d.ID, "/members"), alice.token, map[string]any{"user_id": carol.ID})
	})

	t.Run("a muted member cannot send", func(t *testing.T) {
		ctx := context.Background()
		_, _, err := h.store.AddMember(ctx, g.ID, domain.User{ID: dave.ID, Name: dave.Name}, domain.RoleMuted, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		before := h.logCount()
		h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(g.ID, "/messages"), dave.token, map[string]any{"text": "hi", "client_id": "m1"})
		if h.logCount() != before {
			t.Fatal("a muted member's send changed the log")
		}
		h.must(http.StatusOK, "GET", chatPath(g.ID, "/messages"), dave.token, nil, nil)
	})
}

func TestChatList(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	ab := h.direct(alice, bob)
	ac := h.direct(alice, carol)
	g := h.group(alice, "all", bob, carol)
	empty := h.group(alice, "empty")

	list := func(c client, q string) listJSON {
		var l listJSON
		h.must(http.StatusOK, "GET", "/api/v1/chats"+q, c.token, nil, &l)
		return l
	}
	order := func(l listJSON) string {
		var s []string
		for _, c := range l.Chats {
			s = append(s, fmt.Sprint(c.ID))
		}
		return strings.Join(s, ",")
	}
	ids := func(cs ...chatJSON) string {
		var s []string
		for _, c := range cs {
			s = append(s, fmt.Sprint(c.ID))
		}
		return strings.Join(s, ",")
	}

	// Activity order: ac, then g, then ab last; the empty group by creation.
	h.send(carol, ac.ID, "c1", "l1")
	h.send(bob, g.ID, "g1", "l2")
	last := h.send(bob, ab.ID, "b1", "l3")
	h.send(bob, ab.ID, "b2", "l4")
	last = h.send(bob, ab.ID, "b3", "l5")

	want := ids(ab, g, ac, empty)
	// The list is in order as soon as b1 is projected; the summaries below
	// need b3, the last send, projected too.
	eventually(t, "alice's list in activity order, up to the last send", func() bool {
		l := list(alice, "")
		return order(l) == want && l.Chats[0].LastMessage != nil && l.Chats[0].LastMessage.ID == last.ID
	})

	t.Run("summaries", func(t *testing.T) {
		l := list(alice, "")
		s := l.Chats[0]
		if s.ID != ab.ID || s.Kind != "direct" || s.Title != "bob" || s.Channel != ab.Channel || s.MembersCount != 2 ||
			s.LastMessage == nil || s.LastMessage.ID != last.ID || s.LastMessage.Text != "b3" ||
			s.UnreadCount != 3 || s.ReadMessageID != 0 || s.UpdatedAt != last.SentAt {
			t.Fatalf("summary %+v (last %+v)", s, s.LastMessage)
		}
		if l.NextCursor != nil {
			t.Fatalf("next_cursor %q at the end", *l.NextCursor)
		}
		e := l.Chats[3]
		if e.LastMessage != nil || e.UpdatedAt != empty.CreatedAt || e.Title != "empty" {
			t.Fatalf("empty chat %+v", e)
		}
		b := list(bob, "")
		if order(b) != ids(ab, g) || b.Chats[0].Title != "alice" || b.Chats[0].UnreadCount != 0 || b.Chats[0].ReadMessageID != last.ID {
			t.Fatalf("bob's list %+v", b)
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		q := "?limit=1"
		for range 10 {
			l := list(alice, q)
			for _, c := range l.Chats {
				got = append(got, fmt.Sprint(c.ID))
			}
			if l.NextCursor == nil {
				break
			}
			q = "?limit=1&cursor=" + url.QueryEscape(*l.NextCursor)
		}
		if strings.Join(got, ",") != want {
			t.Fatalf("paged %v, want %s", got, want)
		}
	})

	t.Run("bad parameters are 400", func(t *testing.T) {
		for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?cursor=garbage", "?cursor=" + url.QueryEscape("eyJzIjoieCJ9")} {
			h.fails(http.StatusBadRequest, "invalid_argument", "GET", "/api/v1/chats"+q, alice.token, nil)
		}
	})

	t.Run("reading moves unread", func(t *testing.T) {
		h.must(http.StatusNoContent, "POST", chatPath(ab.ID, "/read"), alice.token, map[string]any{"message_id": last.ID}, nil)
		eventually(t, "unread 0 after reading", func() bool {
			s := list(alice, "").Chats[0]
			return s.ID == ab.ID && s.UnreadCount == 0 && s.ReadMessageID == last.ID
		})
	})

	t.Run("from MySQL when Redis fails", func(t *testing.T) {
		cached := list(alice, "")
		// The same services, but a gateway whose Redis is down.
		dapp := h.variant(func(c *server.Config) { c.Cache = chatcache.New(brokenRedis(t), "x:", h.store) })
		var fromDB listJSON
		dapp.must(http.StatusOK, "GET", "/api/v1/chats", alice.token, nil, &fromDB)
		if !reflect.DeepEqual(fromDB.Chats, cached.Chats) {
			t.Fatalf("from MySQL:\n%+v\nfrom Redis:\n%+v", fromDB.Chats, cached.Chats)
		}
		var got []string
		q := "?limit=2"
		for range 10 {
			var l listJSON
			dapp.must(http.StatusOK, "GET", "/api/v1/chats"+q, alice.token, nil, &l)
			for _, c := range l.Chats {
				got = append(got, fmt.Sprint(c.ID))
			}
			if l.NextCursor == nil {
				break
			}
			q = "?limit=2&cursor=" + url.QueryEscape(*l.NextCursor)
		}
		if strings.Join(got, ",") != want {
			t.Fatalf("paged from MySQL %v, want %s", got, want)
		}
		var c chatJSON
		dapp.must(http.StatusOK, "GET", chatPath(ab.ID, ""), alice.token, nil, &c)
		if !reflect.DeepEqual(c.summaryJSON, cached.Chats[0]) {
			t.Fatalf("chat from MySQL %+v, from Redis %+v", c.summaryJSON, cached.Chats[0])
		}
	})
}
