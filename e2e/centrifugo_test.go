package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/testkit"
)

// Centrifugo as deployed (the committed template, scripts/stack.sh's ports):
// its server API, which can publish to any channel, answers on the internal
// port only, never on the port clients reach; and one user cannot hold more
// connections than the template's client.user_connection_limit.
func TestCentrifugoServerAPIIsInternalAndConnectionsPerUserAreLimited(t *testing.T) {
	// The template itself keeps the API off the clients' port, for anyone
	// who runs it without scripts/stack.sh's variables; the ports below are
	// free ones given through the same variables stack.sh sets.
	tpl := readTemplate(t)
	if tpl.HTTPServer.InternalPort == "" || tpl.HTTPServer.InternalPort == fmt.Sprint(tpl.HTTPServer.Port) ||
		tpl.HTTPServer.InternalAddress != "127.0.0.1" || tpl.HTTPAPI.External {
		t.Fatalf("template http_server %+v, http_api.external %v: want the API on an internal port of its own on 127.0.0.1",
			tpl.HTTPServer, tpl.HTTPAPI.External)
	}
	c := testkit.StartCentrifugo(t)

	post := func(url, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("X-API-Key", c.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Both API forms: /api/<method> and the legacy /api the notifier's gocent
	// pipes use; and the health endpoint, which names nothing but is internal too.
	if code := post(c.URL+"/api/info", "{}"); code != http.StatusOK {
		t.Fatalf("server API on the internal port: %d, want 200", code)
	}
	if code := post(c.URL+"/api", `{"method":"info","params":{}}`); code != http.StatusOK {
		t.Fatalf("legacy server API on the internal port: %d, want 200", code)
	}
	for _, path := range []string{"/api/info", "/api", "/api/publish"} {
		if code := post(c.ClientURL+path, `{"channel":"chat:1","data":{}}`); code != http.StatusNotFound {
			t.Errorf("POST %s on the clients' port with the right key: %d, want 404 (not served there)", path, code)
		}
	}
	if resp, err := http.Get(c.ClientURL + "/health"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("health on the clients' port: %v %v, want 404", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	// A connection follows every chat its client has loaded: Centrifugo's
	// default of 128 channels cut users in more chats off without a word.
	if tpl.Client.ChannelLimit < 1024 {
		t.Errorf("client.channel_limit is %d: want at least 1024 (a user in 1,000 chats)", tpl.Client.ChannelLimit)
	}
	limit := tpl.Client.UserConnectionLimit
	if limit < 1 || limit > 100 {
		t.Fatalf("client.user_connection_limit is %d: want a small positive limit", limit)
	}
	var held []*centrifuge.Client
	for i := range limit {
		cl, r := connectAs(t, c, "7")
		if r != "connected" {
			t.Fatalf("connection %d of %d of one user: %s", i+1, limit, r)
		}
		held = append(held, cl)
	}
	// 3504: the server's DisconnectConnectionLimit, terminal for the client.
	if _, r := connectAs(t, c, "7"); !strings.HasPrefix(r, "disconnected 3504") {
		t.Fatalf("connection %d of one user: %s, want refused with 3504 (connection limit)", limit+1, r)
	}
	// The limit is per user: another user still gets in.
	if _, r := connectAs(t, c, "8"); r != "connected" {
		t.Fatalf("another user: %s", r)
	}
	// And it counts open connections, not attempts: once one closes, the
	// user may connect again (as soon as the server has seen it go).
	held[0].Close()
	harness.Eventually(t, 10*time.Second, "a connection in place of a closed one", func() (bool, string) {
		cl, r := connectAs(t, c, "7")
		if r != "connected" {
			cl.Close()
		}
		return r == "connected", r
	})
}

// centrifugoTemplate is what the tests check of the committed template,
// which every deployment starts from.
type centrifugoTemplate struct {
	HTTPServer struct {
		Port            int    `json:"port"`
		InternalAddress string `json:"internal_address"`
		InternalPort    string `json:"internal_port"`
	} `json:"http_server"`
	HTTPAPI struct {
		External bool `json:"external"`
	} `json:"http_api"`
	Client struct {
		UserConnectionLimit int `json:"user_connection_limit"`
		ChannelLimit        int `json:"channel_limit"`
	} `json:"client"`
}

func readTemplate(t *testing.T) centrifugoTemplate {
	t.Helper()
	var tpl centrifugoTemplate
	b := readFile(t, filepath.Join(testkit.RepoRoot(t), "deploy", "centrifugo", "config.template.json"))
	if err := json.Unmarshal([]byte(b), &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// connectAs opens a connection of user with a token signed by the server's
// secret and says how the server answered; the client is closed when the
// test ends.
func connectAs(t *testing.T, c *testkit.Centrifugo, user string) (*centrifuge.Client, string) {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(c.HMACSecret))
	if err != nil {
		t.Fatal(err)
	}
	cl := centrifuge.NewJsonClient(c.WSURL, centrifuge.Config{Token: tok})
	t.Cleanup(cl.Close)
	res := make(chan string, 4)
	cl.OnConnected(func(centrifuge.ConnectedEvent) { res <- "connected" })
	cl.OnDisconnected(func(e centrifuge.DisconnectedEvent) { res <- fmt.Sprintf("disconnected %d %s", e.Code, e.Reason) })
	if err := cl.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		return cl, r
	case <-time.After(10 * time.Second):
		return cl, "no answer in 10s"
	}
}
