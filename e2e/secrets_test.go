package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/logchat/testkit"
)

// The committed Centrifugo configuration is a template without secrets
// (scripts/stack.sh writes the real one). Run as it is, it must not work with
// anything a reader of the repository knows: its empty API key and HMAC
// secret, or the development values committed before.
func TestCommittedCentrifugoConfigHoldsNoWorkingSecret(t *testing.T) {
	port, internal := testkit.FreePort(t), testkit.FreePort(t)
	// The server API is on the internal port (the template's http_server.internal_port).
	base := fmt.Sprintf("http://127.0.0.1:%d", internal)
	cmd := exec.Command(testkit.CentrifugoBin(t), "--config",
		filepath.Join(testkit.RepoRoot(t), "deploy", "centrifugo", "config.template.json"))
	for _, kv := range os.Environ() { // the template alone decides, not the caller's CENTRIFUGO_*
		if !strings.HasPrefix(kv, "CENTRIFUGO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CENTRIFUGO_HTTP_SERVER_PORT="+strconv.Itoa(port),
		"CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT="+strconv.Itoa(internal), "CENTRIFUGO_LOG_LEVEL=error")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})

	api := func(key string) int {
		req, _ := http.NewRequest("POST", base+"/api/info", bytes.NewReader([]byte("{}")))
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(15 * time.Second)
	for api("") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("centrifugo did not answer within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, key := range []string{"", "dev-centrifugo-api-key-change-me"} {
		if code := api(key); code != http.StatusUnauthorized {
			t.Errorf("server API with key %q: %d, want 401", key, code)
		}
	}

	for _, secret := range []string{"", "dev-centrifugo-hmac-secret-change-me"} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "1", "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		c := centrifuge.NewJsonClient(fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", port), centrifuge.Config{Token: tok})
		res := make(chan string, 4)
		c.OnConnected(func(centrifuge.ConnectedEvent) { res <- "connected" })
		c.OnDisconnected(func(e centrifuge.DisconnectedEvent) { res <- fmt.Sprintf("disconnected %d %s", e.Code, e.Reason) })
		if err := c.Connect(); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-res:
			// 3500: the server read the token and refused it.
			if !strings.HasPrefix(r, "disconnected 3500") {
				t.Errorf("token signed with %q: %s, want refused as an invalid token", secret, r)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("token signed with %q: no answer in 10s", secret)
		}
		c.Close()
	}
}
