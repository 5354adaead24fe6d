package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/gateway/internal/chatlog"
	"github.com/logchat/gateway/internal/outbox"
	"github.com/logchat/gateway/rtoken"
	"github.com/logchat/gateway/server"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/persister/projection"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/storage/updates"
	"github.com/logchat/testkit"
)

const (
	jwtSecret      = "test-jwt-secret-0123456789"
	realtimeSecret = "test-centrifugo-secret-0123456789"
	realtimeURL    = "ws://127.0.0.1:1/connection/websocket"
)

// harness is one gateway over real services: a NATS server of its own, a
// fresh MySQL database and a Redis key prefix. The projections (persister and
// cachewarm) run only when a test starts them.
type harness struct {
	t        *testing.T
	cfg      server.Config
	app      *fiber.App
	base     string // http://127.0.0.1:port of the app's listener
	dsn      string // the test's MySQL database
	store    *sqlstore.Store
	cache    *chatcache.Cache
	rdb      redis.UniversalClient // the test's Redis, keys under prefix
	prefix   string
	js       jetstream.JetStream
	stream   jetstream.Stream
	nats     *testkit.NATS
	topo     bus.Topology
	registry *prometheus.Registry
}

type harnessOpts struct {
	rateLimit, authRateLimit int
	webDir                   string
	// shards: chat shards beyond the main database (named s1, s2, …); new
	// chats go to them only (main weighs 0).
	shards       []sqlstore.ShardDSN
	redisBackend string // testkit.RedisSingle when ""
}

// onRedis runs the harness's gateway on a Redis backend (testkit.RedisBackends).
func onRedis(backend string) func(*harnessOpts) {
	return func(o *harnessOpts) { o.redisBackend = backend }
}

// A Redis Cluster for the tests that run on it too (onRedis), stopped after them.
func TestMain(m *testing.M) { os.Exit(testkit.MainWithRedisCluster(m)) }

func newHarness(t *testing.T, opts ...func(*harnessOpts)) *harness {
	t.Helper()
	var o harnessOpts
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	n := testkit.StartNATS(t)
	nc, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 2
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, topo.Stream)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testkit.MySQL(t)
	var storeOpts []sqlstore.Option
	if len(o.shards) > 0 {
		weights := map[string]int{sqlstore.MainShard: 0}
		for _, sh := range o.shards {
			weights[sh.Name] = 1
		}
		storeOpts = append(storeOpts, sqlstore.WithShards(o.shards), sqlstore.WithShardWeights(weights),
			sqlstore.WithDirectoryTTL(100*time.Millisecond))
	}
	st, err := sqlstore.Open(ctx, dsn, storeOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if o.redisBackend == "" {
		o.redisBackend = testkit.RedisSingle
	}
	rdb, prefix := testkit.RedisOn(t, o.redisBackend)
	cache := chatcache.New(rdb, prefix, st)

	pub := bus.NewPublisher(js, bus.DefaultPublisherConfig(), nil)
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(pctx) }()
	t.Cleanup(func() { stop(); <-done })

	passwords, err := auth.NewPasswords(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := server.Config{
		Store: st, Cache: cache, Log: chatlog.New(pub, js, stream, time.Second),
		Updates:   updates.New(rdb, prefix, 0, 0),
		Passwords: passwords, Tokens: auth.NewTokens(jwtSecret, time.Hour),
		// As in production: logouts and failed logins shared through Redis.
		Revocations:  auth.NewRedisRevocations(rdb, prefix, quietLog),
		LoginLimiter: auth.NewLoginLimiter(rdb, prefix, 10, 15*time.Minute),
		Realtime:     rtoken.New(realtimeSecret, time.Hour), RealtimeURL: realtimeURL,
		Logger:   quietLog,
		Registry: reg,
		Checks:   obs.Checks{"mysql": st.Ping, "redis": cache.Ping, "nats": bus.PingNATS(js)},

		RateLimitPerMinute: o.rateLimit, AuthRateLimitPerMinute: o.authRateLimit,
		WebDir: o.webDir,
		// As in production, so that every test also checks that cached
		// membership never lets a removed member back in.
		MembershipTTL: 30 * time.Second,
		NATS:          nc,
		// A short sweep of the outbox, so that a test of a log outage sees
		// the staged events soon after the log is back.
		Outbox: outbox.Config{Sweep: 50 * time.Millisecond},
	}
	h := &harness{t: t, cfg: cfg, dsn: dsn, nats: n, store: st, cache: cache, rdb: rdb, prefix: prefix, js: js, stream: stream, topo: topo, registry: reg}
	h.serve()
	return h
}

