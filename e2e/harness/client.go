package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/updates"
	"github.com/logchat/testkit"
)

// Client is an API user, speaking HTTP to the gateway like any client would.
type Client struct {
	t     testing.TB
	Base  string
	Token string
	User  domain.User
	http  *http.Client
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Msg) }

// NewClient returns an anonymous client.
func NewClient(t testing.TB, base string) *Client {
	return &Client{t: t, Base: base, http: &http.Client{Timeout: 15 * time.Second}}
}

// Do sends a request and decodes a 2xx body into out. It returns the status,
// and an *APIError for non-2xx answers.
func (c *Client) Do(method, path string, body any, out any) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.Base+"/api/v1"+path, rd)
	if err != nil {
		return 0, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" {
			return resp.StatusCode, fmt.Errorf("status %d with a body not in the error format: %s", resp.StatusCode, raw)
		}
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Code: e.Error.Code, Msg: e.Error.Message}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, nil
}

// Must is Do that fails the test on an error or an unexpected status.
func (c *Client) Must(want int, method, path string, body any, out any) {
	c.t.Helper()
	st, err := c.Do(method, path, body, out)
	if err != nil || st != want {
		c.t.Fatalf("%s %s: status %d, err %v; want %d", method, path, st, err, want)
	}
}

// Register creates a user with a random name and signs in as it.
func Register(t testing.TB, base, namePrefix string) *Client {
	t.Helper()
	c := NewClient(t, base)
	var out struct {
		User  domain.User `json:"user"`
		Token string      `json:"token"`
	}
	c.Must(201, "POST", "/auth/register", map[string]string{"name": namePrefix + testkit.RandomID()[:8], "password": "correct horse"}, &out)
	c.Token, c.User = out.Token, out.User
	return c
}

// Chat is the API's Chat object.
type Chat struct {
	domain.ChatSummary
	CreatedAt time.Time       `json:"created_at"`
	Members   []domain.Member `json:"members"`
}

// DirectChat creates (or finds) the direct chat with other.
func (c *Client) DirectChat(other int64) Chat {
	c.t.Helper()
	var ch Chat
	st, err := c.Do("POST", "/chats", map[string]any{"member_ids": []int64{other}}, &ch)
	if err != nil || (st != 201 && st != 200) {
		c.t.Fatalf("create direct chat: %d %v", st, err)
	}
	return ch
}

// GroupChat creates a group.
func (c *Client) GroupChat(title string, members ...int64) Chat {
	c.t.Helper()
	var ch Chat
	c.Must(201, "POST", "/chats", map[string]any{"title": title, "member_ids": members}, &ch)
	return ch
}

// Send posts a message and returns the accepted message.
func (c *Client) Send(chatID int64, text, clientID string) (domain.Message, error) {
	var out struct {
		Message domain.Message `json:"message"`
	}
	st, err := c.Do("POST", fmt.Sprintf("/chats/%d/messages", chatID), map[string]any{"text": text, "client_id": clientID}, &out)
	if err == nil && st != 202 {
		err = fmt.Errorf("send answered %d, want 202", st)
	}
	return out.Message, err
}

// HistoryPage is the history endpoint's answer.
type HistoryPage struct {
	Messages []domain.Message `json:"messages"`
	HasMore  bool             `json:"has_more"`
}

// History reads one page; q holds before/after/limit.
func (c *Client) History(chatID int64, q url.Values) (HistoryPage, error) {
	var p HistoryPage
	_, err := c.Do("GET", fmt.Sprintf("/chats/%d/messages?%s", chatID, q.Encode()), nil, &p)
	return p, err
}

// AllHistory pages backwards with `before` until has_more is false and
// returns every id, ascending, as the pages delivered them.
func (c *Client) AllHistory(chatID int64, pageSize int) ([]int64, error) {
	msgs, err := c.AllMessages(chatID, pageSize)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids, nil
}

// AllMessages is AllHistory with the whole messages.
func (c *Client) AllMessages(chatID int64, pageSize int) ([]domain.Message, error) {
	var msgs []domain.Message
	q := url.Values{"limit": {strconv.Itoa(pageSize)}}
	for pages := 0; pages < 100000; pages++ {
		p, err := c.History(chatID, q)
		if err != nil {
			return nil, err
		}
		msgs = append(append([]domain.Message(nil), p.Messages...), msgs...)
		if !p.HasMore || len(p.Messages) == 0 {
			return msgs, nil
		}
		q.Set("before", strconv.FormatInt(p.Messages[0].ID, 10))
	}
	return nil, fmt.Errorf("history paging did not end")
}

// ChatList reads the first page of the chat list.
func (c *Client) ChatList(limit int) ([]domain.ChatSummary, error) {
	var out struct {
		Chats []domain.ChatSummary `json:"chats"`
	}
	_, err := c.Do("GET", fmt.Sprintf("/chats?limit=%d", limit), nil, &out)
	return out.Chats, err
}

