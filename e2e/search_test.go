package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/shared/domain"
)

// Message search over real processes: the searcher worker indexes what the
// gateway appended, and the gateway's GET /search/messages finds it; an edit
// is found by its new text only, a delete not at all.
func TestSearchLive(t *testing.T) {
	sys := harness.Start(t, harness.Options{})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	chat := alice.DirectChat(bob.User.ID)

	search := func(c *harness.Client, q string) []int64 {
		var page struct {
			Messages   []domain.Message `json:"messages"`
			NextCursor *string          `json:"next_cursor"`
		}
		c.Must(http.StatusOK, "GET", "/search/messages?q="+url.QueryEscape(q), nil, &page)
		var ids []int64
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		return ids
	}
	m1, err := alice.Send(chat.ID, "Квазары видны сегодня", fmt.Sprint("s1-", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := alice.Send(chat.ID, "Hello, quasars!", fmt.Sprint("s2-", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	accepted := time.Now()
	harness.Eventually(t, 20*time.Second, "bob finds both messages", func() (bool, string) {
		a, b := search(bob, "квазар"), search(bob, "HELLO quas")
		return slices.Equal(a, []int64{m1.ID}) && slices.Equal(b, []int64{m2.ID}), fmt.Sprint(a, b)
	})
	t.Logf("searchable %v after the 202", time.Since(accepted).Round(time.Millisecond))

	alice.Must(http.StatusOK, "PATCH", fmt.Sprintf("/chats/%d/messages/%d", chat.ID, m2.ID), map[string]string{"text": "Goodbye"}, nil)
	alice.Must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chats/%d/messages/%d", chat.ID, m1.ID), nil, nil)
	harness.Eventually(t, 20*time.Second, "the edit and the delete", func() (bool, string) {
		a, b, c := search(bob, "квазар"), search(bob, "hello"), search(bob, "goodbye")
		return len(a) == 0 && len(b) == 0 && slices.Equal(c, []int64{m2.ID}), fmt.Sprint(a, b, c)
	})
}