// serve builds the app from h.cfg and serves it on a port of its own: the
// requests go through a real connection, as a client's would.
func (h *harness) serve() {
	h.t.Helper()
	srv := server.New(h.cfg)
	h.app = srv.App
	// The relay of staged events runs until after the app has shut down
	// (cleanups run last registered first).
	ctx, stop := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = srv.Run(ctx) }()
	h.t.Cleanup(func() { stop(); <-relayDone })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.base = "http://" + ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = h.app.Listener(ln) }()
	app := h.app
	h.t.Cleanup(func() { _ = app.Shutdown(); <-done })
}

// variant is another gateway over the same services, its config changed by mod.
func (h *harness) variant(mod func(*server.Config)) *harness {
	v := *h
	v.cfg.Registry = prometheus.NewRegistry()
	mod(&v.cfg)
	v.registry = v.cfg.Registry
	v.serve()
	return &v
}

// startProjections runs the persister's and cachewarm's projections of the log
// (MySQL history and read positions, the Redis chat list) until the test ends.
func (h *harness) startProjections() {
	h.t.Helper()
	persist := projection.New(h.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	warm := bus.HandlerFunc(h.cache.ApplyEvents)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name, handler := range map[string]bus.Handler{"persister": persist, "cachewarm": warm} {
		r := &bus.Runner{JS: h.js, Topology: h.topo, Config: bus.DefaultRunnerConfig(name, 100), Handler: handler,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				h.t.Errorf("%s runner: %v", name, err)
			}
		}()
	}
	h.t.Cleanup(func() { cancel(); wg.Wait() })
}

// startNotifier runs the notifier's relay, with its update streams in the
// test's Redis, against a Centrifugo of the test's own.
func (h *harness) startNotifier() {
	h.t.Helper()
	c := testkit.StartCentrifugo(h.t)
	rl := relay.New(relay.Config{APIURL: c.URL + "/api", APIKey: c.APIKey, Updates: updates.New(h.rdb, h.prefix, 0, 0), Members: h.store},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	r := &bus.Runner{JS: h.js, Topology: h.topo, Config: bus.DefaultRunnerConfig("notifier", 100), Handler: rl,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			h.t.Errorf("notifier runner: %v", err)
		}
	}()
	h.t.Cleanup(func() { cancel(); <-done })
}

// response is an answer of the app.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode checks the body is API.md's error shape and returns its code.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d: body %q is not an API error", r.status, r.body)
	}
	return e.Error.Code
}

// raw is a request body sent as it is.
type raw []byte

// do sends a request; body is nil, raw or any value (sent as JSON).
func (h *harness) do(method, path, token string, body any) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case raw:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	ct := ""
	if rd != nil {
		ct = "application/json"
	}
	return h.send0(method, path, token, ct, rd)
}

// doRaw sends a body as it is, with its Content-Type.
func (h *harness) doRaw(method, path, token, contentType string, body []byte) response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	return h.send0(method, path, token, contentType, rd)
}

// failsRaw is fails for doRaw.
func (h *harness) failsRaw(status int, code, method, path, token, contentType string, body []byte) {
	h.t.Helper()
	r := h.doRaw(method, path, token, contentType, body)
	if r.status != status || r.errorCode(h.t) != code {
		h.t.Fatalf("%s %s: %d %s, want %d %s", method, path, r.status, r.body, status, code)
	}
}

func (h *harness) send0(method, path, token, contentType string, rd io.Reader) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request, checks the status and decodes the answer into out.
func (h *harness) must(want int, method, path, token string, body, out any) response {
	h.t.Helper()
	r := h.do(method, path, token, body)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(h.t, out)
	}
	return r
}

// fails checks that a request is rejected with status and code.
func (h *harness) fails(status int, code, method, path, token string, body any) {
	h.t.Helper()
	r := h.do(method, path, token, body)
	if r.status != status {
		h.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	if got := r.errorCode(h.t); got != code {
		h.t.Fatalf("%s %s: code %q, want %q", method, path, got, code)
	}
}

// API objects as a client decodes them; times stay strings so that their
// format can be checked.
type userJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	AvatarURL *string `json:"avatar_url"`
}

