package testkit

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster refuses a multi-key command or transaction across slots
// (CROSSSLOT) and a script that touches a key of another node, but Redis 7
// lets a script touch a key of another slot when that slot happens to be on
// the same node: code that is wrong can pass on a small cluster by luck.
// SlotWatch closes that gap: it records, with MONITOR on every master, the
// commands that scripts run, and checks that each script's commands touch
// keys of one slot only.

// SlotWatch records the commands scripts run on a cluster's masters.
type SlotWatch struct {
	rdb *redis.ClusterClient

	mu    sync.Mutex
	lines map[string][]string // master address -> MONITOR lines
	conns []net.Conn
}

// WatchScriptSlots starts MONITOR on every master of rdb's cluster, until
// the test ends.
func WatchScriptSlots(t testing.TB, rdb *redis.ClusterClient) *SlotWatch {
	t.Helper()
	w := &SlotWatch{rdb: rdb, lines: map[string][]string{}}
	var addrs []string
	var mu sync.Mutex
	err := rdb.ForEachMaster(context.Background(), func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		addrs = append(addrs, node.Options().Addr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range addrs {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		w.conns = append(w.conns, conn)
		rd := bufio.NewReaderSize(conn, 1<<20)
		if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("MONITOR on %s: %q %v", addr, line, err)
		}
		go func() {
			for {
				line, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				w.mu.Lock()
				w.lines[addr] = append(w.lines[addr], strings.TrimRight(line, "\r\n"))
				w.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range w.conns {
			c.Close()
		}
	})
	return w
}

// Check fails t for every script run since the watch started whose
// commands touched keys of more than one slot, and returns how many script
// runs it checked. The first argument of every command a script runs is
// taken as its key (true of every command this project's scripts use).
func (w *SlotWatch) Check(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	// MONITOR lags: a marker sent to each master last says when all is in.
	marker := "slotwatch-" + RandomID()
	err := w.rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.Echo(ctx, marker).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		seen := 0
		for _, ls := range w.lines {
			if containsMarker(ls, marker) {
				seen++
			}
		}
		w.mu.Unlock()
		if seen == len(w.conns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MONITOR did not show the marker on every master within 10s (%d of %d)", seen, len(w.conns))
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	slots := map[string]int64{}
	slotOf := func(key string) int64 {
		if s, ok := slots[key]; ok {
			return s
		}
		s, err := w.rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", key, err)
		}
		slots[key] = s
		return s
	}
	runs := 0
	for addr, ls := range w.lines {
		// A script's commands are consecutive "lua" lines: Redis runs one
		// script at a time, and logs the script's call itself apart.
		var run []string
		flush := func() {
			if len(run) == 0 {
				return
			}
			runs++
			first := slotOf(run[0])
			for _, k := range run[1:] {
				if s := slotOf(k); s != first {
					t.Errorf("a script on %s touched keys of slots %d (%s) and %d (%s)", addr, first, run[0], s, k)
					break
				}
			}
			run = run[:0]
		}
		for _, line := range ls {
			if !strings.Contains(line, " lua] ") {
				flush()
				continue
			}
			args := monitorArgs(line)
			if len(args) >= 2 {
				run = append(run, args[1])
			}
		}
		flush()
	}
	return runs
}

func containsMarker(lines []string, marker string) bool {
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-1000; i-- {
		if strings.Contains(lines[i], marker) {
			return true
		}
	}
	return false
}

// monitorArgs reads the quoted arguments of a MONITOR line
// (`<time> [<db> <client>] "CMD" "arg" ...`, with backslash escapes).
func monitorArgs(line string) []string {
	var out []string
	i := strings.IndexByte(line, ']')
	if i < 0 {
		return nil
	}
	s := line[i+1:]
	for {
		q := strings.IndexByte(s, '"')
		if q < 0 {
			return out
		}
		s = s[q+1:]
		var b strings.Builder
		j := 0
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		out = append(out, b.String())
		if j >= len(s) {
			return out
		}
		s = s[j+1:]
	}
}
