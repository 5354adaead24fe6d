package server_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/logchat/shared/event"
)

var timeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestSendValidation(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)
	other := h.direct(alice, h.register("carol"))
	inOther := h.send(alice, other.ID, "elsewhere", "c-other")
	path := chatPath(chat.ID, "/messages")

	cases := map[string]any{
		"empty text":             map[string]any{"text": "", "client_id": "c1"},
		"whitespace only":        map[string]any{"text": " \t\n ", "client_id": "c1"},
		"missing text":           map[string]any{"client_id": "c1"},
		"4097 characters":        map[string]any{"text": strings.Repeat("x", 4097), "client_id": "c1"},
		"4097 two-byte chars":    map[string]any{"text": strings.Repeat("é", 4097), "client_id": "c1"},
		"invalid UTF-8":          raw("{\"text\": \"bad \xff\xfe byte\", \"client_id\": \"c1\"}"),
		"unpaired surrogate":     raw(`{"text": "half \ud800 pair", "client_id": "c1"}`),
		"NUL":                    map[string]any{"text": "a\x00b", "client_id": "c1"},
		"empty client_id":        map[string]any{"text": "hi", "client_id": ""},
		"missing client_id":      map[string]any{"text": "hi"},
		"client_id with space":   map[string]any{"text": "hi", "client_id": "a b"},
		"client_id with colon":   map[string]any{"text": "hi", "client_id": "a:b"},
		"client_id of 65 chars":  map[string]any{"text": "hi", "client_id": strings.Repeat("a", 65)},
		"reply to nothing":       map[string]any{"text": "hi", "client_id": "c1", "reply_to_id": 999999},
		"reply to zero":          map[string]any{"text": "hi", "client_id": "c1", "reply_to_id": 0},
		"reply to another chat":  map[string]any{"text": "hi", "client_id": "c1", "reply_to_id": inOther.ID},
		"reply to a chat event":  map[string]any{"text": "hi", "client_id": "c1", "reply_to_id": 1},
		"malformed JSON":         raw(`{"text": "hi", "client_id": "c1"`),
		"text of the wrong type": raw(`{"text": 42, "client_id": "c1"}`),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			before := h.logCount()
			h.fails(http.StatusBadRequest, "invalid_argument", "POST", path, alice.token, body)
			if after := h.logCount(); after != before {
				t.Fatalf("a rejected send changed the log: %d -> %d events", before, after)
			}
		})
	}

	t.Run("body over 64 KiB is 413", func(t *testing.T) {
		before := h.logCount()
		body := fmt.Sprintf(`{"text": "hi", "client_id": "big", "pad": "%s"}`, strings.Repeat("p", 64<<10))
		h.fails(http.StatusRequestEntityTooLarge, "payload_too_large", "POST", path, alice.token, raw(body))
		if after := h.logCount(); after != before {
			t.Fatalf("a rejected send changed the log: %d -> %d events", before, after)
		}
	})

	t.Run("limits themselves are accepted, text is trimmed", func(t *testing.T) {
		before := h.logCount()
		long := strings.Repeat("é", 4096)
		m := h.send(alice, chat.ID, "\n  "+long+"  \t", strings.Repeat("Z", 64))
		if m.Text != long {
			t.Fatalf("text not trimmed to its 4096 characters: %d bytes", len(m.Text))
		}
		m2 := h.send(alice, chat.ID, "<b>not html</b> & 𝄞", "a-Z_0-9")
		if m2.Text != "<b>not html</b> & 𝄞" {
			t.Fatalf("text changed: %q", m2.Text)
		}
		if after := h.logCount(); after != before+2 {
			t.Fatalf("log grew by %d, want 2", after-before)
		}
	})
}

