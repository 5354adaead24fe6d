package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/centrifugal/gocent/v3"

	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// In the synchronous design a send is in MySQL, in the Redis chat list and on
// the chat's Centrifugo channel by the time it is answered, with no worker
// and no log at all; a retried send answers the original; reads move at once.
func TestSendIsEverywhereWhenAnswered(t *testing.T) {
	cent := testkit.StartCentrifugo(t)
	_, prefix := testkit.Redis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	dsn := testkit.MySQL(t)
	// The migrate command owns the schema; the baseline only waits for it.
	st, err := sqlstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for k, v := range map[string]string{
		"MYSQL_DSN": dsn, "REDIS_ADDR": testkit.RedisAddr(), "REDIS_PREFIX": prefix,
		"CENTRIFUGO_API_URL": cent.URL + "/api", "CENTRIFUGO_API_KEY": cent.APIKey,
		"GATEWAY_ADDR": addr, "JWT_SECRET": "baseline-test-secret-0123456789", "BCRYPT_COST": "4",
		"CENTRIFUGO_HMAC_SECRET": cent.HMACSecret,
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	c := &client{t: t, base: "http://" + addr}
	deadline := time.Now().Add(20 * time.Second)
	for c.status("GET", "/readyz", "", nil, nil) != http.StatusOK {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("baseline not ready in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	type session struct {
		User  struct{ ID int64 } `json:"user"`
		Token string             `json:"token"`
	}
	var ann, bob session
	c.must(201, "POST", "/api/v1/auth/register", "", map[string]string{"name": "ann", "password": "password-ann"}, &ann)
	c.must(201, "POST", "/api/v1/auth/register", "", map[string]string{"name": "bob", "password": "password-bob"}, &bob)
	var chat struct {
		ID      int64  `json:"id"`
		Channel string `json:"channel"`
	}
	c.must(201, "POST", "/api/v1/chats", ann.Token, map[string]any{"member_ids": []int64{bob.User.ID}}, &chat)
	centrifugo := gocent.New(gocent.Config{Addr: cent.URL + "/api", Key: cent.APIKey})

	type message struct {
		ID   int64  `json:"id"`
		Text string `json:"text"`
	}
	var last message
	for i := range 3 {
		var sent struct{ Message message }
		c.must(202, "POST", fmt.Sprintf("/api/v1/chats/%d/messages", chat.ID), ann.Token,
			map[string]any{"text": fmt.Sprintf("hello %d", i), "client_id": fmt.Sprintf("c%d", i)}, &sent)
		m := sent.Message
		if m.ID <= last.ID {
			t.Fatalf("id %d after %d: ids must increase within a chat", m.ID, last.ID)
		}
		last = m

		// No polling: each read happens right after the 202.
		var hist struct{ Messages []message }
		c.must(200, "GET", fmt.Sprintf("/api/v1/chats/%d/messages?limit=1", chat.ID), bob.Token, nil, &hist)
		if len(hist.Messages) != 1 || hist.Messages[0] != m {
			t.Fatalf("history right after send %d: %+v", m.ID, hist.Messages)
		}
		var list struct {
			Chats []struct {
				LastMessage *message `json:"last_message"`
				UnreadCount int      `json:"unread_count"`
			} `json:"chats"`
		}
		c.must(200, "GET", "/api/v1/chats", bob.Token, nil, &list)
		if len(list.Chats) != 1 || list.Chats[0].LastMessage == nil || list.Chats[0].LastMessage.ID != m.ID || list.Chats[0].UnreadCount != i+1 {
			t.Fatalf("bob's chat list right after send %d: %+v", m.ID, list.Chats)
		}
		res, err := centrifugo.History(context.Background(), chat.Channel, gocent.WithLimit(1), gocent.WithReverse(true))
		if err != nil {
			t.Fatal(err)
		}
		var pub struct {
			Type    string  `json:"type"`
			Message message `json:"message"`
		}
		if len(res.Publications) != 1 || json.Unmarshal(res.Publications[0].Data, &pub) != nil || pub.Type != "message.created" || pub.Message.ID != m.ID {
			t.Fatalf("newest publication on %s right after send %d: %+v", chat.Channel, m.ID, res.Publications)
		}
	}

	// A retry answers the original, and changes nothing.
	var again struct{ Message message }
	c.must(202, "POST", fmt.Sprintf("/api/v1/chats/%d/messages", chat.ID), ann.Token, map[string]any{"text": "hello 2", "client_id": "c2"}, &again)
	if again.Message != last {
		t.Fatalf("retried send answered %+v, want the original %+v", again.Message, last)
	}
	var hist struct{ Messages []message }
	c.must(200, "GET", fmt.Sprintf("/api/v1/chats/%d/messages", chat.ID), ann.Token, nil, &hist)
	if len(hist.Messages) != 3 {
		t.Fatalf("history after a retry holds %d messages, want 3", len(hist.Messages))
	}
	// Reads move synchronously too.
	c.must(204, "POST", fmt.Sprintf("/api/v1/chats/%d/read", chat.ID), bob.Token, map[string]any{"message_id": last.ID}, nil)
	var list struct {
		Chats []struct {
			UnreadCount int `json:"unread_count"`
		} `json:"chats"`
	}
	c.must(200, "GET", "/api/v1/chats", bob.Token, nil, &list)
	if list.Chats[0].UnreadCount != 0 {
		t.Fatalf("unread after marking read: %d", list.Chats[0].UnreadCount)
	}
}

type client struct {
	t    *testing.T
	base string
}

func (c *client) status(method, path, token string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (c *client) must(want int, method, path, token string, body, out any) {
	c.t.Helper()
	if got := c.status(method, path, token, body, out); got != want {
		c.t.Fatalf("%s %s: status %d, want %d", method, path, got, want)
	}
}
