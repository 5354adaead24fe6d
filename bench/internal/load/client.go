package load

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	// A faster drop-in encoding/json: the load generator shares the CPU with the stack.
	json "github.com/segmentio/encoding/json"
)

// API speaks the gateway's HTTP API (API.md) like any client does, over
// fasthttp's client: HTTP/1.1 with keep-alive, at a fraction of net/http's
// CPU per request (no reader and writer goroutine per connection), which
// matters because the load generator shares the machine with the stack.
type API struct {
	Base string
	http *fasthttp.Client
}

// NewAPI returns a client with a connection pool large enough for every
// concurrent sender to keep its own keep-alive connection.
func NewAPI(base string) *API {
	return &API{Base: base, http: &fasthttp.Client{
		Name: "logchat-bench",
		// More than the most senders of any scenario (2,048) plus the persist
		// samplers: a sender must never find the pool empty. Were it so, a
		// request waits for a connection instead of failing at once.
		MaxConnsPerHost:     8192,
		MaxConnWaitTimeout:  30 * time.Second,
		MaxIdleConnDuration: 90 * time.Second,
		ReadTimeout:         30 * time.Second,
		WriteTimeout:        30 * time.Second,
		Dial:                (&fasthttp.TCPDialer{Concurrency: 256}).Dial,
		// A pooled connection may be dead (the benchmark restarts the
		// gateway); every request this client makes may be repeated: a send
		// is deduplicated by its client_id, the rest are reads or set-up.
		RetryIf: func(*fasthttp.Request) bool { return true },
	}}
}

// CloseIdle drops the pooled keep-alive connections (after the gateway
// restarted, they are all dead).
func (a *API) CloseIdle() { a.http.CloseIdleConnections() }

// requestTimeout bounds a request whose context has no deadline.
const requestTimeout = 30 * time.Second

// StatusError is a non-2xx answer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// Do sends a JSON request and decodes a 2xx answer into out (when not nil).
func (a *API) Do(ctx context.Context, method, path, token string, body []byte, out any) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(a.Base + "/api/v1" + path)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(requestTimeout)
	}
	if err := a.http.DoDeadline(req, resp, deadline); err != nil {
		return 0, err
	}
	status, raw := resp.StatusCode(), resp.Body()
	if status >= 300 {
		return status, &StatusError{Status: status, Body: string(raw)}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return status, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return status, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// User is a registered user.
type User struct {
	ID    int64
	Name  string
	Token string
}

// Register creates a user. A request repeated after a connection failure may
// find the user already made by its first attempt (409): then it logs in.
func (a *API) Register(ctx context.Context, name string) (User, error) {
	var out struct {
		User struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
		Token string `json:"token"`
	}
	creds := mustJSON(map[string]string{"name": name, "password": "bench-password"})
	st, err := a.Do(ctx, "POST", "/auth/register", "", creds, &out)
	if st == fasthttp.StatusConflict {
		_, err = a.Do(ctx, "POST", "/auth/login", "", creds, &out)
	}
	return User{ID: out.User.ID, Name: out.User.Name, Token: out.Token}, err
}

// Chat is a created chat.
type Chat struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
}

// maxMemberIDs is the most member ids one POST /chats takes (API 1.1).
const maxMemberIDs = 200

// CreateChat creates a direct chat (title "") or a group. A group of more
// members than one request takes is created with the first of them and
// given the rest one by one, as a client would.
func (a *API) CreateChat(ctx context.Context, token, title string, members []int64) (Chat, error) {
	first, rest := members, []int64(nil)
	if len(members) > maxMemberIDs {
		first, rest = members[:maxMemberIDs], members[maxMemberIDs:]
	}
	req := map[string]any{"member_ids": first}
	if title != "" {
		req["title"] = title
	}
	var c Chat
	if _, err := a.Do(ctx, "POST", "/chats", token, mustJSON(req), &c); err != nil {
		return c, err
	}
	path := "/chats/" + strconv.FormatInt(c.ID, 10) + "/members"
	for _, id := range rest {
		if _, err := a.Do(ctx, "POST", path, token, mustJSON(map[string]any{"user_id": id}), nil); err != nil {
			return c, fmt.Errorf("add member %d: %w", id, err)
		}
	}
	return c, nil
}

