package testkit

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Centrifugo is a real Centrifugo process started with the project's config
// (deploy/centrifugo/config.template.json) with secrets of its own, on two
// free ports, as deployed: one for clients (WebSocket), an internal one for
// the server API and health.
type Centrifugo struct {
	// URL is the server API's base (http://127.0.0.1:internal-port; the API
	// is URL+"/api"), on the internal port: what the notifier is given.
	URL string
	// ClientURL is the clients' port (http://127.0.0.1:port), where the
	// server API must not answer.
	ClientURL  string
	WSURL      string // ws://127.0.0.1:port/connection/websocket
	APIKey     string
	HMACSecret string
	cmd        *exec.Cmd
	env        []string
	bin        string
	config     string
	t          testing.TB
}

// CentrifugoBin is the binary: $CENTRIFUGO_BIN, else .bin/centrifugo in the repo.
func CentrifugoBin(t testing.TB) string {
	if b := os.Getenv("CENTRIFUGO_BIN"); b != "" {
		return b
	}
	b := filepath.Join(RepoRoot(t), ".bin", "centrifugo")
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("centrifugo binary missing at %s: run `make tools` (it builds Centrifugo v6.9.1)", b)
	}
	return b
}

// StartCentrifugo starts Centrifugo and stops it when the test ends.
func StartCentrifugo(t testing.TB) *Centrifugo {
	t.Helper()
	port, internal := FreePort(t), FreePort(t)
	c := &Centrifugo{
		URL:        fmt.Sprintf("http://127.0.0.1:%d", internal),
		ClientURL:  fmt.Sprintf("http://127.0.0.1:%d", port),
		WSURL:      fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", port),
		APIKey:     "test-api-" + RandomID(),
		HMACSecret: "test-hmac-" + RandomID() + RandomID(),
		bin:        CentrifugoBin(t),
		config:     filepath.Join(RepoRoot(t), "deploy", "centrifugo", "config.template.json"),
		t:          t,
	}
	c.env = append(os.Environ(),
		"CENTRIFUGO_HTTP_SERVER_PORT="+strconv.Itoa(port),
		"CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT="+strconv.Itoa(internal),
		"CENTRIFUGO_HTTP_API_KEY="+c.APIKey,
		"CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY="+c.HMACSecret,
		"CENTRIFUGO_LOG_LEVEL=error",
	)
	c.Start(t)
	t.Cleanup(c.Stop)
	return c
}

// Start (re)starts the process and waits until its API answers.
func (c *Centrifugo) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(c.bin, "--config", c.config)
	cmd.Env = c.env
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start centrifugo: %v", err)
	}
	c.cmd = cmd
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("POST", c.URL+"/api/info", bytes.NewReader([]byte("{}")))
		req.Header.Set("X-API-Key", c.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("centrifugo did not answer within 15s")
}

// Stop kills the process (history is in memory and is lost, as in an outage).
func (c *Centrifugo) Stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_, _ = c.cmd.Process.Wait()
		c.cmd = nil
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	// The port is closed again before the caller binds it, so the kernel
	// may hand it out twice (it did: a gateway got the same port for its
	// two listeners). A port handed out before in this process is skipped.
	handedOutMu.Lock()
	defer handedOutMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut[port] {
			handedOut[port] = true
			return port
		}
	}
	t.Fatal("no free port that was not handed out before")
	return 0
}

var (
	handedOutMu sync.Mutex
	handedOut   = map[int]bool{}
)
