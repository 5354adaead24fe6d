package server_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/logchat/gateway/server"
	"github.com/logchat/shared/obs"
)

func TestHealth(t *testing.T) {
	h := newHarness(t)

	var ok map[string]any
	h.must(http.StatusOK, "GET", "/healthz", "", nil, &ok)
	h.must(http.StatusOK, "GET", "/readyz", "", nil, &ok)
	if ok["status"] != "ok" {
		t.Fatalf("readyz %v", ok)
	}

	down := h.variant(func(c *server.Config) {
		c.Checks = obs.Checks{
			"mysql": h.store.Ping,
			"redis": func(context.Context) error { return errors.New("connection refused") },
		}
	})
	var failing struct {
		Status  string   `json:"status"`
		Failing []string `json:"failing"`
	}
	r := down.must(http.StatusServiceUnavailable, "GET", "/readyz", "", nil, &failing)
	if failing.Status != "unavailable" || strings.Join(failing.Failing, ",") != "redis" {
		t.Fatalf("readyz %+v", failing)
	}
	// The public /readyz names the dependency, never its error (which
	// names hosts, ports, drivers).
	if strings.Contains(string(r.body), "connection refused") || strings.Contains(string(r.body), "errors") {
		t.Fatalf("public readyz shows a dependency's error: %s", r.body)
	}

	alice := h.register("alice")
	h.must(http.StatusOK, "GET", "/api/v1/me", alice.token, nil, nil)
	h.do("GET", "/api/v1/me", "", nil)
	// /metrics is not on the public address; the registry is what the
	// internal listener serves.
	h.fails(http.StatusNotFound, "not_found", "GET", "/metrics", "", nil)
	var metrics strings.Builder
	families, err := h.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if _, err := expfmt.MetricFamilyToText(&metrics, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`logchat_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1`,
		`logchat_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1`,
		`logchat_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 1`,
		`logchat_http_request_seconds_bucket{method="GET",route="/api/v1/me"`,
	} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %s in\n%s", want, metrics.String())
		}
	}
}

func TestFiberErrorsUseTheContractFormat(t *testing.T) {
	h := newHarness(t)
	alice := h.register("alice")
	h.fails(http.StatusNotFound, "not_found", "GET", "/api/v1/nope", alice.token, nil)
	h.fails(http.StatusNotFound, "not_found", "GET", "/nope", "", nil)
	h.fails(http.StatusMethodNotAllowed, "not_found", "PUT", "/api/v1/me", alice.token, nil)
	h.fails(http.StatusRequestEntityTooLarge, "payload_too_large", "POST", "/api/v1/auth/register", "",
		raw(`{"name": "x", "password": "`+strings.Repeat("p", 64<<10)+`"}`))
	h.fails(http.StatusBadRequest, "invalid_argument", "POST", "/api/v1/auth/login", "", raw(`{nope`))
	r := h.do("GET", "/api/v1/nope", "", nil)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	if r.header.Get("X-Request-ID") == "" {
		t.Fatal("no X-Request-ID")
	}
}

func TestRateLimit(t *testing.T) {
	h := newHarness(t, func(o *harnessOpts) { o.rateLimit = 3; o.authRateLimit = 2 })
	alice := h.register("alice")
	h.register("bob")
	h.fails(http.StatusTooManyRequests, "rate_limited", "POST", "/api/v1/auth/register", "",
		map[string]string{"name": "carol", "password": "12345678"})
	for range 3 {
		h.must(http.StatusOK, "GET", "/api/v1/me", alice.token, nil, nil)
	}
	r := h.do("GET", "/api/v1/me", alice.token, nil)
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d %s, Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	// The limit is the user's, the health endpoints have none.
	h.must(http.StatusOK, "GET", "/healthz", "", nil, nil)
	h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", "", nil)
}

func TestWebClient(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<!doctype html><title>logchat</title>", "assets/app.js": "console.log(1)"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, func(o *harnessOpts) { o.webDir = dir })
	for path, want := range map[string]string{
		"/":               "<!doctype html>",
		"/index.html":     "<!doctype html>",
		"/assets/app.js":  "console.log",
		"/chats/42":       "<!doctype html>", // the client's own route
		"/login?next=%2F": "<!doctype html>",
	} {
		r := h.must(http.StatusOK, "GET", path, "", nil, nil)
		if !strings.HasPrefix(string(r.body), want) {
			t.Errorf("GET %s: %q", path, r.body)
		}
	}
	h.fails(http.StatusNotFound, "not_found", "GET", "/api/v1/nope", "", nil)
	h.fails(http.StatusNotFound, "not_found", "GET", "/api/nope", "", nil)
	h.must(http.StatusOK, "GET", "/healthz", "", nil, nil)
	// /metrics is not the client's either: a JSON 404 (the gateway serves
	// it on its internal listener).
	h.fails(http.StatusNotFound, "not_found", "GET", "/metrics", "", nil)
	h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/chats", "", nil)
}