func TestSend(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)

	var first messageJSON
	t.Run("202 with the log's id and the envelope's time", func(t *testing.T) {
		before := h.logCount()
		first = h.send(alice, chat.ID, "  hello bob ", "0b9c5c7e-1")
		if first.ChatID != chat.ID || first.Author != alice.userJSON || first.Text != "hello bob" ||
			first.ClientID != "0b9c5c7e-1" || first.ReplyToID != nil {
			t.Fatalf("message %+v", first)
		}
		if !timeFormat.MatchString(first.SentAt) {
			t.Fatalf("sent_at %q is not RFC 3339 UTC with milliseconds", first.SentAt)
		}
		if h.logCount() != before+1 {
			t.Fatal("the log did not grow by one")
		}
		ev := h.lastEvent()
		if ev.Type != event.MessageCreated || int64(ev.Seq) != first.ID || ev.ChatID != chat.ID || ev.ActorID != alice.ID {
			t.Fatalf("event %+v, message %+v", ev, first)
		}
		if got := ev.At.UTC().Format("2006-01-02T15:04:05.000Z"); got != first.SentAt {
			t.Fatalf("sent_at %s, event at %s", first.SentAt, got)
		}
	})

	t.Run("same client_id again: same message, one in the log", func(t *testing.T) {
		before := h.logCount()
		again := h.send(alice, chat.ID, "different text this time", "0b9c5c7e-1")
		if again != first {
			t.Fatalf("retry answered %+v, want the original %+v", again, first)
		}
		if h.logCount() != before {
			t.Fatal("the retry was appended")
		}
	})

	t.Run("same client_id from another author or chat is another message", func(t *testing.T) {
		m := h.send(bob, chat.ID, "bob's", "0b9c5c7e-1")
		if m.ID == first.ID {
			t.Fatal("bob's send was taken for alice's")
		}
		g := h.group(alice, "g", bob)
		if m := h.send(alice, g.ID, "in g", "0b9c5c7e-1"); m.ID == first.ID {
			t.Fatal("a send in another chat was taken for the first")
		}
	})

	t.Run("concurrent retries get one id", func(t *testing.T) {
		before := h.logCount()
		const n = 12
		ids := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Fresh sends beside the retries land in the same group-commit batches.
				h.send(alice, chat.ID, "fresh", fmt.Sprintf("fresh-%d", i))
				ids[i] = h.send(alice, chat.ID, "burst", "burst-1").ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids %v differ", ids)
			}
		}
		if got := h.logCount() - before; got != n+1 {
			t.Fatalf("log grew by %d, want %d", got, n+1)
		}
	})

	t.Run("ids increase in acceptance order", func(t *testing.T) {
		a := h.send(alice, chat.ID, "one", "order-1")
		b := h.send(bob, chat.ID, "two", "order-2")
		if b.ID <= a.ID {
			t.Fatalf("ids %d then %d", a.ID, b.ID)
		}
	})

	t.Run("reply to a message of the chat, before and after it is persisted", func(t *testing.T) {
		// The projections are not running: the target is only in the log.
		var out struct {
			Message messageJSON `json:"message"`
		}
		h.must(http.StatusAccepted, "POST", chatPath(chat.ID, "/messages"), bob.token,
			map[string]any{"text": "re", "client_id": "reply-1", "reply_to_id": first.ID}, &out)
		if out.Message.ReplyToID == nil || *out.Message.ReplyToID != first.ID {
			t.Fatalf("reply_to_id %v", out.Message.ReplyToID)
		}
		h.startProjections()
		eventually(t, "the first message in MySQL", func() bool {
			var page historyJSON
			h.must(http.StatusOK, "GET", chatPath(chat.ID, "/messages?limit=200"), alice.token, nil, &page)
			return len(page.Messages) > 0 && page.Messages[0].ID == first.ID
		})
		h.must(http.StatusAccepted, "POST", chatPath(chat.ID, "/messages"), bob.token,
			map[string]any{"text": "re 2", "client_id": "reply-2", "reply_to_id": first.ID}, &out)
	})

	t.Run("no token is 401", func(t *testing.T) {
		h.fails(http.StatusUnauthorized, "unauthenticated", "POST", chatPath(chat.ID, "/messages"), "",
			map[string]any{"text": "hi", "client_id": "x"})
	})
}

