package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/searcher/index"
)

// Message search (API.md 1.1, "Search") through the HTTP API, the log and
// the real projections: the persister (history, hides) and the searcher (the
// index).

// startSearcher runs the searcher's projection of the log until the test ends.
func (h *harness) startSearcher() {
	h.t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &bus.Runner{JS: h.js, Topology: h.topo, Config: bus.DefaultRunnerConfig("searcher", 100),
		Handler: index.New(h.store, quiet), Log: quiet}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.Run(ctx); err != nil && ctx.Err() == nil {
			h.t.Errorf("searcher runner: %v", err)
		}
	}()
	h.t.Cleanup(func() { cancel(); wg.Wait() })
}

type searchJSON struct {
	Messages   []messageJSON `json:"messages"`
	NextCursor *string       `json:"next_cursor"`
}

func searchPath(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return "/api/v1/search/messages?" + v.Encode()
}

// search is one page of c's search.
func (h *harness) search(c client, params ...string) searchJSON {
	h.t.Helper()
	var page searchJSON
	h.must(http.StatusOK, "GET", searchPath(params...), c.token, nil, &page)
	return page
}

// found is the ids c's search for q finds (one page of up to 200).
func (h *harness) found(c client, q string, params ...string) []int64 {
	h.t.Helper()
	return ids(h.search(c, append([]string{"q", q, "limit", "200"}, params...)...).Messages)
}