// sendBody builds the send request without reflection: it is the hot path of
// the load generator, which shares the machine with what it measures.
func sendBody(text, clientID string) []byte {
	b := make([]byte, 0, len(text)+len(clientID)+32)
	b = append(b, `{"text":`...)
	b = strconv.AppendQuote(b, text)
	b = append(b, `,"client_id":`...)
	b = strconv.AppendQuote(b, clientID)
	return append(b, '}')
}

// Send posts a message and returns its id.
func (a *API) Send(ctx context.Context, token string, chatID int64, text, clientID string) (int64, error) {
	var out struct {
		Message struct {
			ID int64 `json:"id"`
		} `json:"message"`
	}
	st, err := a.Do(ctx, "POST", "/chats/"+strconv.FormatInt(chatID, 10)+"/messages", token, sendBody(text, clientID), &out)
	if err == nil && st != fasthttp.StatusAccepted {
		err = fmt.Errorf("send answered %d, want 202", st)
	}
	return out.Message.ID, err
}

// HistoryMessage is what the checks need of a message.
type HistoryMessage struct {
	ID       int64  `json:"id"`
	ClientID string `json:"client_id"`
	Text     string `json:"text"`
}

// HistoryAfter returns up to limit messages with id > after, ascending.
func (a *API) HistoryAfter(ctx context.Context, token string, chatID, after int64, limit int) ([]HistoryMessage, bool, error) {
	var out struct {
		Messages []HistoryMessage `json:"messages"`
		HasMore  bool             `json:"has_more"`
	}
	q := fmt.Sprintf("/chats/%d/messages?limit=%d", chatID, limit)
	if after > 0 {
		q += "&after=" + strconv.FormatInt(after, 10)
	}
	_, err := a.Do(ctx, "GET", q, token, nil, &out)
	return out.Messages, out.HasMore, err
}

// AllHistory pages backwards through a chat's whole history and returns it
// oldest first.
func (a *API) AllHistory(ctx context.Context, token string, chatID int64) ([]HistoryMessage, error) {
	var pages [][]HistoryMessage
	q := fmt.Sprintf("/chats/%d/messages?limit=200", chatID)
	for {
		var out struct {
			Messages []HistoryMessage `json:"messages"`
			HasMore  bool             `json:"has_more"`
		}
		if _, err := a.Do(ctx, "GET", q, token, nil, &out); err != nil {
			return nil, err
		}
		pages = append(pages, out.Messages)
		if !out.HasMore || len(out.Messages) == 0 {
			break
		}
		q = fmt.Sprintf("/chats/%d/messages?limit=200&before=%d", chatID, out.Messages[0].ID)
	}
	var all []HistoryMessage
	for i := len(pages) - 1; i >= 0; i-- {
		all = append(all, pages[i]...)
	}
	return all, nil
}

// RealtimeToken returns the Centrifugo URL and a connection token.
func (a *API) RealtimeToken(ctx context.Context, token string) (url, tok string, err error) {
	var out struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	_, err = a.Do(ctx, "GET", "/realtime/token", token, nil, &out)
	return out.URL, out.Token, err
}

// SubscriptionToken returns a token for one channel.
func (a *API) SubscriptionToken(ctx context.Context, token, channel string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	_, err := a.Do(ctx, "POST", "/realtime/subscription-token", token, mustJSON(map[string]string{"channel": channel}), &out)
	return out.Token, err
}

// Edit replaces a message's text (PATCH, API.md 1.1 "Messages"); the author only.
func (a *API) Edit(ctx context.Context, token string, chatID, id int64, text string) error {
	b := strconv.AppendQuote([]byte(`{"text":`), text)
	st, err := a.Do(ctx, "PATCH", "/chats/"+strconv.FormatInt(chatID, 10)+"/messages/"+strconv.FormatInt(id, 10), token, append(b, '}'), nil)
	if err == nil && st != fasthttp.StatusOK {
		err = fmt.Errorf("edit answered %d, want 200", st)
	}
	return err
}

// Delete deletes a message for everyone.
func (a *API) Delete(ctx context.Context, token string, chatID, id int64) error {
	st, err := a.Do(ctx, "DELETE", "/chats/"+strconv.FormatInt(chatID, 10)+"/messages/"+strconv.FormatInt(id, 10), token, nil, nil)
	if err == nil && st != fasthttp.StatusNoContent {
		err = fmt.Errorf("delete answered %d, want 204", st)
	}
	return err
}