func TestReadPosition(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)
	read := func(c client, id int64) response {
		return h.do("POST", chatPath(chat.ID, "/read"), c.token, map[string]any{"message_id": id})
	}

	t.Run("nothing to read yet", func(t *testing.T) {
		before := h.logCount()
		h.fails(http.StatusBadRequest, "invalid_argument", "POST", chatPath(chat.ID, "/read"), bob.token, map[string]any{"message_id": 1})
		if h.logCount() != before {
			t.Fatal("a rejected read changed the log")
		}
	})

	m1 := h.send(alice, chat.ID, "one", "r1")
	m2 := h.send(alice, chat.ID, "two", "r2")

	t.Run("beyond the newest message is 400", func(t *testing.T) {
		before := h.logCount()
		for _, body := range []any{
			map[string]any{"message_id": m2.ID + 1},
			map[string]any{"message_id": 0},
			map[string]any{"message_id": -5},
			map[string]any{},
			raw(`{"message_id": "2"}`),
		} {
			h.fails(http.StatusBadRequest, "invalid_argument", "POST", chatPath(chat.ID, "/read"), bob.token, body)
		}
		if h.logCount() != before {
			t.Fatal("a rejected read changed the log")
		}
	})

	t.Run("forward appends read.moved", func(t *testing.T) {
		before := h.logCount()
		if r := read(bob, m2.ID); r.status != http.StatusNoContent {
			t.Fatalf("read: %d %s", r.status, r.body)
		}
		if h.logCount() != before+1 {
			t.Fatal("no event appended")
		}
		ev := h.lastEvent()
		d, err := event.Payload[event.ReadMovedData](ev.Envelope)
		if err != nil || ev.Type != event.ReadMoved || ev.ChatID != chat.ID || d.UserID != bob.ID || d.MessageID != m2.ID {
			t.Fatalf("event %+v %+v %v", ev, d, err)
		}
	})

	t.Run("backward is a no-op", func(t *testing.T) {
		eventually(t, "bob's read position in the chat", func() bool {
			var c chatJSON
			h.must(http.StatusOK, "GET", chatPath(chat.ID, ""), bob.token, nil, &c)
			return c.ReadMessageID == m2.ID && c.UnreadCount == 0
		})
		before := h.logCount()
		for _, id := range []int64{m1.ID, m2.ID} {
			if r := read(bob, id); r.status != http.StatusNoContent {
				t.Fatalf("read %d: %d %s", id, r.status, r.body)
			}
		}
		if h.logCount() != before {
			t.Fatal("a backward read was appended")
		}
	})
}

func TestHistory(t *testing.T) {
	h := newHarness(t)
	h.startProjections()
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)
	var sent []messageJSON
	for i := range 7 {
		from := alice
		if i%2 == 1 {
			from = bob
		}
		sent = append(sent, h.send(from, chat.ID, fmt.Sprintf("m%d", i), fmt.Sprintf("h%d", i)))
	}
	ids := func(ms []messageJSON) string {
		var s []string
		for _, m := range ms {
			s = append(s, fmt.Sprint(m.ID))
		}
		return strings.Join(s, ",")
	}
	page := func(q string) historyJSON {
		var p historyJSON
		h.must(http.StatusOK, "GET", chatPath(chat.ID, "/messages"+q), bob.token, nil, &p)
		return p
	}
	eventually(t, "all messages in history", func() bool { return len(page("").Messages) == len(sent) })

	t.Run("messages as sent", func(t *testing.T) {
		got := page("").Messages
		for i := range sent {
			if got[i] != sent[i] {
				t.Fatalf("history %+v\nsent    %+v", got[i], sent[i])
			}
		}
	})
	t.Run("paging", func(t *testing.T) {
		for _, c := range []struct {
			q    string
			want []messageJSON
			more bool
		}{
			{"?limit=3", sent[4:], true},
			{fmt.Sprintf("?before=%d&limit=3", sent[4].ID), sent[1:4], true},
			{fmt.Sprintf("?before=%d&limit=3", sent[1].ID), sent[:1], false},
			{fmt.Sprintf("?after=%d&limit=3", sent[0].ID), sent[1:4], true},
			{fmt.Sprintf("?after=%d&limit=3", sent[3].ID), sent[4:], false},
			{fmt.Sprintf("?after=%d", sent[6].ID), nil, false},
			{"", sent, false},
		} {
			p := page(c.q)
			if ids(p.Messages) != ids(c.want) || p.HasMore != c.more {
				t.Errorf("%s: ids [%s] more %v, want [%s] %v", c.q, ids(p.Messages), p.HasMore, ids(c.want), c.more)
			}
			if p.Messages == nil {
				t.Errorf("%s: messages is null, want []", c.q)
			}
		}
	})
	t.Run("bad parameters are 400", func(t *testing.T) {
		for _, q := range []string{
			"?before=5&after=2", "?limit=0", "?limit=201", "?limit=x", "?before=abc", "?after=-1", "?before=0", "?limit=2.5",
		} {
			h.fails(http.StatusBadRequest, "invalid_argument", "GET", chatPath(chat.ID, "/messages"+q), bob.token, nil)
		}
		page("?limit=200")
		page("?limit=1")
	})
}