// ChatsByID reads the first page of the chat list, keyed by chat id.
func (c *Client) ChatsByID(limit int) (map[int64]domain.ChatSummary, error) {
	list, err := c.ChatList(limit)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]domain.ChatSummary, len(list))
	for _, ch := range list {
		byID[ch.ID] = ch
	}
	return byID, nil
}

// Publication is one realtime publication as received.
type Publication struct {
	Channel string
	Offset  uint64
	Data    map[string]any
	Raw     []byte
	At      time.Time
}

// Subscriber is a live Centrifugo client of one user.
type Subscriber struct {
	t      testing.TB
	client *centrifuge.Client
	api    *Client
	mu     sync.Mutex
	pubs   []Publication
	subs   map[string]*centrifuge.Subscription
	// Resubscribes counts subscribed events after the first, per channel.
	Resubscribes map[string]int
	// RecoveryFailed counts resubscriptions whose recovery failed (the
	// channel's history could not fill the gap: a client reloads from the API).
	RecoveryFailed map[string]int
	// unsubscribed holds, per channel, the last unsubscription's code and
	// reason (the server's unsubscribe of a removed member, say).
	unsubscribed map[string]string
}

// Connect opens a realtime connection with a token from the API.
func (c *Client) Connect() *Subscriber {
	c.t.Helper()
	var tok struct {
		URL             string `json:"url"`
		Token           string `json:"token"`
		PersonalChannel string `json:"personal_channel"`
	}
	c.Must(200, "GET", "/realtime/token", nil, &tok)
	s := &Subscriber{t: c.t, api: c, subs: map[string]*centrifuge.Subscription{}, Resubscribes: map[string]int{},
		RecoveryFailed: map[string]int{}, unsubscribed: map[string]string{}}
	s.client = centrifuge.NewJsonClient(tok.URL, centrifuge.Config{
		GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
			var t2 struct{ Token string }
			_, err := c.Do("GET", "/realtime/token", nil, &t2)
			return t2.Token, err
		},
		Token: tok.Token,
		// Reconnect within a second of Centrifugo's return (the default
		// back-off grows to 20 s): the fault table's catch-up then measures
		// the notifier's recovery, not this client's reconnect jitter.
		MaxReconnectDelay: time.Second,
	})
	if err := s.client.Connect(); err != nil {
		c.t.Fatalf("centrifuge connect: %v", err)
	}
	c.t.Cleanup(s.client.Close)
	return s
}

// SubscriptionToken asks the API for a channel token.
func (c *Client) SubscriptionToken(channel string) (string, error) {
	var out struct{ Token string }
	_, err := c.Do("POST", "/realtime/subscription-token", map[string]string{"channel": channel}, &out)
	return out.Token, err
}

// Subscribe subscribes to a channel and waits until subscribed.
func (s *Subscriber) Subscribe(channel string) {
	s.t.Helper()
	tok, err := s.api.SubscriptionToken(channel)
	if err != nil {
		s.t.Fatalf("subscription token for %s: %v", channel, err)
	}
	sub, err := s.client.NewSubscription(channel, centrifuge.SubscriptionConfig{
		Token:       tok,
		Recoverable: true,
		GetToken: func(centrifuge.SubscriptionTokenEvent) (string, error) {
			return s.api.SubscriptionToken(channel)
		},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	subscribed := make(chan struct{}, 1)
	first := true
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) {
		s.mu.Lock()
		if !first {
			s.Resubscribes[channel]++
			if e.WasRecovering && !e.Recovered {
				s.RecoveryFailed[channel]++
			}
		}
		first = false
		s.mu.Unlock()
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) {
		s.mu.Lock()
		s.unsubscribed[channel] = fmt.Sprintf("%d %s", e.Code, e.Reason)
		s.mu.Unlock()
	})
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		var data map[string]any
		_ = json.Unmarshal(e.Data, &data)
		s.mu.Lock()
		s.pubs = append(s.pubs, Publication{Channel: channel, Offset: e.Offset, Data: data, Raw: e.Data, At: time.Now()})
		s.mu.Unlock()
	})
	if err := sub.Subscribe(); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		s.t.Fatalf("not subscribed to %s within 10s", channel)
	}
	s.subs[channel] = sub
}

// Disconnect drops the realtime connection (subscriptions are kept, to be
// recovered on Reconnect).
func (s *Subscriber) Disconnect() error { return s.client.Disconnect() }

// Reconnect connects again; subscriptions resubscribe and recover.
func (s *Subscriber) Reconnect() error { return s.client.Connect() }

// Counts returns the resubscription and failed-recovery counts of a channel.
func (s *Subscriber) Counts(channel string) (resubscribes, recoveryFailed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Resubscribes[channel], s.RecoveryFailed[channel]
}

