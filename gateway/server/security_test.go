package server_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/gateway/server"
	"github.com/logchat/shared/domain"
)

// waitSubscribed waits until a revocation list listens for other instances'
// logouts.
func waitSubscribed(t *testing.T, r *auth.RedisRevocations) {
	t.Helper()
	select {
	case <-r.Subscribed():
	case <-time.After(10 * time.Second):
		t.Fatal("the revocation list did not subscribe within 10 s")
	}
}

// instance is another gateway over the same MySQL, NATS and Redis, with
// tokens and a revocation list of its own (as a second process would have):
// only Redis carries a logout from one to the other.
func (h *harness) instance() (*harness, *auth.RedisRevocations) {
	h.t.Helper()
	rev := auth.NewRedisRevocations(h.rdb, h.prefix, quietLog)
	v := h.variant(func(c *server.Config) {
		c.Tokens = auth.NewTokens(jwtSecret, time.Hour)
		c.Revocations = rev
	})
	waitSubscribed(h.t, rev)
	return v, rev
}

// Logout through one instance: the token is refused by it at once, by every
// other instance (one that had verified and remembered it included) as soon
// as the announcement arrives, and by an instance started afterwards; the
// user's other tokens stay valid.
func TestLogoutIsRefusedOnEveryInstance(t *testing.T) {
	base := newHarness(t)
	a, _ := base.instance()
	b, _ := base.instance()
	alice := a.register("alice")
	var other struct {
		Token string `json:"token"`
	}
	a.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"name": "alice", "password": "password-alice"}, &other)
	for _, inst := range []*harness{a, b} {
		inst.must(http.StatusOK, "GET", "/api/v1/me", alice.token, nil, nil) // b now remembers the token
	}

	r := a.do("POST", "/api/v1/auth/logout", alice.token, nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("logout: %d %q, want 204 and no body", r.status, r.body)
	}
	a.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", alice.token, nil)
	eventually(t, "the other instance refusing the logged-out token", func() bool {
		return b.do("GET", "/api/v1/me", alice.token, nil).status == http.StatusUnauthorized
	})
	b.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/chats", alice.token, nil)
	c, _ := base.instance() // never heard the announcement: asks the list
	c.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", alice.token, nil)
	// A logged-out token cannot log out again, nor can no token.
	b.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/api/v1/auth/logout", alice.token, nil)
	a.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/api/v1/auth/logout", "", nil)
	// The other device stays signed in everywhere.
	for _, inst := range []*harness{a, b, c} {
		inst.must(http.StatusOK, "GET", "/api/v1/me", other.Token, nil, nil)
	}
}

// When the revocation list cannot be asked, a token this instance has not
// verified before is refused with 503 (it may have been logged out), and so
// is a logout; never 401, which would sign the client out.
func TestRevocationListDownIsUnavailable(t *testing.T) {
	h := newHarness(t)
	alice := h.register("alice")
	down := h.variant(func(c *server.Config) {
		c.Tokens = auth.NewTokens(jwtSecret, time.Hour)
		c.Revocations = auth.NewRedisRevocations(brokenRedis(t), h.prefix, quietLog)
	})
	down.fails(http.StatusServiceUnavailable, "unavailable", "GET", "/api/v1/me", alice.token, nil)
	down.fails(http.StatusServiceUnavailable, "unavailable", "POST", "/api/v1/auth/logout", alice.token, nil)
	// A bad token is still 401: its signature is checked first.
	down.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", alice.token+"x", nil)
	h.must(http.StatusOK, "GET", "/api/v1/me", alice.token, nil, nil)
}

// countingStore counts the account lookups of logins.
type countingStore struct {
	server.Store
	byName atomic.Int64
}

func (s *countingStore) UserByName(ctx context.Context, name string) (domain.User, []byte, error) {
	s.byName.Add(1)
	return s.Store.UserByName(ctx, name)
}

// After LOGIN_MAX_FAILURES wrong passwords for one account, its logins are
// 429 with Retry-After, the right password included, without a lookup or a
// bcrypt; another account from the same address logs in; a second instance
// sees the same count.
func TestFailedLoginsAreLimitedPerAccount(t *testing.T) {
	base := newHarness(t)
	store := &countingStore{Store: base.store}
	limited := func(c *server.Config) {
		c.Store = store
		c.LoginLimiter = auth.NewLoginLimiter(base.rdb, base.prefix, 3, time.Minute)
	}
	h := base.variant(limited)
	h.register("alice")
	h.register("bob")
	login := func(inst *harness, name, password string) response {
		return inst.do("POST", "/api/v1/auth/login", "", map[string]string{"name": name, "password": password})
	}
	for i := range 3 {
		if r := login(h, "alice", "wrong-password"); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s, want 401", i+1, r.status, r.body)
		}
	}
	lookups := store.byName.Load()
	for _, name := range []string{"alice", "ALICE"} { // one account, whatever the case
		r := login(h, name, "password-alice")
		if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" {
			t.Fatalf("login of %s after 3 failures: %d %s, want 429 rate_limited", name, r.status, r.body)
		}
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q, want 1..60 seconds", r.header.Get("Retry-After"))
		}
	}
	if n := store.byName.Load(); n != lookups {
		t.Fatalf("a refused login looked the account up (and spent a bcrypt): %d lookups, want %d", n, lookups)
	}
	// Another instance shares the count.
	other := base.variant(limited)
	other.fails(http.StatusTooManyRequests, "rate_limited", "POST", "/api/v1/auth/login", "",
		map[string]string{"name": "alice", "password": "password-alice"})
	// Other accounts, from the same address, are not affected.
	if r := login(h, "bob", "password-bob"); r.status != http.StatusOK {
		t.Fatalf("bob after alice's lockout: %d %s, want 200", r.status, r.body)
	}
	// A success clears the count.
	for range 2 {
		login(h, "bob", "wrong-password")
	}
	h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"name": "bob", "password": "password-bob"}, nil)
	for range 2 {
		login(h, "bob", "wrong-password")
	}
	h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"name": "bob", "password": "password-bob"}, nil)
}

