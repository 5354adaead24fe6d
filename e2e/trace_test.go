package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/shared/obs"
	"github.com/logchat/testkit"
)

// One trace per message, seen in the logs (docs/design.md, "Logs and
// traces"): a message sent with a known W3C traceparent leaves lines with
// that trace.id in the gateway, the persister, cachewarm and the notifier;
// a group created with another traceparent (its event goes through the
// outbox) leaves that trace in the three workers. Every line every process
// wrote during the run is valid ECS as obs.CheckECSLine has it, and none
// holds a secret, a password or a token.
func TestOneTracePerMessageInTheLogs(t *testing.T) {
	jwtSecret := "e2e-trace-jwt-" + testkit.RandomID()
	sys := harness.Start(t, harness.Options{Partitions: 2, Env: []string{"LOG_LEVEL=debug", "JWT_SECRET=" + jwtSecret}})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")

	const (
		chatTrace = "0af7651916cd43dd8448eb211c80319c"
		msgTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	)
	post := func(path, traceID string, body any, out any) int {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", sys.GatewayURL+"/api/v1"+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: %d, %v", path, resp.StatusCode, err)
		}
		return resp.StatusCode
	}
	var chat harness.Chat
	if st := post("/chats", chatTrace, map[string]any{"title": "traced", "member_ids": []int64{bob.User.ID}}, &chat); st != http.StatusCreated || chat.ID == 0 {
		t.Fatalf("create group: %d %+v", st, chat)
	}
	var sent struct{ Message struct{ ID int64 } }
	if st := post(fmt.Sprintf("/chats/%d/messages", chat.ID), msgTrace, map[string]any{"text": "where did I go?", "client_id": "trace-1"}, &sent); st != http.StatusAccepted {
		t.Fatalf("send: %d", st)
	}
	msgID := fmt.Sprint(sent.Message.ID)

	procs := map[string]*harness.Proc{}
	for _, name := range []string{"gateway", "persister", "cachewarm", "notifier"} {
		ps := sys.Procs(name)
		if len(ps) != 1 {
			t.Fatalf("%d %s processes", len(ps), name)
		}
		procs[name] = ps[0]
	}
	// withTrace returns the lines of a process's log that carry traceID.
	withTrace := func(name, traceID string) []map[string]any {
		var out []map[string]any
		for _, l := range readLines(t, procs[name].LogPath) {
			var m map[string]any
			if json.Unmarshal(l, &m) == nil && m["trace.id"] == traceID {
				out = append(out, m)
			}
		}
		return out
	}
	// The message's journey: the request in the gateway, the event in each worker.
	harness.Eventually(t, 60*time.Second, "the message's trace in every process's log", func() (bool, string) {
		missing := []string{}
		for name := range procs {
			found := false
			for _, m := range withTrace(name, msgTrace) {
				if name == "gateway" && m["message"] == "request" && m["labels.message_id"] == msgID &&
					m["http.request.method"] == "POST" && m["http.response.status_code"] == float64(http.StatusAccepted) {
					found = true
				}
				if name != "gateway" && m["message"] == "event applied" && m["labels.message_id"] == msgID &&
					m["event.action"] == "message.created" && m["labels.chat_id"] == fmt.Sprint(chat.ID) {
					found = true
				}
			}
			if !found {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0, "missing in " + strings.Join(missing, ", ")
	})
	// The group's creation went through the outbox, and kept its request's trace.
	harness.Eventually(t, 60*time.Second, "the group's trace in every worker's log", func() (bool, string) {
		for _, name := range []string{"persister", "cachewarm", "notifier"} {
			found := false
			for _, m := range withTrace(name, chatTrace) {
				found = found || (m["event.action"] == "chat.created" && m["labels.chat_id"] == fmt.Sprint(chat.ID))
			}
			if !found {
				return false, "not in " + name
			}
		}
		return true, ""
	})

	// Stopped, every process has written all it will.
	for _, p := range procs {
		p.Terminate(10 * time.Second)
	}
	secrets := []string{jwtSecret, sys.Centrifugo.APIKey, sys.Centrifugo.HMACSecret, alice.Token, bob.Token, "correct horse"}
	for name, p := range procs {
		ls := readLines(t, p.LogPath)
		if len(ls) < 5 {
			t.Errorf("%s wrote %d lines", name, len(ls))
		}
		for _, l := range ls {
			if err := obs.CheckECSLine(l); err != nil {
				t.Errorf("%s: %v\n%s", name, err, l)
			}
			for _, s := range secrets {
				if s != "" && bytes.Contains(l, []byte(s)) {
					t.Errorf("%s logged a secret: %s", name, l)
				}
			}
		}
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}
