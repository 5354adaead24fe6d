package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// TestRun starts the whole gateway from its environment, as the binary does,
// sends a message through it and stops it.
func TestRun(t *testing.T) {
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	// The gateway's NATS user may not create streams: the admin provisions
	// them first, as `make up` does.
	topo := bus.DefaultTopology()
	topo.Partitions = 2
	if err := bus.ProvisionStreams(context.Background(), js, topo); err != nil {
		t.Fatal(err)
	}
	_, prefix := testkit.Redis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	internalAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	dsn := testkit.MySQL(t)
	// The migrate command owns the schema; the gateway only waits for it.
	st, err := sqlstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for k, v := range map[string]string{
		"NATS_URL": n.URL, "NATS_PASSWORD": n.Password("gateway"),
		"MYSQL_DSN": dsn, "REDIS_ADDR": testkit.RedisAddr(), "REDIS_PREFIX": prefix,
		"GATEWAY_ADDR": addr, "GATEWAY_INTERNAL_ADDR": internalAddr, "JWT_SECRET": "run-test-secret-" + testkit.RandomID(),
		"CENTRIFUGO_HMAC_SECRET": "run-test-hmac-" + testkit.RandomID(), "BCRYPT_COST": "4",
		"CENTRIFUGO_API_KEY": "run-test-api-key-" + testkit.RandomID(),
		"STREAM_PARTITIONS":  "2", "WEB_DIR": filepath.Join(t.TempDir(), "absent"),
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("gateway not ready in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	post := func(path, token string, body any, out any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+"/api/v1"+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	type session struct {
		User  struct{ ID int64 } `json:"user"`
		Token string             `json:"token"`
	}
	var a, b session
	if s := post("/auth/register", "", map[string]string{"name": "alice", "password": "12345678"}, &a); s != 201 {
		t.Fatalf("register: %d", s)
	}
	if s := post("/auth/register", "", map[string]string{"name": "bob", "password": "12345678"}, &b); s != 201 {
		t.Fatalf("register: %d", s)
	}
	var chat struct{ ID int64 }
	if s := post("/chats", a.Token, map[string]any{"member_ids": []int64{b.User.ID}}, &chat); s != 201 {
		t.Fatalf("create chat: %d", s)
	}
	var sent struct{ Message struct{ ID int64 } }
	if s := post(fmt.Sprintf("/chats/%d/messages", chat.ID), a.Token, map[string]any{"text": "hi", "client_id": "run-1"}, &sent); s != 202 {
		t.Fatalf("send: %d", s)
	}
	stream, err := js.Stream(context.Background(), "CHAT")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(context.Background()); err != nil || info.State.LastSeq != uint64(sent.Message.ID) {
		t.Fatalf("stream %+v %v, message id %d", info, err, sent.Message.ID)
	}

	// /metrics is on the internal listener, and on the public one too by
	// default (API.md: "beside /api/v1"; GATEWAY_PUBLIC_METRICS=false turns
	// that off, e2e/security_test.go); /readyz on both, with the
	// dependencies' errors on the internal one only.
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + internalAddr + "/metrics"); code != http.StatusOK ||
		!strings.Contains(body, `logchat_http_requests_total{method="POST",route="/api/v1/auth/register",status="201"} 2`) {
		t.Fatalf("internal /metrics: %d\n%s", code, body)
	}
	if code, body := get(base + "/metrics"); code != http.StatusOK || !strings.Contains(body, "logchat_http_requests_total") {
		t.Fatalf("public /metrics by default: %d %.300s", code, body)
	}
	for _, u := range []string{base, "http://" + internalAddr} {
		if code, body := get(u + "/readyz"); code != http.StatusOK {
			t.Fatalf("%s/readyz: %d %s", u, code, body)
		}
		if code, _ := get(u + "/healthz"); code != http.StatusOK {
			t.Fatalf("%s/healthz: %d", u, code)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop in 20s")
	}
	for _, u := range []string{base, "http://" + internalAddr} {
		if _, err := http.Get(u + "/healthz"); err == nil {
			t.Fatalf("%s still serving after shutdown", u)
		}
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Setenv("JWT_TTL", "soon")
	t.Setenv("JWT_SECRET", "short")
	t.Setenv("RATE_LIMIT_PER_MINUTE", "-1")
	err := run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, v := range []string{"JWT_TTL", "JWT_SECRET", "RATE_LIMIT_PER_MINUTE"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
}

// The gateway refuses to start with a secret that is missing, empty or one
// this repository once committed, and says which variable without its value.
func TestRunRefusesMissingAndDevelopmentSecrets(t *testing.T) {
	const devJWT = "dev-jwt-secret-change-me"
	t.Setenv("JWT_SECRET", devJWT)
	t.Setenv("CENTRIFUGO_HMAC_SECRET", "") // empty counts as unset
	t.Setenv("NATS_PASSWORD", "dev-centrifugo-api-key-change-me")
	var logged strings.Builder
	err := run(context.Background(), slog.New(slog.NewJSONHandler(&logged, nil)))
	if err == nil {
		t.Fatal("development and missing secrets accepted")
	}
	for _, v := range []string{"JWT_SECRET", "CENTRIFUGO_HMAC_SECRET", "NATS_PASSWORD"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
	for _, secret := range []string{devJWT, "dev-centrifugo-api-key-change-me"} {
		if strings.Contains(err.Error(), secret) || strings.Contains(logged.String(), secret) {
			t.Errorf("a secret's value reached the error or the log:\n%v\n%s", err, logged.String())
		}
	}
	if !strings.Contains(logged.String(), `"JWT_SECRET":"***"`) {
		t.Errorf("the start-up config log does not show JWT_SECRET masked: %s", logged.String())
	}
}
