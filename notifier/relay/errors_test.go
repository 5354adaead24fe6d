package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/event"
)

// fakeAPI is a stand-in for Centrifugo's /api that records every pipe and
// answers each command as told. Real Centrifugo cannot be made to fail one
// command of a pipe on demand; this can.
type fakeAPI struct {
	mu     sync.Mutex
	pipes  [][]string // per request, the message ids or channels published, in order
	status int        // HTTP status to answer; 0 means 200
	answer func(channel string, data json.RawMessage) *errorReply
}

type errorReply struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "apikey k" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	var pipe []string
	var out strings.Builder
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var cmd struct {
			Method string `json:"method"`
			Params struct {
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
			} `json:"params"`
		}
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if cmd.Method == "info" {
			out.WriteString(`{"result":{"nodes":[]}}` + "\n")
			continue
		}
		pipe = append(pipe, label(cmd.Params.Channel, cmd.Params.Data))
		var rep any = map[string]any{"result": map[string]any{}}
		if f.answer != nil {
			if e := f.answer(cmd.Params.Channel, cmd.Params.Data); e != nil {
				rep = map[string]any{"error": e}
			}
		}
		b, _ := json.Marshal(rep)
		out.Write(b)
		out.WriteByte('\n')
	}
	if pipe != nil {
		f.pipes = append(f.pipes, pipe)
	}
	_, _ = w.Write([]byte(out.String()))
}

// label names a publication: "m<id>" for a message, else the channel.
func label(channel string, data json.RawMessage) string {
	var p struct {
		Message *struct {
			ID int64 `json:"id"`
		} `json:"message"`
	}
	_ = json.Unmarshal(data, &p)
	if p.Message != nil {
		return fmt.Sprintf("m%d", p.Message.ID)
	}
	return channel
}

func (f *fakeAPI) takePipes() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pipes
	f.pipes = nil
	return p
}

func fakeRelay(t *testing.T, f *fakeAPI, maxPipe int) *relay.Relay {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return relay.New(relay.Config{APIURL: srv.URL + "/api", APIKey: "k", MaxPipe: maxPipe}, quiet, nil)
}

func failMessage(id int64, code int) func(string, json.RawMessage) *errorReply {
	return func(ch string, data json.RawMessage) *errorReply {
		if label(ch, data) == fmt.Sprintf("m%d", id) {
			return &errorReply{Code: code, Message: "refused"}
		}
		return nil
	}
}

func messages(t *testing.T, seqs ...uint64) []event.Event {
	out := make([]event.Event, len(seqs))
	for i, s := range seqs {
		out[i] = msg(t, s, 1, fmt.Sprint(s))
	}
	return out
}

func call(r *relay.Relay, evs []event.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Handle(ctx, evs)
}

func TestRefusedPublicationIsPermanentAndNotResentToOthers(t *testing.T) {
	f := &fakeAPI{answer: failMessage(2, 107)} // 107: bad request
	r := fakeRelay(t, f, 0)
	err := call(r, messages(t, 1, 2, 3))
	var perm *bus.PermanentError
	if !errors.As(err, &perm) || perm.Seq != 2 {
		t.Fatalf("err = %v, want a permanent error for event 2", err)
	}
	if got := fmt.Sprint(f.takePipes()); got != "[[m1 m2 m3]]" {
		t.Fatalf("pipes %s, want one pipe in log order", got)
	}
	// The runtime dead-letters 2 and calls again with the others: Centrifugo
	// already took them, so nothing is sent twice.
	if err := call(r, messages(t, 1, 3)); err != nil {
		t.Fatal(err)
	}
	if got := f.takePipes(); len(got) != 0 {
		t.Fatalf("retry sent %v again", got)
	}
	// Afterwards the same events are new again (e.g. a replay of the log).
	f.answer = nil
	if err := call(r, messages(t, 1, 3)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.takePipes()); got != "[[m1 m3]]" {
		t.Fatalf("after a success the relay still skips: %s", got)
	}
}

func TestInternalErrorIsRetriedWithOnlyWhatFailed(t *testing.T) {
	f := &fakeAPI{answer: failMessage(2, 100)} // 100: internal error, e.g. its broker is down
	r := fakeRelay(t, f, 0)
	err := call(r, messages(t, 1, 2, 3))
	var perm *bus.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("err = %v, want a plain (retryable) error", err)
	}
	f.takePipes()
	f.answer = nil
	if err := call(r, messages(t, 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.takePipes()); got != "[[m2]]" {
		t.Fatalf("retry sent %s, want only m2", got)
	}
}

func TestFailedRequestIsRetriedWhole(t *testing.T) {
	f := &fakeAPI{status: http.StatusServiceUnavailable}
	r := fakeRelay(t, f, 0)
	err := call(r, messages(t, 1, 2, 3))
	var perm *bus.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("err = %v, want a plain error", err)
	}
	f.status = 0
	if err := call(r, messages(t, 1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.takePipes()); got != "[[m1 m2 m3]]" {
		t.Fatalf("retry sent %s, want everything", got)
	}
}

// Big batches are split into pipes sent one after another; after a failed
// pipe the later ones are held back, so a chat's order is not overtaken.
func TestLargeBatchIsSplitAndStopsAtAFailedPipe(t *testing.T) {
	f := &fakeAPI{answer: failMessage(3, 100)}
	r := fakeRelay(t, f, 2)
	if err := call(r, messages(t, 1, 2, 3, 4, 5)); err == nil {
		t.Fatal("want an error")
	}
	if got := fmt.Sprint(f.takePipes()); got != "[[m1 m2] [m3 m4]]" {
		t.Fatalf("pipes %s, want [[m1 m2] [m3 m4]] and nothing after the failure", got)
	}
	f.answer = nil
	if err := call(r, messages(t, 1, 2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.takePipes()); got != "[[m3 m5]]" {
		t.Fatalf("retry sent %s, want [[m3 m5]]", got)
	}
}

func TestMalformedEventIsPermanentBeforeAnythingIsSent(t *testing.T) {
	f := &fakeAPI{}
	r := fakeRelay(t, f, 0)
	evs := messages(t, 1, 2, 3)
	evs[1].Data = json.RawMessage(`"not an object"`)
	err := call(r, evs)
	var perm *bus.PermanentError
	if !errors.As(err, &perm) || perm.Seq != 2 {
		t.Fatalf("err = %v, want permanent for event 2", err)
	}
	if got := f.takePipes(); len(got) != 0 {
		t.Fatalf("sent %v before finding the malformed event", got)
	}
}

func TestPingNeedsTheRightKey(t *testing.T) {
	f := &fakeAPI{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()
	if err := relay.New(relay.Config{APIURL: srv.URL + "/api", APIKey: "k"}, quiet, nil).Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := relay.New(relay.Config{APIURL: srv.URL + "/api", APIKey: "wrong"}, quiet, nil).Ping(ctx); err == nil {
		t.Fatal("ping with a wrong key succeeded")
	}
	srv.Close()
	if err := relay.New(relay.Config{APIURL: srv.URL + "/api", APIKey: "k"}, quiet, nil).Ping(ctx); err == nil {
		t.Fatal("ping of a stopped server succeeded")
	}
}
