package redisconn_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/storage/redisconn"
	"github.com/logchat/testkit"
)

// A master of a cluster of the test's own is killed (SIGKILL) and started
// again by scripts/redis-cluster.sh: meanwhile Ping fails and PingAny
// answers, the other masters serve their keys, and the restarted master
// comes back with its slots and the keys written before the kill.
func TestPingWhileAMasterIsDownAndAfterItsRestart(t *testing.T) {
	root, dir := testkit.RepoRoot(t), t.TempDir()
	addrs, err := testkit.StartRedisCluster(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testkit.StopRedisCluster(dir) })
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 1})
	defer rdb.Close()
	if err := redisconn.Ping(ctx, rdb); err != nil {
		t.Fatalf("Ping, every master up: %v", err)
	}
	if err := redisconn.PingAny(ctx, rdb); err != nil {
		t.Fatalf("PingAny, every master up: %v", err)
	}

	// Keys on every master, then the one on the victim's slots is known.
	victim := addrs[1]
	byMaster := map[string]string{}
	for i := 0; len(byMaster) < len(addrs) && i < 1000; i++ {
		key := "ping-test:" + strconv.Itoa(i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if m := masterOf(t, rdb, slot); byMaster[m] == "" {
			byMaster[m] = key
		}
	}
	if len(byMaster) != len(addrs) {
		t.Fatalf("keys reached masters %v, want all of %v", byMaster, addrs)
	}

	port := victim[strings.LastIndex(victim, ":")+1:]
	pidText, err := os.ReadFile(filepath.Join(dir, port, "redis.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed master gone", func() bool { return syscall.Kill(pid, 0) != nil })

	if err := redisconn.Ping(ctx, rdb); err == nil {
		t.Fatal("Ping answers with a master down; want an error (its slots are unreachable)")
	}
	if err := redisconn.PingAny(ctx, rdb); err != nil {
		t.Fatalf("PingAny with one master down: %v", err)
	}
	// The others serve their keys, also past the node timeout (5 s), when
	// they have marked the victim failed: cluster-require-full-coverage no.
	deadline := time.Now().Add(7 * time.Second)
	for time.Now().Before(deadline) {
		for m, key := range byMaster {
			if m == victim {
				continue
			}
			if err := rdb.Get(ctx, key).Err(); err != nil {
				t.Fatalf("key %s of the live master %s: %v", key, m, err)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}

	base := strings.Fields(readFile(t, filepath.Join(dir, "ports")))[0]
	if out, err := exec.Command(filepath.Join(root, "scripts", "redis-cluster.sh"), "start", dir, base).CombinedOutput(); err != nil {
		t.Fatalf("redis-cluster.sh start (the killed master again): %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "Ping answers after the restart", func() bool { return redisconn.Ping(ctx, rdb) == nil })
	for m, key := range byMaster {
		if v, err := rdb.Get(ctx, key).Result(); err != nil || v == "" {
			t.Errorf("key %s of master %s after the restart: %q, %v (want it kept by the append-only file)", key, m, v, err)
		}
	}
}

// masterOf is the address of the master that serves slot.
func masterOf(t *testing.T, rdb *redis.ClusterClient, slot int64) string {
	t.Helper()
	shards, err := rdb.ClusterShards(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start <= slot && slot <= r.End {
				for _, n := range sh.Nodes {
					if n.Role == "master" {
						return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
					}
				}
			}
		}
	}
	t.Fatalf("no master serves slot %d", slot)
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}