// A limiter whose Redis is down does not block logins.
func TestLoginLimiterDownDoesNotBlockLogins(t *testing.T) {
	h := newHarness(t)
	h.register("alice")
	down := h.variant(func(c *server.Config) {
		c.LoginLimiter = auth.NewLoginLimiter(brokenRedis(t), "x:", 1, time.Minute)
	})
	for range 2 {
		down.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/api/v1/auth/login", "",
			map[string]string{"name": "alice", "password": "wrong-password"})
	}
	down.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"name": "alice", "password": "password-alice"}, nil)
}

// sendRaw sends a request with a body as it is and extra headers.
func (h *harness) sendRaw(method, path string, header map[string]string, body []byte) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
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

// gzipBomb is a small gzip body that inflates to size zero bytes.
func gzipBomb(t *testing.T, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for written := 0; written < size; written += len(zeros) {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A compressed body is refused with 415 before anything inflates it: a gzip
// bomb (under 1 MiB on the wire, 512 MiB inflated) costs the gateway next to
// no memory. Identity is accepted.
func TestEncodedBodiesAreRefused(t *testing.T) {
	h := newHarness(t)
	alice := h.register("alice")
	const inflated = 512 << 20
	bomb := gzipBomb(t, inflated)
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes on the wire, want under 1 MiB", len(bomb))
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := h.sendRaw("POST", "/api/v1/auth/login", map[string]string{"Content-Encoding": "gzip"}, bomb)
	runtime.ReadMemStats(&after)
	if r.status != http.StatusUnsupportedMediaType || r.errorCode(t) != "invalid_argument" {
		t.Fatalf("gzip bomb: %d %s, want 415 invalid_argument", r.status, r.body)
	}
	// The gateway runs in this process: what it allocated for the request
	// is in TotalAlloc (the bomb on the wire, buffers), far from what
	// inflating it would take.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("the request allocated %d MiB: the body was inflated", grew>>20)
	}

	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	_, _ = fw.Write([]byte(`{"name":"alice","password":"password-alice"}`))
	_ = fw.Close()
	for _, enc := range []string{"gzip", "GZIP", "deflate", "br", "zstd", "compress", "identity, gzip", "x-unknown"} {
		r := h.sendRaw("POST", "/api/v1/auth/login", map[string]string{"Content-Encoding": enc}, deflated.Bytes())
		if r.status != http.StatusUnsupportedMediaType || r.errorCode(t) != "invalid_argument" {
			t.Fatalf("Content-Encoding %q: %d %s, want 415 invalid_argument", enc, r.status, r.body)
		}
	}
	// Every endpoint, authenticated ones too.
	r = h.sendRaw("POST", "/api/v1/chats", map[string]string{"Content-Encoding": "gzip", "Authorization": "Bearer " + alice.token}, bomb)
	if r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("gzip to /chats: %d %s, want 415", r.status, r.body)
	}
	// identity is no encoding.
	plain := []byte(`{"name":"alice","password":"password-alice"}`)
	for _, enc := range []string{"identity", "Identity", ""} {
		if r := h.sendRaw("POST", "/api/v1/auth/login", map[string]string{"Content-Encoding": enc}, plain); r.status != http.StatusOK {
			t.Fatalf("Content-Encoding %q: %d %s, want 200", enc, r.status, r.body)
		}
	}
	// The 64 KiB limit holds on the body as received.
	big := []byte(`{"name":"alice","password":"` + strings.Repeat("p", 70<<10) + `"}`)
	if r := h.sendRaw("POST", "/api/v1/auth/login", nil, big); r.status != http.StatusRequestEntityTooLarge || r.errorCode(t) != "payload_too_large" {
		t.Fatalf("70 KiB body: %d %s, want 413", r.status, r.body)
	}
}

