package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/shared/domain"
)

// The whole message path on real processes: HTTP → JetStream → MySQL, Redis
// and Centrifugo, observed the way clients observe it.
func TestConversationEndToEnd(t *testing.T) {
	sys := harness.Start(t, harness.Options{})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	carol := harness.Register(t, sys.GatewayURL, "carol")

	var chat harness.Chat
	alice.Must(201, "POST", "/chats", map[string]any{"member_ids": []int64{bob.User.ID}}, &chat)
	var again harness.Chat
	bob.Must(200, "POST", "/chats", map[string]any{"member_ids": []int64{alice.User.ID}}, &again)
	if again.ID != chat.ID || chat.Kind != domain.KindDirect {
		t.Fatalf("direct chat asked twice: %d then %d (kind %s), want one direct chat", chat.ID, again.ID, chat.Kind)
	}
	if chat.Title != bob.User.Name || again.Title != alice.User.Name {
		t.Fatalf("direct titles = %q / %q, want the other member's name", chat.Title, again.Title)
	}

	bobRT := bob.Connect()
	bobRT.Subscribe(chat.Channel)
	aliceRT := alice.Connect()
	aliceRT.Subscribe(chat.Channel)

	const n = 200
	sent := make([]domain.Message, n)
	for i := range n {
		m, err := alice.Send(chat.ID, fmt.Sprintf("message %d", i), fmt.Sprintf("c-%d", i))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i > 0 && m.ID <= sent[i-1].ID {
			t.Fatalf("ids not increasing: %d after %d", m.ID, sent[i-1].ID)
		}
		sent[i] = m
	}
	ids := make([]int64, n)
	for i, m := range sent {
		ids[i] = m.ID
	}

	t.Run("bob receives every message live, in id order, once", func(t *testing.T) {
		harness.Eventually(t, 20*time.Second, "200 publications", func() (bool, string) {
			got := bobRT.MessageIDs(chat.Channel)
			return len(got) >= n, fmt.Sprintf("%d received", len(got))
		})
		if got := bobRT.MessageIDs(chat.Channel); !slices.Equal(got, ids) {
			t.Fatalf("publications = %v…, want the 202 ids in order", got[:min(10, len(got))])
		}
	})

	t.Run("history holds the same 200, in pages and at once", func(t *testing.T) {
		harness.Eventually(t, 20*time.Second, "history complete", func() (bool, string) {
			p, err := bob.History(chat.ID, url.Values{"limit": {"200"}})
			return err == nil && len(p.Messages) == n, fmt.Sprintf("%d messages, err %v", len(p.Messages), err)
		})
		p, _ := bob.History(chat.ID, url.Values{"limit": {"200"}})
		got := make([]int64, len(p.Messages))
		for i, m := range p.Messages {
			got[i] = m.ID
		}
		if !slices.Equal(got, ids) || p.HasMore {
			t.Fatalf("history ids equal: %v, has_more %v; want the same ids and has_more=false", slices.Equal(got, ids), p.HasMore)
		}
		if p.Messages[7].Text != "message 7" || p.Messages[7].Author.ID != alice.User.ID || p.Messages[7].ClientID != "c-7" {
			t.Fatalf("message 7 = %+v", p.Messages[7])
		}
		paged, err := bob.AllHistory(chat.ID, 30)
		if err != nil || !slices.Equal(paged, ids) {
			t.Fatalf("paging by 30: %d ids (err %v), want all 200 exactly once", len(paged), err)
		}
	})

	t.Run("bob's chat list: last message and 200 unread", func(t *testing.T) {
		harness.Eventually(t, 20*time.Second, "chat list", func() (bool, string) {
			list, err := bob.ChatList(50)
			if err != nil || len(list) == 0 {
				return false, fmt.Sprint(err)
			}
			c := list[0]
			ok := c.ID == chat.ID && c.LastMessage != nil && c.LastMessage.ID == ids[n-1] && c.UnreadCount == n
			return ok, fmt.Sprintf("%+v", c)
		})
	})

	t.Run("reading moves the position forward only", func(t *testing.T) {
		bob.Must(204, "POST", fmt.Sprintf("/chats/%d/read", chat.ID), map[string]int64{"message_id": ids[149]}, nil)
		harness.Eventually(t, 20*time.Second, "unread 50", func() (bool, string) {
			list, _ := bob.ChatList(50)
			return len(list) > 0 && list[0].UnreadCount == 50 && list[0].ReadMessageID == ids[149], fmt.Sprintf("%+v", list)
		})
		harness.Eventually(t, 10*time.Second, "alice sees read.updated", func() (bool, string) {
			for _, p := range aliceRT.Publications(chat.Channel, "read.updated") {
				if p.Data["user_id"] == float64(bob.User.ID) && p.Data["message_id"] == float64(ids[149]) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d read.updated", len(aliceRT.Publications(chat.Channel, "read.updated")))
		})
		// An older id is a no-op (204), then a newer one proves the older did nothing.
		bob.Must(204, "POST", fmt.Sprintf("/chats/%d/read", chat.ID), map[string]int64{"message_id": ids[10]}, nil)
		bob.Must(204, "POST", fmt.Sprintf("/chats/%d/read", chat.ID), map[string]int64{"message_id": ids[160]}, nil)
		harness.Eventually(t, 20*time.Second, "unread 39", func() (bool, string) {
			list, _ := bob.ChatList(50)
			return len(list) > 0 && list[0].UnreadCount == 39 && list[0].ReadMessageID == ids[160], fmt.Sprintf("%+v", list)
		})
		for _, p := range aliceRT.Publications(chat.Channel, "read.updated") {
			if p.Data["message_id"] == float64(ids[10]) {
				t.Fatal("a backwards read was published")
			}
		}
		st, err := bob.Do("POST", fmt.Sprintf("/chats/%d/read", chat.ID), map[string]int64{"message_id": ids[n-1] + 1000}, nil)
		if st != 400 || !isCode(err, "invalid_argument") {
			t.Fatalf("read beyond newest: %d %v, want 400 invalid_argument", st, err)
		}
	})

	t.Run("a retried client_id returns the same message and stores one", func(t *testing.T) {
		m, err := alice.Send(chat.ID, "message 0", "c-0")
		if err != nil || m.ID != ids[0] || !m.SentAt.Equal(sent[0].SentAt) {
			t.Fatalf("retry = %+v, %v; want id %d and the original sent_at", m, err, ids[0])
		}
		marker, err := alice.Send(chat.ID, "after the retry", "c-marker")
		if err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 20*time.Second, "marker in history", func() (bool, string) {
			p, _ := bob.History(chat.ID, url.Values{"limit": {"1"}})
			return len(p.Messages) == 1 && p.Messages[0].ID == marker.ID, ""
		})
		all, err := bob.AllHistory(chat.ID, 200)
		if err != nil || len(all) != n+1 {
			t.Fatalf("history has %d messages (err %v), want %d", len(all), err, n+1)
		}
	})

	t.Run("outsiders see nothing", func(t *testing.T) {
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", fmt.Sprintf("/chats/%d/messages", chat.ID), nil},
			{"GET", fmt.Sprintf("/chats/%d", chat.ID), nil},
			{"POST", fmt.Sprintf("/chats/%d/messages", chat.ID), map[string]string{"text": "hi", "client_id": "x1"}},
			{"POST", fmt.Sprintf("/chats/%d/read", chat.ID), map[string]int64{"message_id": ids[0]}},
		} {
			st, err := carol.Do(req.method, req.path, req.body, nil)
			if st != 404 || !isCode(err, "not_found") {
				t.Errorf("carol %s %s: %d %v, want 404 not_found", req.method, req.path, st, err)
			}
		}
		if _, err := carol.SubscriptionToken(chat.Channel); !isStatus(err, 403) {
			t.Errorf("carol's subscription token: %v, want 403", err)
		}
		anon := harness.NewClient(t, sys.GatewayURL)
		if st, err := anon.Do("GET", fmt.Sprintf("/chats/%d/messages", chat.ID), nil, nil); st != 401 || !isCode(err, "unauthenticated") {
			t.Errorf("no token: %d %v, want 401", st, err)
		}
	})

	t.Run("bad input is rejected and changes nothing", func(t *testing.T) {
		before := streamLastSeq(t, sys)
		path := fmt.Sprintf("/chats/%d/messages", chat.ID)
		cases := []struct {
			name   string
			method string
			path   string
			body   any
			status int
			code   string
		}{
			{"empty text", "POST", path, map[string]string{"text": "   ", "client_id": "v1"}, 400, "invalid_argument"},
			{"4097 characters", "POST", path, map[string]string{"text": strings.Repeat("я", 4097), "client_id": "v2"}, 400, "invalid_argument"},
			{"invalid UTF-8", "POST", path, []byte("{\"text\":\"bad \xff\xfe\",\"client_id\":\"v3\"}"), 400, "invalid_argument"},
			{"bad client_id", "POST", path, map[string]string{"text": "hi", "client_id": "has space"}, 400, "invalid_argument"},
			{"malformed JSON", "POST", path, []byte(`{"text":`), 400, "invalid_argument"},
			{"limit 0", "GET", path + "?limit=0", nil, 400, "invalid_argument"},
			{"limit 201", "GET", path + "?limit=201", nil, 400, "invalid_argument"},
			{"before and after", "GET", path + "?before=10&after=2", nil, 400, "invalid_argument"},
			{"body over 64 KiB", "POST", path, []byte(`{"text":"` + strings.Repeat("a", 70*1024) + `","client_id":"v4"}`), 413, "payload_too_large"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				st, err := alice.Do(tc.method, tc.path, tc.body, nil)
				if st != tc.status || !isCode(err, tc.code) {
					t.Fatalf("%d %v, want %d %s", st, err, tc.status, tc.code)
				}
			})
		}
		if after := streamLastSeq(t, sys); after != before {
			t.Fatalf("rejected requests appended to the log: last seq %d → %d", before, after)
		}
		// The limit is 4096 characters, not bytes: this one is accepted.
		if _, err := alice.Send(chat.ID, strings.Repeat("я", 4096), "v-max"); err != nil {
			t.Fatalf("4096 characters: %v", err)
		}
	})
}

func isCode(err error, code string) bool {
	e, ok := err.(*harness.APIError)
	return ok && e.Code == code
}

func isStatus(err error, status int) bool {
	e, ok := err.(*harness.APIError)
	return ok && e.Status == status
}

func streamLastSeq(t *testing.T, sys *harness.System) uint64 {
	t.Helper()
	_, js := sys.NATS.Connect(t)
	s, err := js.Stream(context.Background(), "CHAT")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}
