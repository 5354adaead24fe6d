package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge-go"

	json "github.com/segmentio/encoding/json"

	"github.com/logchat/bench/internal/stats"
)

// RealtimeConn is GET /realtime/token's answer.
type RealtimeConn struct {
	URL             string `json:"url"`
	Token           string `json:"token"`
	PersonalChannel string `json:"personal_channel"`
}

// Realtime returns the connection URL, token and personal channel.
func (a *API) Realtime(ctx context.Context, token string) (RealtimeConn, error) {
	var out RealtimeConn
	_, err := a.Do(ctx, "GET", "/realtime/token", token, nil, &out)
	return out, err
}

// ChatSummary is what the benchmark reads of GET /chats.
type ChatSummary struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
}

// ListChats returns one page of the caller's chats and the next cursor ("" at the end).
func (a *API) ListChats(ctx context.Context, token string, limit int, cursor string) ([]ChatSummary, string, error) {
	var out struct {
		Chats      []ChatSummary `json:"chats"`
		NextCursor *string       `json:"next_cursor"`
	}
	q := fmt.Sprintf("/chats?limit=%d", limit)
	if cursor != "" {
		q += "&cursor=" + cursor
	}
	_, err := a.Do(ctx, "GET", q, token, nil, &out)
	next := ""
	if out.NextCursor != nil {
		next = *out.NextCursor
	}
	return out.Chats, next, err
}

// TokenStats counts the token requests realtime clients make to the gateway
// (connection tokens and subscription tokens) and their latency.
type TokenStats struct {
	Conn, Sub, Errors atomic.Int64
	mu                sync.Mutex
	lat               *stats.Recorder
}

// Reset starts counting afresh.
func (t *TokenStats) Reset() {
	t.Conn.Store(0)
	t.Sub.Store(0)
	t.Errors.Store(0)
	t.mu.Lock()
	t.lat = stats.NewRecorder(time.Now())
	t.mu.Unlock()
}

// Latency summarizes the requests since Reset.
func (t *TokenStats) Latency() stats.Summary {
	t.mu.Lock()
	r := t.lat
	t.mu.Unlock()
	if r == nil {
		return stats.Summary{}
	}
	return r.Summary(0, 0)
}

func (t *TokenStats) observe(start time.Time, conn bool, err error) {
	now := time.Now()
	if conn {
		t.Conn.Add(1)
	} else {
		t.Sub.Add(1)
	}
	if err != nil {
		t.Errors.Add(1)
	}
	t.mu.Lock()
	r := t.lat
	t.mu.Unlock()
	if r != nil {
		r.Add(now, now.Sub(start))
	}
}

// FleetSub is one subscription of a fleet member.
type FleetSub struct {
	Channel string
	ChatID  int64 // 0: the personal channel
	sub     *centrifuge.Subscription

	mu             sync.Mutex
	subscribed     bool
	lastSubscribed time.Time
	ended          string         // why it ended (unsubscribed with a code), "" while alive
	ids            map[int64]byte // message id -> 1 realtime, 2 history reload, 3 both
	maxID          int64
	arrived        map[int64]time.Time
	p              *personalState // the 1.1 client's personal channel (AddPersonal)
}

// Has reports whether message id reached this subscription (realtime or reload).
func (s *FleetSub) Has(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id] != 0
}

// ArrivedAt is when message id arrived over realtime (zero if it did not).
func (s *FleetSub) ArrivedAt(id int64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arrived[id]
}

// Member is one user's live Centrifugo connection and its subscriptions.
type Member struct {
	User User
	// http bounds the member's concurrent HTTP requests, as a browser's
	// six connections per host do.
	http      chan struct{}
	Subs      []*FleetSub
	byChannel map[string]*FleetSub
	// Personal is the 1.1 client's personal subscription (AddPersonal), nil for a 1.0 client.
	Personal  *FleetSub
	client    *centrifuge.Client
	connected atomic.Bool
}

// Sub returns the member's subscription to channel (nil if none).
func (m *Member) Sub(channel string) *FleetSub { return m.byChannel[channel] }