type messageJSON struct {
	ID        int64    `json:"id"`
	ChatID    int64    `json:"chat_id"`
	Author    userJSON `json:"author"`
	Text      string   `json:"text"`
	SentAt    string   `json:"sent_at"`
	ClientID  string   `json:"client_id"`
	ReplyToID *int64   `json:"reply_to_id"`
	EditedAt  *string  `json:"edited_at"`
	ReplyTo   *struct {
		ID     int64    `json:"id"`
		Author userJSON `json:"author"`
		Text   string   `json:"text"`
	} `json:"reply_to"`
	ForwardedFrom *struct {
		MessageID int64    `json:"message_id"`
		ChatID    *int64   `json:"chat_id"`
		Author    userJSON `json:"author"`
		SentAt    string   `json:"sent_at"`
	} `json:"forwarded_from"`
}

type summaryJSON struct {
	ID            int64        `json:"id"`
	Kind          string       `json:"kind"`
	Title         string       `json:"title"`
	Channel       string       `json:"channel"`
	MembersCount  int          `json:"members_count"`
	LastMessage   *messageJSON `json:"last_message"`
	UnreadCount   int          `json:"unread_count"`
	ReadMessageID int64        `json:"read_message_id"`
	UpdatedAt     string       `json:"updated_at"`
}

type memberJSON struct {
	User userJSON `json:"user"`
	Role string   `json:"role"`
}

type chatJSON struct {
	summaryJSON
	CreatedAt string       `json:"created_at"`
	Members   []memberJSON `json:"members"`
}

type historyJSON struct {
	Messages []messageJSON `json:"messages"`
	HasMore  bool          `json:"has_more"`
}

type listJSON struct {
	Chats      []summaryJSON `json:"chats"`
	NextCursor *string       `json:"next_cursor"`
}

// client is a registered user.
type client struct {
	userJSON
	token string
}

func (h *harness) register(name string) client {
	h.t.Helper()
	var out struct {
		User  userJSON `json:"user"`
		Token string   `json:"token"`
	}
	h.must(http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]string{"name": name, "password": "password-" + name}, &out)
	return client{userJSON: out.User, token: out.Token}
}

func (h *harness) direct(a client, b client) chatJSON {
	h.t.Helper()
	var c chatJSON
	r := h.do("POST", "/api/v1/chats", a.token, map[string]any{"member_ids": []int64{b.ID}})
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		h.t.Fatalf("create direct chat: %d %s", r.status, r.body)
	}
	r.decode(h.t, &c)
	return c
}

func (h *harness) group(admin client, title string, others ...client) chatJSON {
	h.t.Helper()
	ids := []int64{}
	for _, o := range others {
		ids = append(ids, o.ID)
	}
	var c chatJSON
	h.must(http.StatusCreated, "POST", "/api/v1/chats", admin.token, map[string]any{"title": title, "member_ids": ids}, &c)
	return c
}

func (h *harness) send(c client, chatID int64, text, clientID string) messageJSON {
	h.t.Helper()
	var out struct {
		Message messageJSON `json:"message"`
	}
	h.must(http.StatusAccepted, "POST", fmt.Sprintf("/api/v1/chats/%d/messages", chatID), c.token,
		map[string]any{"text": text, "client_id": clientID}, &out)
	return out.Message
}

// logCount is the number of events in the log.
func (h *harness) logCount() uint64 {
	h.t.Helper()
	info, err := h.stream.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

// lastEvent is the newest event in the log.
func (h *harness) lastEvent() event.Event {
	h.t.Helper()
	ctx := context.Background()
	info, err := h.stream.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := h.stream.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		h.t.Fatal(err)
	}
	env, err := event.Decode(m.Data)
	if err != nil {
		h.t.Fatal(err)
	}
	return event.Event{Seq: m.Sequence, Envelope: env}
}

// chatEvents lists the events of one chat in the log, in log order.
func (h *harness) chatEvents(chatID int64) []event.Event {
	h.t.Helper()
	ctx := context.Background()
	info, err := h.stream.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []event.Event
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := h.stream.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatal(err)
		}
		env, err := event.Decode(m.Data)
		if err != nil {
			h.t.Fatal(err)
		}
		if env.ChatID == chatID {
			out = append(out, event.Event{Seq: seq, Envelope: env})
		}
	}
	return out
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chatPath(id int64, rest string) string { return fmt.Sprintf("/api/v1/chats/%d%s", id, rest) }

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

var quietRedis sync.Once

// brokenRedis is a Redis client for a port nobody listens on.
func brokenRedis(t *testing.T) redis.UniversalClient {
	// go-redis logs every failed dial; here failing is the point.
	quietRedis.Do(func() { redis.SetLogger(nopLogger{}) })
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

type nopLogger struct{}

func (nopLogger) Printf(context.Context, string, ...any) {}
