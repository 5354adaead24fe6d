package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
)

// A subscriber that drops its connection and comes back within the channel's
// history window recovers every publication it missed, in order, once.
func TestReconnectRecoversMissedPublications(t *testing.T) {
	sys := harness.Start(t, harness.Options{})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	chat := alice.DirectChat(bob.User.ID)
	rt := bob.Connect()
	rt.Subscribe(chat.Channel)

	var ids []int64
	send := func(from, to int) {
		for i := from; i < to; i++ {
			m, err := alice.Send(chat.ID, fmt.Sprint("m", i), fmt.Sprint("rc-", i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
	}
	send(0, 10)
	harness.Eventually(t, 10*time.Second, "the first 10 live", func() (bool, string) {
		return len(rt.MessageIDs(chat.Channel)) == 10, fmt.Sprint(len(rt.MessageIDs(chat.Channel)))
	})
	if err := rt.Disconnect(); err != nil {
		t.Fatal(err)
	}
	send(10, 40) // published while bob is away
	// Until the notifier has published them: then only recovery can bring them.
	harness.Eventually(t, 20*time.Second, "40 publications in the channel's history", func() (bool, string) {
		n, err := historySize(sys, chat.Channel)
		return err == nil && n == 40, fmt.Sprint(n, err)
	})
	if err := rt.Reconnect(); err != nil {
		t.Fatal(err)
	}
	send(40, 50)
	harness.Eventually(t, 20*time.Second, "all 50 after the reconnect", func() (bool, string) {
		return len(rt.MessageIDs(chat.Channel)) >= 50, fmt.Sprint(len(rt.MessageIDs(chat.Channel)))
	})
	got := rt.MessageIDs(chat.Channel)
	if !slices.Equal(got, ids) {
		t.Fatalf("after the reconnect got %v, want %v (every missed publication, in order, once)", got, ids)
	}
	resub, failed := rt.Counts(chat.Channel)
	if resub != 1 || failed != 0 {
		t.Fatalf("resubscribed %d times, recovery failed %d times; want one successful recovery", resub, failed)
	}
}

// historySize asks Centrifugo's server API how many publications a channel keeps.
func historySize(sys *harness.System, channel string) (int, error) {
	body, _ := json.Marshal(map[string]any{"channel": channel, "limit": 1000})
	req, _ := http.NewRequest("POST", sys.Centrifugo.URL+"/api/history", bytes.NewReader(body))
	req.Header.Set("X-API-Key", sys.Centrifugo.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Publications []json.RawMessage `json:"publications"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	return len(out.Result.Publications), nil
}