// Fleet is a set of realtime clients that behave like the web client: one
// connection per user with a connection token from the gateway, one
// subscription per channel whose token is asked from the gateway by the
// SDK's callback, recovery on, and a reload from the HTTP API when the server
// says a subscription could not be recovered.
type Fleet struct {
	API     *API
	Members []*Member
	Tokens  TokenStats
	mu      sync.Mutex

	RealtimeDup   atomic.Int64 // a message id published twice to one subscription
	Recovered     atomic.Int64 // resubscriptions the server recovered
	NotRecovered  atomic.Int64 // resubscriptions that needed a reload
	Reloads       atomic.Int64 // reloads done (history or chat list)
	ReloadErrors  atomic.Int64 // failed attempts
	ReloadsFailed atomic.Int64 // reloads that gave up after 3 attempts
	// ReloadAPI serves the reloads (default API): the members' own HTTP
	// clients, apart from the benchmark's sender.
	ReloadAPI *API
	ViaReload atomic.Int64 // messages first seen in a reload (or GET /updates)
	// The 1.1 client (AddPersonal).
	CatchUps      atomic.Int64 // catch-ups from the last cursor
	UpdatesCalls  atomic.Int64 // GET /updates requests (failed attempts included)
	Gone          atomic.Int64 // 410 answers
	Gaps          atomic.Int64 // gaps in live updates that needed GET /updates
	reloadWG      sync.WaitGroup
	SubscribeErrs sync.Map // error text -> *atomic.Int64
}