// Every answer (API, errors, health, the web client) carries the browser
// protections: a CSP without inline scripts that allows Centrifugo's
// WebSocket, no framing, no sniffing, no Referer.
func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, func(o *harnessOpts) { o.webDir = webDist(t) })
	alice := h.register("alice")
	for _, r := range []response{
		h.do("GET", "/api/v1/me", alice.token, nil),
		h.do("GET", "/api/v1/me", "", nil),
		h.do("GET", "/api/v1/nowhere", "", nil),
		h.do("GET", "/healthz", "", nil),
		h.do("GET", "/", "", nil),
		h.do("GET", "/chats/42", "", nil),
	} {
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'",
			"object-src 'none'", "base-uri 'none'", "connect-src 'self' ws://127.0.0.1:1"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP %q allows inline script or eval", csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	}
	// The web client's page works under that policy: no inline script or
	// style, everything it loads from its own origin.
	page := h.must(http.StatusOK, "GET", "/", "", nil, nil)
	checkNoInlineScript(t, string(page.body))
}

// webDist is a web client folder holding the client's own index.html (the
// page Vite builds web/dist/index.html from, with the same tags).
func webDist(t *testing.T) string {
	t.Helper()
	page, err := os.ReadFile(filepath.Join("..", "..", "web", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	inlineStyle = regexp.MustCompile(`(?i)<style\b|\sstyle\s*=`)
	eventAttr   = regexp.MustCompile(`(?i)\son[a-z]+\s*=|javascript:`)
)

// checkNoInlineScript fails when a page needs what the CSP forbids: a
// script without src (or with a body), an inline style, an event handler
// attribute or a javascript: URL.
func checkNoInlineScript(t *testing.T, page string) {
	t.Helper()
	tags := scriptTag.FindAllStringSubmatch(page, -1)
	if len(tags) == 0 {
		t.Fatalf("no script in the page: %q", page)
	}
	for _, m := range tags {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script in the web client's page: %q", m[0])
		}
	}
	if inlineStyle.MatchString(page) {
		t.Errorf("inline style in the web client's page")
	}
	if eventAttr.MatchString(page) {
		t.Errorf("event handler attribute or javascript: URL in the web client's page")
	}
}

// Requests without a valid token are limited per client address, on every
// path; requests with one are not counted.
func TestAnonymousRequestsAreLimitedPerAddress(t *testing.T) {
	h := newHarness(t)
	alice := h.register("alice")
	v := h.variant(func(c *server.Config) { c.AnonRateLimitPerMinute = 4 })
	for _, r := range []response{
		v.do("GET", "/healthz", "", nil),
		v.do("GET", "/api/v1/me", "", nil),
		v.do("GET", "/api/v1/me", "not-a-token", nil),
		v.do("GET", "/api/v1/nowhere", "", nil),
	} {
		if r.status == http.StatusTooManyRequests {
			t.Fatalf("limited within the allowance: %s", r.body)
		}
	}
	for _, path := range []string{"/healthz", "/api/v1/me", "/api/v1/auth/login"} {
		r := v.do("GET", path, "bad", nil)
		if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
			t.Fatalf("GET %s over the allowance: %d %s (Retry-After %q), want 429 rate_limited", path, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	// A valid token is not anonymous: limited per user instead.
	for range 10 {
		v.must(http.StatusOK, "GET", "/api/v1/me", alice.token, nil, nil)
	}
}

// With TRUSTED_PROXIES, the client is the rightmost address of
// X-Forwarded-For that is not a trusted proxy: what the client writes
// itself (the left part) changes nothing. Without, the header is ignored.
func TestTrustedProxiesNameTheClient(t *testing.T) {
	h := newHarness(t)
	proxies, err := server.ParseTrustedProxies("127.0.0.1, 10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	behind := h.variant(func(c *server.Config) { c.AnonRateLimitPerMinute = 2; c.TrustedProxies = proxies })
	get := func(inst *harness, xff string) int {
		return inst.sendRaw("GET", "/healthz", map[string]string{"X-Forwarded-For": xff}, nil).status
	}
	for range 2 {
		if s := get(behind, "203.0.113.7"); s != http.StatusOK {
			t.Fatalf("within the allowance: %d", s)
		}
	}
	for _, xff := range []string{
		"203.0.113.7",
		"198.51.100.1, 203.0.113.7",           // the client wrote the first one
		"203.0.113.7, 10.1.2.3",               // through a second trusted proxy
		"198.51.100.2, 203.0.113.7, 10.0.0.9", // both
	} {
		if s := get(behind, xff); s != http.StatusTooManyRequests {
			t.Fatalf("X-Forwarded-For %q: %d, want 429 (the client is 203.0.113.7)", xff, s)
		}
	}
	if s := get(behind, "203.0.113.8"); s != http.StatusOK {
		t.Fatalf("another client behind the proxy: %d, want 200", s)
	}

	direct := h.variant(func(c *server.Config) { c.AnonRateLimitPerMinute = 2 })
	for i, xff := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if s := get(direct, xff); s != want {
			t.Fatalf("no trusted proxy, X-Forwarded-For %q: %d, want %d (the header is ignored)", xff, s, want)
		}
	}

	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1;"} {
		if _, err := server.ParseTrustedProxies(bad); err == nil {
			t.Errorf("TRUSTED_PROXIES %q accepted", bad)
		}
	}
}
