package updates_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/storage/updates"
	"github.com/logchat/testkit"
)

// The tests run on one Redis and on Redis Cluster (testkit.RedisUnderTest).
func TestMain(m *testing.M) { os.Exit(testkit.MainOnRedisBackends(m)) }

func newStore(t *testing.T, keep int) *updates.Store {
	rdb, prefix := testkit.RedisUnderTest(t)
	return updates.New(rdb, prefix, keep, 0)
}

func body(seq uint64) []byte { return fmt.Appendf(nil, `{"type":"test","seq":%d}`, seq) }

// decode reads back the cursor and the seq field that body wrote.
func decode(t *testing.T, raw []byte) (cursor string, seq uint64) {
	t.Helper()
	var v struct {
		Cursor string `json:"cursor"`
		Type   string `json:"type"`
		Seq    uint64 `json:"seq"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Type != "test" || v.Cursor == "" {
		t.Fatalf("update %s: %v", raw, err)
	}
	return v.Cursor, v.Seq
}

func apply(t *testing.T, s *updates.Store, partition int, uid int64, seqs ...uint64) []updates.Appended {
	t.Helper()
	b := s.NewBatch()
	for _, q := range seqs {
		b.Append(uid, partition, q, body(q))
	}
	res, err := s.Apply(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAppendAfterAndCursors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	start, err := s.Current(ctx, 7)
	if err != nil || start.N != 0 || start.Stream == "" {
		t.Fatalf("current of a new user: %v %v", start, err)
	}
	res := apply(t, s, 0, 7, 10, 11, 12)
	for i, a := range res {
		if !a.Known || !a.New || a.Cursor.N != int64(i+1) || a.Cursor.Stream != start.Stream {
			t.Fatalf("append %d: %+v (stream %s)", i, a, start.Stream)
		}
	}
	page, err := s.After(ctx, 7, start, 2)
	if err != nil || len(page.Updates) != 2 || !page.HasMore || page.Cursor.N != 2 {
		t.Fatalf("first page: %+v %v", page, err)
	}
	c, q := decode(t, page.Updates[0])
	if c != "1."+start.Stream || q != 10 {
		t.Fatalf("first update: cursor %s seq %d", c, q)
	}
	page, err = s.After(ctx, 7, page.Cursor, 2)
	if err != nil || len(page.Updates) != 1 || page.HasMore || page.Cursor.N != 3 {
		t.Fatalf("second page: %+v %v", page, err)
	}
	empty, err := s.After(ctx, 7, page.Cursor, 2)
	if err != nil || len(empty.Updates) != 0 || empty.Cursor != page.Cursor {
		t.Fatalf("after the last: %+v %v", empty, err)
	}
	if _, err := s.After(ctx, 7, updates.Cursor{N: 4, Stream: start.Stream}, 2); !errors.Is(err, updates.ErrBadCursor) {
		t.Fatalf("a cursor ahead: %v", err)
	}
	if _, err := s.After(ctx, 7, updates.Cursor{N: 1, Stream: "other"}, 2); !errors.Is(err, updates.ErrGone) {
		t.Fatalf("another stream's cursor: %v", err)
	}
	if _, err := s.After(ctx, 8, updates.Cursor{N: 0, Stream: start.Stream}, 2); !errors.Is(err, updates.ErrGone) {
		t.Fatalf("a user without a stream: %v", err)
	}
	if now, _ := s.Current(ctx, 7); now.N != 3 || now.Stream != start.Stream {
		t.Fatalf("current after three: %v", now)
	}
}

func TestParseCursor(t *testing.T) {
	for _, bad := range []string{"", "1", "1.", ".abc", "-1.abc", "01.abc", "1.ABC", "1.a-b", "x.abc", "1.abc.d",
		"1." + string(make([]byte, 40)), "1234567890123456789.abc"} {
		if _, err := updates.ParseCursor(bad); !errors.Is(err, updates.ErrBadCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
	c, err := updates.ParseCursor("42.abc123")
	if err != nil || c.N != 42 || c.Stream != "abc123" || c.String() != "42.abc123" {
		t.Fatalf("ParseCursor: %v %v", c, err)
	}
}

// A batch applied again (redelivery, replay) adds nothing and gives back the
// same cursors, so that a retried publication is the same publication.
func TestReapplyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	first := apply(t, s, 1, 7, 5, 9)
	again := apply(t, s, 1, 7, 5, 9)
	for i := range first {
		if again[i].New || !again[i].Known || again[i].Cursor != first[i].Cursor {
			t.Fatalf("reapplied %d: %+v, first %+v", i, again[i], first[i])
		}
	}
	// An older event of the same partition is also already applied.
	if old := apply(t, s, 1, 7, 3); old[0].New {
		t.Fatalf("an event below the partition's mark was stored: %+v", old[0])
	}
	// Another partition's lower sequence is new.
	if other := apply(t, s, 0, 7, 4); !other[0].New || other[0].Cursor.N != 3 {
		t.Fatalf("another partition's event: %+v", other[0])
	}
	cur, _ := s.Current(ctx, 7)
	if cur.N != 3 {
		t.Fatalf("stream holds %d updates, want 3", cur.N)
	}
}

// Beyond Keep the oldest updates go, and a cursor before them is gone.
func TestTrimmingMakesOldCursorsGone(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 100)
	start, _ := s.Current(ctx, 7)
	seqs := make([]uint64, 150)
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	apply(t, s, 0, 7, seqs...)
	if _, err := s.After(ctx, 7, start, 10); !errors.Is(err, updates.ErrGone) {
		t.Fatalf("a cursor before the kept updates: %v", err)
	}
	if _, err := s.After(ctx, 7, updates.Cursor{N: 49, Stream: start.Stream}, 10); !errors.Is(err, updates.ErrGone) {
		t.Fatalf("cursor 49 of 150 with 100 kept: %v", err)
	}
	page, err := s.After(ctx, 7, updates.Cursor{N: 50, Stream: start.Stream}, 1000)
	if err != nil || len(page.Updates) != 100 {
		t.Fatalf("cursor 50: %d updates, %v", len(page.Updates), err)
	}
	if _, q := decode(t, page.Updates[0]); q != 51 {
		t.Fatalf("oldest kept update is seq %d, want 51", q)
	}
}

func TestMembersFollowTheLogOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	b := s.NewBatch()
	b.SetMembers(42, 10, []int64{1, 2, 3}, nil)
	b.SetMembers(42, 12, nil, []int64{2})
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	// A replay of the creation must not bring member 2 back.
	b = s.NewBatch()
	b.SetMembers(42, 10, []int64{1, 2, 3}, nil)
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	m, err := s.Members(ctx, []int64{42, 43})
	if err != nil {
		t.Fatal(err)
	}
	if got := m[42]; fmt.Sprint(got.IDs) != "[1 3]" || got.Version != 12 || !got.Has(3) || got.Has(2) {
		t.Fatalf("members of 42: %+v", got)
	}
	if got := m[43]; len(got.IDs) != 0 || got.Version != 0 {
		t.Fatalf("members of an unknown chat: %+v", got)
	}
}

// The ordering argument of the package comment, tested: partitions apply
// their batches concurrently, each in log order, to the same users, while
// readers page through GET /updates from their cursors. No reader may skip
// an update or see one twice: each ends with every appended update exactly
// once, numbered 1..n without a gap, and each partition's updates in that
// partition's log order.
func TestInterleavedPartitionsNeverLetAReaderSkip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	const partitions, batches, perBatch = 4, 40, 5
	users := []int64{1, 2, 3}
	starts := map[int64]updates.Cursor{}
	for _, u := range users {
		starts[u], _ = s.Current(ctx, u)
	}
	total := partitions * batches * perBatch

	var writers sync.WaitGroup
	errs := make(chan error, partitions+len(users))
	for p := range partitions {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for b := range batches {
				batch := s.NewBatch()
				for i := range perBatch {
					// Sequences interleave across partitions, as in one stream.
					seq := uint64((b*perBatch+i)*partitions + p + 1)
					for _, u := range users {
						batch.Append(u, p, seq, body(seq))
					}
				}
				if _, err := s.Apply(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	type seen struct {
		seqs []uint64
		err  error
	}
	results := make(map[int64]*seen)
	var readers sync.WaitGroup
	var mu sync.Mutex
	for _, u := range users {
		r := &seen{}
		results[u] = r
		readers.Add(1)
		go func() {
			defer readers.Done()
			cur := starts[u]
			for len(r.seqs) < total {
				page, err := s.After(ctx, u, cur, 7)
				if err != nil {
					r.err = err
					return
				}
				for _, raw := range page.Updates {
					c, q := decode(t, raw)
					cur.N++
					if want := cur.String(); c != want {
						r.err = fmt.Errorf("user %d: update %s after cursor %d, want %s", u, c, cur.N-1, want)
						return
					}
					mu.Lock()
					r.seqs = append(r.seqs, q)
					mu.Unlock()
				}
				if page.Cursor != cur {
					r.err = fmt.Errorf("page cursor %v, want %v", page.Cursor, cur)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	readers.Wait()
	for _, u := range users {
		r := results[u]
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.seqs) != total {
			t.Fatalf("user %d read %d updates, want %d", u, len(r.seqs), total)
		}
		once := map[uint64]bool{}
		last := map[int]uint64{}
		for _, q := range r.seqs {
			if once[q] {
				t.Fatalf("user %d: seq %d twice", u, q)
			}
			once[q] = true
			p := int((q - 1) % partitions)
			if q < last[p] {
				t.Fatalf("user %d: partition %d's seq %d after %d", u, p, q, last[p])
			}
			last[p] = q
		}
	}
}

// A Redis that restarted has forgotten the scripts: the next batch loads
// them again and goes through at once, instead of failing while Redis
// answers (which the worker runtime would count against the events).
func TestScriptsAreReloadedAfterARedisRestart(t *testing.T) {
	// A Redis of the test's own: flushing the machine's script cache would
	// disturb other tests running beside this one.
	own := testkit.StartOwnRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: own.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := updates.New(rdb, "t:", 0, 0)
	apply(t, s, 0, 7, 1)
	if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if res := apply(t, s, 0, 7, 2); !res[0].New || res[0].Cursor.N != 2 {
		t.Fatalf("after SCRIPT FLUSH: %+v", res[0])
	}
}

// On Redis Cluster every script of the store touches one slot's keys (a
// user's stream, or a chat's members), checked under MONITOR
// (testkit.SlotWatch), not only by the cluster's own refusals.
func TestEveryScriptKeepsToOneSlotOnRedisCluster(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := testkit.RedisOn(t, testkit.RedisCluster)
	watch := testkit.WatchScriptSlots(t, rdb.(*redis.ClusterClient))
	s := updates.New(rdb, prefix, 5, 0)
	b := s.NewBatch()
	for chat := int64(1); chat <= 10; chat++ {
		b.SetMembers(chat, uint64(chat), []int64{chat, chat + 1}, nil)
	}
	if _, err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	for uid := int64(1); uid <= 20; uid++ {
		apply(t, s, int(uid%3), uid, 1, 2, 3, 4, 5, 6, 7)
		cur, err := s.Current(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.After(ctx, uid, updates.Cursor{N: cur.N - 2, Stream: cur.Stream}, 10); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Members(ctx, []int64{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if n := watch.Check(t); n < 60 {
		t.Fatalf("only %d script runs seen by MONITOR", n)
	}
}