func (f *Fleet) subErr(msg string) {
	if len(msg) > 120 {
		msg = msg[:120]
	}
	v, _ := f.SubscribeErrs.LoadOrStore(msg, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Errors returns the subscription errors seen, by text.
func (f *Fleet) Errors() map[string]int {
	out := map[string]int{}
	f.SubscribeErrs.Range(func(k, v any) bool {
		out[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
	return out
}

// Connect opens u's connection and waits until it is connected; its
// subscriptions are made by Subscribe.
func (f *Fleet) Connect(ctx context.Context, u User, timeout time.Duration) (*Member, string, error) {
	t0 := time.Now()
	rc, err := f.API.Realtime(ctx, u.Token)
	f.Tokens.observe(t0, true, err)
	if err != nil {
		return nil, "", err
	}
	m := &Member{User: u, byChannel: map[string]*FleetSub{}, http: make(chan struct{}, BrowserConns)}
	cl := centrifuge.NewProtobufClient(rc.URL, centrifuge.Config{
		Token: rc.Token,
		// As the web client (web/src/composables/useRealtime.ts).
		MinReconnectDelay: 500 * time.Millisecond,
		MaxReconnectDelay: 10 * time.Second,
		GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
			t0 := time.Now()
			c, err := f.API.Realtime(context.Background(), u.Token)
			f.Tokens.observe(t0, true, err)
			return c.Token, err
		},
	})
	m.client = cl
	up := make(chan struct{}, 1)
	cl.OnConnected(func(centrifuge.ConnectedEvent) {
		m.connected.Store(true)
		select {
		case up <- struct{}{}:
		default:
		}
	})
	cl.OnConnecting(func(centrifuge.ConnectingEvent) { m.connected.Store(false) })
	cl.OnDisconnected(func(centrifuge.DisconnectedEvent) { m.connected.Store(false) })
	if err := cl.Connect(); err != nil {
		return nil, "", err
	}
	select {
	case <-up:
	case <-time.After(timeout):
		cl.Close()
		return nil, "", fmt.Errorf("user %d not connected within %s", u.ID, timeout)
	case <-ctx.Done():
		cl.Close()
		return nil, "", ctx.Err()
	}
	f.mu.Lock()
	f.Members = append(f.Members, m)
	f.mu.Unlock()
	return m, rc.PersonalChannel, nil
}

// newSubscription is m's recoverable subscription to channel, with no
// initial token: the SDK asks for one (counted in f.Tokens) when it
// subscribes, as the web client does.
func (f *Fleet) newSubscription(m *Member, channel string) (*centrifuge.Subscription, error) {
	return m.client.NewSubscription(channel, centrifuge.SubscriptionConfig{
		Recoverable: true,
		GetToken: func(e centrifuge.SubscriptionTokenEvent) (string, error) {
			t0 := time.Now()
			tok, err := f.API.SubscriptionToken(context.Background(), m.User.Token, e.Channel)
			f.Tokens.observe(t0, false, err)
			return tok, err
		},
	})
}

// AddSubs creates m's subscriptions to channels (chatIDs[i] = 0 for the
// personal channel) and starts subscribing them; WaitSettled waits for them.
func (f *Fleet) AddSubs(m *Member, channels []string, chatIDs []int64) error {
	for i, ch := range channels {
		fs := &FleetSub{Channel: ch, ChatID: chatIDs[i], ids: map[int64]byte{}, arrived: map[int64]time.Time{}}
		sub, err := f.newSubscription(m, ch)
		if err != nil {
			f.subErr(err.Error())
			continue
		}
		fs.sub = sub
		f.watch(fs, func(e centrifuge.SubscribedEvent, after int64) {
			if e.WasRecovering {
				if e.Recovered {
					f.Recovered.Add(1)
				} else {
					f.NotRecovered.Add(1)
					f.reload(m, fs, after)
				}
			}
		})
		sub.OnPublication(func(e centrifuge.PublicationEvent) {
			now := time.Now()
			var p publication
			if json.Unmarshal(e.Data, &p) != nil || p.Type != "message.created" {
				return
			}
			fs.mu.Lock()
			had := fs.ids[p.Message.ID]
			fs.ids[p.Message.ID] |= 1
			if had&1 != 0 {
				f.RealtimeDup.Add(1)
			} else {
				fs.arrived[p.Message.ID] = now
			}
			fs.maxID = max(fs.maxID, p.Message.ID)
			fs.mu.Unlock()
		})
		m.Subs = append(m.Subs, fs)
		m.byChannel[ch] = fs
	}
	for _, fs := range m.Subs {
		if fs.sub != nil {
			if err := fs.sub.Subscribe(); err != nil {
				f.subErr(err.Error())
			}
		}
	}
	return nil
}

// watch keeps fs's state from its subscription's events; subscribed is
// called after each subscribe with the newest message id fs had then.
func (f *Fleet) watch(fs *FleetSub, subscribed func(e centrifuge.SubscribedEvent, maxID int64)) {
	sub := fs.sub
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) {
		fs.mu.Lock()
		fs.subscribed, fs.lastSubscribed = true, time.Now()
		after := fs.maxID
		fs.mu.Unlock()
		subscribed(e, after)
	})
	sub.OnSubscribing(func(centrifuge.SubscribingEvent) {
		fs.mu.Lock()
		fs.subscribed = false
		fs.mu.Unlock()
	})
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) {
		fs.mu.Lock()
		fs.subscribed = false
		if e.Code != 0 {
			fs.ended = fmt.Sprintf("unsubscribed %d %s", e.Code, e.Reason)
		}
		fs.mu.Unlock()
		if e.Code != 0 {
			f.subErr(fmt.Sprintf("unsubscribed %d %s", e.Code, e.Reason))
		}
	})
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) {
		if e.Error != nil {
			f.subErr(e.Error.Error())
		}
	})
}

// BrowserConns is how many requests one member has in flight at most.
const BrowserConns = 6

// reloadGiveUp is how long a client keeps trying one reload.
const reloadGiveUp = 2 * time.Minute

// reload fetches what a subscription may have missed, as the web client does
// when recovery failed: a chat's messages after the newest it had, or the
// chat list for the personal channel. A failed request is tried again, as a
// client that must not show a gap does, after an exponential back-off with
// jitter (1 s doubling to 10 s), for up to reloadGiveUp (ReloadErrors counts
// the failed attempts, ReloadsFailed the reloads that gave up).
func (f *Fleet) reload(m *Member, fs *FleetSub, after int64) {
	f.reloadWG.Add(1)
	go func() {
		defer f.reloadWG.Done()
		f.Reloads.Add(1)
		api := f.ReloadAPI
		if api == nil {
			api = f.API
		}
		try := func(do func(ctx context.Context) error) bool { return f.retry(m, do) }
		if fs.ChatID == 0 {
			try(func(ctx context.Context) error {
				_, _, err := api.ListChats(ctx, m.User.Token, 50, "")
				return err
			})
			return
		}
		for {
			var msgs []HistoryMessage
			var more bool
			if !try(func(ctx context.Context) error {
				var err error
				msgs, more, err = api.HistoryAfter(ctx, m.User.Token, fs.ChatID, after, 200)
				return err
			}) {
				return
			}
			fs.mu.Lock()
			for _, h := range msgs {
				if fs.ids[h.ID] == 0 {
					f.ViaReload.Add(1)
				}
				fs.ids[h.ID] |= 2
				fs.maxID = max(fs.maxID, h.ID)
			}
			fs.mu.Unlock()
			if !more || len(msgs) == 0 {
				return
			}
			after = msgs[len(msgs)-1].ID
		}
	}()
}

