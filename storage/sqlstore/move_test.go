package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

// A chat moves to another shard while its messages keep being applied (a
// writer process, as the persister) and its history keeps being read (a
// reader process, as the gateway), each with its own cached directory: the
// history ends identical to what was sent, in order, without loss or
// duplicate; no read ever sees less than an earlier one; the source holds
// nothing of the chat afterwards; another chat's writes go on throughout.
// Both ways: the whole copy under the directory row, and a copy of a
// snapshot caught up from the log (here the writer's own record of its
// batches, appended before each is applied, as the stream is).
func TestMoveChatWhileSending(t *testing.T) {
	t.Parallel()
	t.Run("copy under the row", func(t *testing.T) { t.Parallel(); testMoveChatWhileSending(t, false) })
	t.Run("log catch-up", func(t *testing.T) { t.Parallel(); testMoveChatWhileSending(t, true) })
}

// loggedBatch is a batch as the test's log holds it, at its last sequence.
type loggedBatch struct {
	seq uint64
	b   sqlstore.Batch
}

func testMoveChatWhileSending(t *testing.T, fromLog bool) {
	const ttl = 150 * time.Millisecond
	st, mainDSN, shards, raw := shardedStore(t, 0, sqlstore.WithDirectoryTTL(ttl))
	writer, err := sqlstore.OpenProjection(t.Context(), mainDSN, sqlstore.WithShards(shards), sqlstore.WithDirectoryTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	reader, err := sqlstore.Open(t.Context(), mainDSN, sqlstore.WithShards(shards), sqlstore.WithDirectoryTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	a, b := mustUser(t, st, "ann"), mustUser(t, st, "bob")
	var moving, other domain.Chat
	for moving.ID == 0 || other.ID == 0 {
		c, err := st.CreateGroupChat(t.Context(), "g", a.ID, group(a, b), t0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if shardOf(t, raw, c.ID) == "s1" && moving.ID == 0 {
			moving = c
		} else if shardOf(t, raw, c.ID) == "s2" {
			other = c
		}
	}

	// The writer stops between batches (stopWriter), never inside one: a
	// batch cancelled half-way may have committed on one shard and not on
	// the other, and then it is neither counted as sent nor absent.
	stopWriter := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sent, sentOther []int64 // what the writer committed, in order
	var logged []loggedBatch    // what the writer was given, in order
	catchUp := func(_ context.Context, chat int64, from, to sqlstore.LogPositions) (sqlstore.Batch, []sqlstore.SearchOp, error) {
		mu.Lock()
		defer mu.Unlock()
		var out sqlstore.Batch
		for _, l := range logged {
			if l.seq <= from.Persister[0] || l.seq > to.Persister[0] {
				continue
			}
			for _, m := range l.b.Messages {
				if m.ChatID == chat {
					out.Messages = append(out.Messages, m)
				}
			}
			for _, e := range l.b.Edits {
				if e.ChatID == chat {
					out.Edits = append(out.Edits, e)
				}
			}
			for _, r := range l.b.Reads {
				if r.ChatID == chat {
					out.Reads = append(out.Reads, r)
				}
			}
		}
		return out, nil, nil
	}
	errs := make(chan error, 4)

	// The writer: one partition's batches, in log order, with an edit and a
	// read now and then. The move only delays a batch (it waits for the
	// directory row), so any error fails the test.
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq := int64(1000)
		for i := 0; ; i++ {
			select {
			case <-stopWriter:
				return
			default:
			}
			var batch sqlstore.Batch
			var ids, otherIDs []int64
			for k := range 1 + i%4 {
				seq++
				m := msg(moving.ID, seq, a, fmt.Sprintf("m%d", seq), t0.Add(time.Duration(seq)*time.Millisecond))
				m.Text = fmt.Sprintf("сообщение %d", seq)
				batch.Messages = append(batch.Messages, m)
				ids = append(ids, seq)
				if k == 0 {
					seq++
					batch.Messages = append(batch.Messages, msg(other.ID, seq, b, fmt.Sprintf("o%d", seq), t0))
					otherIDs = append(otherIDs, seq)
				}
			}
			if i%5 == 4 && len(sent) > 0 {
				seq++
				batch.Edits = []sqlstore.MessageEdit{{ChatID: moving.ID, ID: sent[len(sent)/2], Text: fmt.Sprintf("edited at %d", seq), EditedAt: t0, Seq: uint64(seq)}}
				batch.Reads = []sqlstore.ReadMove{{ChatID: moving.ID, UserID: b.ID, MessageID: sent[len(sent)-1]}}
			}
			batch.Progress = sqlstore.Progress{0: uint64(seq)}
			mu.Lock()
			logged = append(logged, loggedBatch{seq: uint64(seq), b: batch})
			mu.Unlock()
			if err := writer.ApplyBatch(t.Context(), batch); err != nil {
				errs <- fmt.Errorf("apply batch: %w", err)
				return
			}
			mu.Lock()
			sent = append(sent, ids...)
			sentOther = append(sentOther, otherIDs...)
			mu.Unlock()
		}
	}()
	// The reader: each history read holds at least what the one before did,
	// ids ascending, none unknown.
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := 0
		for ctx.Err() == nil {
			h, _, err := reader.History(ctx, moving.ID, sqlstore.HistoryQuery{Limit: 100000})
			if err != nil {
				if ctx.Err() == nil {
					errs <- fmt.Errorf("history: %w", err)
				}
				return
			}
			for i := 1; i < len(h); i++ {
				if h[i].ID <= h[i-1].ID {
					errs <- fmt.Errorf("history out of order or duplicated at %d: %d after %d", i, h[i].ID, h[i-1].ID)
					return
				}
			}
			if len(h) < last {
				errs <- fmt.Errorf("a read saw %d messages after one saw %d: the reader read an incomplete shard", len(h), last)
				return
			}
			last = len(h)
		}
	}()

	// Let some traffic through, then move the chat to s2 and back to s1.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) > 50 })
	var steps []string
	var opts []sqlstore.MoveOption
	if fromLog {
		opts = append(opts, sqlstore.WithLogCatchUp(catchUp))
	}
	for _, to := range []string{"s2", "s1"} {
		if err := st.MoveChat(t.Context(), moving.ID, to, func(s string) { steps = append(steps, s) }, opts...); err != nil {
			t.Fatalf("move to %s: %v", to, err)
		}
		if got := shardOf(t, raw, moving.ID); got != to {
			t.Fatalf("after the move the directory says %s", got)
		}
		mu.Lock()
		n := len(sent)
		mu.Unlock()
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) > n+20 })
	}
	close(stopWriter)
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("steps: %q; %d messages sent", steps, len(sent))
	if fromLog {
		caught := 0
		for _, st := range steps {
			if strings.Contains(st, "copied again") {
				t.Fatalf("the catch-up from the log left the target different: %s", st)
			}
			if strings.Contains(st, "caught up") {
				caught++
			}
		}
		if caught != 2 {
			t.Fatalf("steps %q: want both moves caught up from the log", steps)
		}
	}

	// The history is what was sent, in order, and the source is empty.
	h, _, err := reader.History(t.Context(), moving.ID, sqlstore.HistoryQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(h); !reflect.DeepEqual(got, sent) {
		t.Fatalf("history after the moves: %d messages, want the %d sent in order", len(got), len(sent))
	}
	for _, m := range h {
		if m.Text == "" {
			t.Fatalf("message %d lost its text in the copy", m.ID)
		}
	}
	for _, tbl := range []string{"messages", "read_positions"} {
		if n := count(t, raw["s2"], "SELECT COUNT(*) FROM "+tbl+" WHERE chat_id = ?", moving.ID); n != 0 {
			t.Fatalf("the source s2 still holds %d rows of %s of the moved chat", n, tbl)
		}
	}
	if n := count(t, raw["s2"], "SELECT COUNT(*) FROM messages WHERE chat_id = ?", other.ID); n != len(sentOther) {
		t.Fatalf("the other chat on s2 holds %d messages, %d were sent", n, len(sentOther))
	}
	var dirState string
	if err := raw["main"].QueryRowContext(t.Context(), "SELECT CONCAT(shard, '/', COALESCE(move_to, '-'), '/', COALESCE(move_from, '-')) FROM chat_shards WHERE chat_id = ?", moving.ID).Scan(&dirState); err != nil || dirState != "s1/-/-" {
		t.Fatalf("directory row %q, %v: want s1 with no move pending", dirState, err)
	}
}