// Unsubscribed returns the code and reason of the channel's last
// unsubscription, and whether there was one.
func (s *Subscriber) Unsubscribed(channel string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.unsubscribed[channel]
	return r, ok
}

// Publications returns what arrived on a channel, optionally of one type.
func (s *Subscriber) Publications(channel, typ string) []Publication {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Publication
	for _, p := range s.pubs {
		if p.Channel == channel && (typ == "" || p.Data["type"] == typ) {
			out = append(out, p)
		}
	}
	return out
}

// MessageIDs returns the ids of message.created publications on a channel, in arrival order.
func (s *Subscriber) MessageIDs(channel string) []int64 {
	var ids []int64
	for _, p := range s.Publications(channel, "message.created") {
		m, _ := p.Data["message"].(map[string]any)
		id, _ := m["id"].(float64)
		ids = append(ids, int64(id))
	}
	return ids
}

// UpdatesPage is GET /updates's answer.
type UpdatesPage struct {
	Updates []json.RawMessage `json:"updates"`
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
}

// Updates asks GET /updates after cursor ("" for the current cursor).
func (c *Client) Updates(after string, limit int) (UpdatesPage, int, error) {
	path := fmt.Sprintf("/updates?limit=%d", limit)
	if after != "" {
		path += "&after=" + url.QueryEscape(after)
	}
	var p UpdatesPage
	st, err := c.Do("GET", path, nil, &p)
	return p, st, err
}

// Update is one update of a user's stream, as a client applies it.
type Update struct {
	N    int64 // the cursor's number
	Type string
	Raw  string
	Data map[string]any
}

// UpdateStream is what a client that follows API.md's "Per-user updates"
// holds: updates applied in cursor order, each once, whether they came live
// on the personal channel or from GET /updates.
type UpdateStream struct {
	Cursor  string
	Applied []Update
	// Dropped counts updates received again (at or below the cursor).
	Dropped int
	// OtherStream counts updates of another stream than the cursor's (the
	// server lost the stream and began a new one: the client's next
	// GET /updates gets 410).
	OtherStream int
	pending     map[int64]Update
}

// NewUpdateStream starts from a cursor taken with GET /updates.
func NewUpdateStream(cursor string) *UpdateStream {
	return &UpdateStream{Cursor: cursor, pending: map[int64]Update{}}
}

// CursorN is a cursor's number.
func CursorN(t testing.TB, cursor string) int64 {
	c, err := updates.ParseCursor(cursor)
	if err != nil {
		t.Fatalf("cursor %q is not <n>.<stream>", cursor)
	}
	return c.N
}

// Offer hands the stream one received update (a publication's data); it is
// applied once every update before it is.
func (u *UpdateStream) Offer(t testing.TB, raw []byte) {
	t.Helper()
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatalf("update %s: %v", raw, err)
	}
	cursor, _ := data["cursor"].(string)
	if cursor == "" {
		t.Fatalf("a personal publication without a cursor: %s", raw)
	}
	n := CursorN(t, cursor)
	if _, ours, _ := strings.Cut(u.Cursor, "."); !strings.HasSuffix(cursor, "."+ours) {
		u.OtherStream++
		return
	}
	if n <= CursorN(t, u.Cursor) || u.pending[n].Raw != "" {
		u.Dropped++
		return
	}
	typ, _ := data["type"].(string)
	u.pending[n] = Update{N: n, Type: typ, Raw: string(raw), Data: data}
	for {
		next := CursorN(t, u.Cursor) + 1
		up, ok := u.pending[next]
		if !ok {
			return
		}
		delete(u.pending, next)
		u.Applied = append(u.Applied, up)
		u.Cursor = up.Data["cursor"].(string)
	}
}

// Waiting is the number of updates held back behind a gap.
func (u *UpdateStream) Waiting() int { return len(u.pending) }

// CatchUp pages GET /updates from the stream's cursor until has_more is
// false, offering each update; it returns the HTTP status of a refusal.
func (u *UpdateStream) CatchUp(t testing.TB, c *Client) int {
	t.Helper()
	for {
		p, st, err := c.Updates(u.Cursor, 100)
		if st == 410 {
			return st
		}
		if err != nil {
			t.Fatalf("GET /updates after %s: %v", u.Cursor, err)
		}
		for _, raw := range p.Updates {
			u.Offer(t, raw)
		}
		if !p.HasMore {
			return st
		}
	}
}

// MessageIDs returns the ids of applied message.created updates of a chat, in order.
func (u *UpdateStream) MessageIDs(chatID int64) []int64 {
	var ids []int64
	for _, up := range u.Applied {
		if up.Type != "message.created" {
			continue
		}
		m, _ := up.Data["message"].(map[string]any)
		if cid, _ := m["chat_id"].(float64); int64(cid) == chatID {
			id, _ := m["id"].(float64)
			ids = append(ids, int64(id))
		}
	}
	return ids
}