// retry runs one request of m's until it succeeds, as a client that must
// not show a gap does: after an exponential back-off with jitter (1 s
// doubling to 10 s) for up to reloadGiveUp, each attempt holding one of m's
// BrowserConns (ReloadErrors counts the failed attempts, ReloadsFailed the
// requests that gave up).
func (f *Fleet) retry(m *Member, do func(ctx context.Context) error) bool {
	started := time.Now()
	for attempt := 0; attempt == 0 || time.Since(started) < reloadGiveUp; attempt++ {
		m.http <- struct{}{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := do(ctx)
		cancel()
		<-m.http
		if err == nil {
			return true
		}
		f.ReloadErrors.Add(1)
		f.subErr("reload: " + err.Error())
		backoff := min(10*time.Second, time.Second<<min(attempt, 4))
		time.Sleep(backoff/2 + rand.N(backoff/2))
	}
	f.ReloadsFailed.Add(1)
	return false
}

// WaitReloads waits for the reloads in flight.
func (f *Fleet) WaitReloads() { f.reloadWG.Wait() }

// Settled counts m's subscriptions that are subscribed and those that ended with an error.
func (m *Member) Settled() (subscribed, ended int) {
	for _, fs := range m.Subs {
		fs.mu.Lock()
		if fs.subscribed {
			subscribed++
		} else if fs.ended != "" {
			ended++
		}
		fs.mu.Unlock()
	}
	return
}

// WaitSettled waits until each of m's subscriptions is subscribed or ended
// (an error the SDK does not retry), or timeout.
func (m *Member) WaitSettled(ctx context.Context, timeout time.Duration) (subscribed, ended int) {
	deadline := time.Now().Add(timeout)
	for {
		subscribed, ended = m.Settled()
		if subscribed+ended >= len(m.Subs) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Resubscribed counts the subscriptions subscribed again since t, of all.
func (f *Fleet) Resubscribed(t time.Time) (done, total, connected int) {
	for _, m := range f.Members {
		if m.connected.Load() {
			connected++
		}
		for _, fs := range m.Subs {
			total++
			fs.mu.Lock()
			if fs.subscribed && fs.lastSubscribed.After(t) {
				done++
			}
			fs.mu.Unlock()
		}
	}
	return
}

// BackTimes is, per member, how long after from its last subscription
// subscribed again since t (members not all back are left out), in ms.
func (f *Fleet) BackTimes(t, from time.Time) []float64 {
	var out []float64
	for _, m := range f.Members {
		var last time.Time
		all := true
		for _, fs := range m.Subs {
			fs.mu.Lock()
			if fs.subscribed && fs.lastSubscribed.After(t) {
				if fs.lastSubscribed.After(last) {
					last = fs.lastSubscribed
				}
			} else {
				all = false
			}
			fs.mu.Unlock()
		}
		if all && !last.IsZero() {
			out = append(out, float64(last.Sub(from).Microseconds())/1000)
		}
	}
	return out
}

// Close disconnects every member.
func (f *Fleet) Close() {
	var wg sync.WaitGroup
	for _, m := range f.Members {
		wg.Add(1)
		go func() { defer wg.Done(); m.client.Close() }()
	}
	wg.Wait()
}

// clientID makes a client_id unique per run.
func clientID(tag string, n int64) string { return tag + strconv.FormatInt(n, 36) }

// Subscribed reports whether the subscription is subscribed now.
func (s *FleetSub) Subscribed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribed
}