func TestSearchMessages(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	h.startSearcher()
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	direct := h.direct(alice, bob)
	group := h.group(alice, "team", bob, carol)

	d1 := h.send(alice, direct.ID, "Hello, world!", "d1")
	d2 := h.send(bob, direct.ID, "Квазары светят далеко", "d2")
	d3 := h.send(alice, direct.ID, "quasar hunting tonight", "d3")
	g1 := h.send(carol, group.ID, "hello team", "g1")
	g2 := h.send(bob, group.ID, "Квазар найден", "g2")
	var reply struct {
		Message messageJSON `json:"message"`
	}
	h.must(http.StatusAccepted, "POST", chatPath(group.ID, "/messages"), alice.token,
		map[string]any{"text": "HELLO again", "client_id": "g3", "reply_to_id": g1.ID}, &reply)
	g3 := reply.Message

	eventually(t, "every message searchable", func() bool {
		return slices.Equal(h.found(bob, "hello"), []int64{g3.ID, g1.ID, d1.ID})
	})

	t.Run("words, prefixes, case, scripts", func(t *testing.T) {
		cases := []struct {
			who  client
			q    string
			want []int64
		}{
			{bob, "квазар", []int64{g2.ID, d2.ID}},
			{bob, "КВАЗ", []int64{g2.ID, d2.ID}},
			{bob, "квазары", []int64{d2.ID}},
			{bob, "Hel", []int64{g3.ID, g1.ID, d1.ID}},
			{bob, "hel wor", []int64{d1.ID}},
			{bob, "world hello", []int64{d1.ID}},
			{bob, "hello mars", []int64{}},
			{bob, "ello", []int64{}}, // prefixes, not infixes
			{bob, "quasar", []int64{d3.ID}},
			{bob, "!!!", []int64{}},
			{carol, "hello", []int64{g3.ID, g1.ID}}, // not in the direct chat
			{carol, "квазар", []int64{g2.ID}},
		}
		for _, c := range cases {
			if got := h.found(c.who, c.q); !slices.Equal(got, c.want) {
				t.Errorf("%s searching %q found %v, want %v", c.who.Name, c.q, got, c.want)
			}
		}
		if got := h.found(bob, "hello", "chat_id", fmt.Sprint(direct.ID)); !slices.Equal(got, []int64{d1.ID}) {
			t.Errorf("in the direct chat only: %v", got)
		}
	})

	t.Run("the same messages as history", func(t *testing.T) {
		page := h.search(bob, "q", "again")
		if len(page.Messages) != 1 || page.NextCursor != nil {
			t.Fatalf("page %+v", page)
		}
		m := page.Messages[0]
		inHistory := find(h.history(bob, group.ID), g3.ID)
		if inHistory == nil || m.Text != "HELLO again" || m.Author.ID != alice.ID || m.Author.Name != "alice" ||
			m.ReplyTo == nil || m.ReplyTo.ID != g1.ID || m.ReplyTo.Text != "hello team" || m.ChatID != group.ID ||
			m.SentAt != inHistory.SentAt || m.ClientID != "g3" {
			t.Fatalf("found %+v, history has %+v", m, inHistory)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		long := strings.Repeat("я", 257)
		for _, p := range []string{
			searchPath(),
			searchPath("q", ""),
			searchPath("q", long),
			searchPath("q", "hello", "limit", "0"),
			searchPath("q", "hello", "limit", "201"),
			searchPath("q", "hello", "limit", "x"),
			searchPath("q", "hello", "cursor", "garbage"),
			searchPath("q", "hello", "cursor", "czEuLTE"), // "s1.-1"
			searchPath("q", "hello", "chat_id", "abc"),
			searchPath("q", "hello", "chat_id", "0"),
			"/api/v1/search/messages?q=%FF%FE",
		} {
			h.fails(http.StatusBadRequest, "invalid_argument", "GET", p, bob.token, nil)
		}
		h.fails(http.StatusUnauthorized, "unauthenticated", "GET", searchPath("q", "hello"), "", nil)
		// 256 code points is allowed.
		h.search(bob, "q", strings.Repeat("я", 256))
		// Not a member, or no such chat: as history answers.
		h.fails(http.StatusNotFound, "not_found", "GET", searchPath("q", "hello", "chat_id", fmt.Sprint(direct.ID)), carol.token, nil)
		h.fails(http.StatusNotFound, "not_found", "GET", chatPath(direct.ID, "/messages"), carol.token, nil)
		h.fails(http.StatusNotFound, "not_found", "GET", searchPath("q", "hello", "chat_id", "999999"), bob.token, nil)
	})

	t.Run("pages newest first", func(t *testing.T) {
		var sent []int64
		for i := range 5 {
			sent = append(sent, h.send(carol, group.ID, fmt.Sprintf("page number %d", i), fmt.Sprintf("p%d", i)).ID)
		}
		slices.Reverse(sent)
		eventually(t, "the pages' messages searchable", func() bool { return len(h.found(bob, "page")) == 5 })
		var got []int64
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			params := []string{"q", "page numb", "limit", "2"}
			if cursor != "" {
				params = append(params, "cursor", cursor)
			}
			page := h.search(bob, params...)
			if len(page.Messages) > 2 {
				t.Fatalf("a page of %d", len(page.Messages))
			}
			got = append(got, ids(page.Messages)...)
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if !slices.Equal(got, sent) {
			t.Fatalf("paged %v, want %v", got, sent)
		}
	})

	t.Run("edited, deleted, hidden, cleared, removed", func(t *testing.T) {
		h.edit(alice, direct.ID, d1.ID, "Goodbye, world!")
		h.must(http.StatusNoContent, "DELETE", chatPath(direct.ID, fmt.Sprintf("/messages/%d", d3.ID)), alice.token, nil, nil)
		h.must(http.StatusNoContent, "DELETE", chatPath(group.ID, fmt.Sprintf("/messages/%d?for=me", g1.ID)), bob.token, nil, nil)
		eventually(t, "the edit, the delete and the hide", func() bool {
			return slices.Equal(h.found(bob, "hello"), []int64{g3.ID}) &&
				slices.Equal(h.found(alice, "hello"), []int64{g3.ID, g1.ID}) &&
				slices.Equal(h.found(bob, "goodbye"), []int64{d1.ID}) &&
				len(h.found(alice, "quasar")) == 0
		})
		// The index itself forgot the old text and the deleted message
		// (not only the read path's checks).
		raw, err := sql.Open("mysql", h.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var n int
		if err := raw.QueryRow("SELECT COUNT(*) FROM search_terms WHERE message_id IN (?, ?) AND term IN ('hello', 'quasar')",
			d1.ID, d3.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the index keeps %d old terms (%v)", n, err)
		}

		h.must(http.StatusNoContent, "DELETE", chatPath(direct.ID, "/history"), bob.token, nil, nil)
		eventually(t, "bob's cleared history", func() bool {
			return slices.Equal(h.found(bob, "квазар"), []int64{g2.ID}) && slices.Equal(h.found(alice, "квазар"), []int64{g2.ID, d2.ID})
		})
		after := h.send(alice, direct.ID, "квазарный свет", "d4")
		eventually(t, "a message after the clearing", func() bool {
			return slices.Equal(h.found(bob, "квазар"), []int64{after.ID, g2.ID})
		})

		if !slices.Equal(h.found(carol, "hello"), []int64{g3.ID, g1.ID}) {
			t.Fatal("carol finds her group's messages before she is removed")
		}
		h.must(http.StatusNoContent, "DELETE", chatPath(group.ID, fmt.Sprintf("/members/%d", carol.ID)), alice.token, nil, nil)
		if got := h.found(carol, "hello"); len(got) != 0 {
			t.Fatalf("a removed member still finds %v", got)
		}
		h.fails(http.StatusNotFound, "not_found", "GET", searchPath("q", "hello", "chat_id", fmt.Sprint(group.ID)), carol.token, nil)
	})
}