// A move interrupted after the mark, or after the switch, is finished by
// running it again.
func TestMoveChatResumes(t *testing.T) {
	t.Parallel()
	st, _, _, raw := shardedStore(t, 0, sqlstore.WithDirectoryTTL(50*time.Millisecond))
	a := mustUser(t, st, "ann")
	c, err := st.CreateGroupChat(t.Context(), "g", a.ID, group(a), t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	from := shardOf(t, raw, c.ID)
	to := map[string]string{"s1": "s2", "s2": "s1"}[from]
	apply(t, st, sqlstore.Batch{Messages: []domain.Message{msg(c.ID, 5, a, "x", t0), msg(c.ID, 6, a, "y", t0)}})

	// Crashed after the mark, with a partial copy on the target.
	if _, err := raw["main"].Exec("UPDATE chat_shards SET move_to = ? WHERE chat_id = ?", to, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := raw[to].Exec("INSERT INTO messages (chat_id, id, author_id, client_id, text, sent_at) VALUES (?, 5, ?, 'x', 'partial', ?)", c.ID, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := st.MoveChat(t.Context(), c.ID, "main", nil); err == nil {
		t.Fatal("a second move elsewhere started while one is in progress")
	}
	if err := st.MoveChat(t.Context(), c.ID, to, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, raw[to], "SELECT COUNT(*) FROM messages WHERE chat_id = ? AND text <> 'partial'", c.ID); n != 2 {
		t.Fatalf("target holds %d good messages, want 2", n)
	}
	// Crashed after the switch, before the clean-up.
	back := from
	if _, err := raw[back].Exec("INSERT INTO messages (chat_id, id, author_id, client_id, text, sent_at) VALUES (?, 5, ?, 'x', 'stale', ?)", c.ID, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := raw["main"].Exec("UPDATE chat_shards SET move_from = ? WHERE chat_id = ?", back, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.MoveChat(t.Context(), c.ID, to, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, raw[back], "SELECT COUNT(*) FROM messages WHERE chat_id = ?", c.ID); n != 0 {
		t.Fatalf("the re-run left %d rows on the source", n)
	}
	h, _, err := st.History(t.Context(), c.ID, sqlstore.HistoryQuery{Limit: 10})
	if err != nil || !reflect.DeepEqual(ids(h), []int64{5, 6}) {
		t.Fatalf("history %v, %v", ids(h), err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
