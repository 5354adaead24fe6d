package testkit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/storage/redisconn"
)

// The Redis code must behave the same on one Redis and on Redis Cluster
// (REDIS_CLUSTER_ADDRS). A test package whose tests take their Redis from
// RedisUnderTest (and RedisUnderTestConfig) runs them on both with
//
//	func TestMain(m *testing.M) { os.Exit(testkit.MainOnRedisBackends(m)) }
//
// which runs the package's tests once per backend (same tests, same
// assertions), starting one cluster for the package: three masters of
// scripts/redis-cluster.sh on free ports, data in a temporary directory,
// stopped after the tests. RedisOn(t, backend) gives a test a chosen one.

// Redis backends of RedisOn.
const (
	RedisSingle  = "single"
	RedisCluster = "cluster"
)

// RedisBackends are the backends every Redis test runs on.
var RedisBackends = []string{RedisSingle, RedisCluster}

var sharedCluster struct {
	sync.Mutex
	enabled bool   // TestMain asked for a cluster
	dir     string // its data directory once started
	addrs   []string
	err     error
}

// MainWithRedisCluster runs the package's tests once, with a Redis Cluster
// started on the first RedisOn(t, RedisCluster) and stopped when they end:
// for a package where only some tests run on both backends.
func MainWithRedisCluster(m *testing.M) int {
	sharedCluster.Lock()
	sharedCluster.enabled = true
	sharedCluster.Unlock()
	code := m.Run()
	if err := stopSharedCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		code = 1
	}
	return code
}

func stopSharedCluster() error {
	sharedCluster.Lock()
	defer sharedCluster.Unlock()
	if sharedCluster.dir == "" {
		return nil
	}
	err := StopRedisCluster(sharedCluster.dir)
	os.RemoveAll(sharedCluster.dir)
	sharedCluster.dir, sharedCluster.addrs = "", nil
	return err
}

// redisBackend is the backend of RedisUnderTest; MainOnRedisBackends sets it
// between runs (never while tests run).
var redisBackend = RedisSingle

// MainOnRedisBackends runs the package's tests once on each of RedisBackends,
// with a Redis Cluster started on first use and stopped when they end. It
// returns a failing run's exit code, else 0.
func MainOnRedisBackends(m *testing.M) int {
	sharedCluster.Lock()
	sharedCluster.enabled = true
	sharedCluster.Unlock()
	code := 0
	for _, b := range RedisBackends {
		redisBackend = b
		// Which run a failure belongs to (go test prints this with -v or on failure).
		fmt.Printf("testkit: the tests on Redis backend %q\n", b)
		// testing.M.Run may run more than once (go.dev/issue/23129).
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	redisBackend = RedisSingle
	if err := stopSharedCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		code = 1
	}
	return code
}

// RedisClusterAddrs returns the seeds of the package's Redis Cluster,
// starting it on first use.
func RedisClusterAddrs(t testing.TB) []string {
	t.Helper()
	sharedCluster.Lock()
	defer sharedCluster.Unlock()
	if !sharedCluster.enabled {
		t.Fatal("testkit: a Redis Cluster needs TestMain to call testkit.MainOnRedisBackends (which stops it)")
	}
	if sharedCluster.addrs == nil && sharedCluster.err == nil {
		dir, err := os.MkdirTemp("", "logchat-redis-cluster-")
		if err != nil {
			t.Fatal(err)
		}
		sharedCluster.dir = dir
		sharedCluster.addrs, sharedCluster.err = StartRedisCluster(RepoRoot(t), dir)
	}
	if sharedCluster.err != nil {
		t.Fatal(sharedCluster.err)
	}
	return sharedCluster.addrs
}

// RedisClusterDir is the data directory of the package's Redis Cluster (for
// `scripts/redis-cluster.sh acl DIR ...`), starting it on first use.
func RedisClusterDir(t testing.TB) string {
	t.Helper()
	RedisClusterAddrs(t)
	sharedCluster.Lock()
	defer sharedCluster.Unlock()
	return sharedCluster.dir
}

// StartRedisCluster runs `scripts/redis-cluster.sh start DIR PORT_BASE` with
// a base whose three ports and cluster bus ports (+10000) are free, and
// returns the seeds. It returns once the cluster's state is ok.
func StartRedisCluster(root, dir string) ([]string, error) {
	var lastErr error
	for range 5 {
		base := freePortRun()
		out, err := exec.Command(filepath.Join(root, "scripts", "redis-cluster.sh"), "start", dir, strconv.Itoa(base)).CombinedOutput()
		if err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			return strings.Split(lines[len(lines)-1], ","), nil
		}
		lastErr = fmt.Errorf("scripts/redis-cluster.sh start (Debian package redis-server): %v\n%s", err, out)
		// A port taken between the check and the start: try other ports.
		_ = StopRedisCluster(dir)
		os.Remove(filepath.Join(dir, "ports"))
	}
	return nil, lastErr
}

// StopRedisCluster stops the masters started in dir.
func StopRedisCluster(dir string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "scripts", "redis-cluster.sh")); err == nil {
			break
		}
		if filepath.Dir(root) == root {
			return errors.New("scripts/redis-cluster.sh not found above the working directory")
		}
		root = filepath.Dir(root)
	}
	if out, err := exec.Command(filepath.Join(root, "scripts", "redis-cluster.sh"), "stop", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/redis-cluster.sh stop: %v\n%s", err, out)
	}
	return nil
}

// freePortRun returns a port p such that p, p+1, p+2 and the cluster bus
// ports p+10000.. are free now (40000-49990: the bus ports stay below 60000).
func freePortRun() int {
	for {
		base := 40000 + rand.IntN(9990)
		ok := true
		for _, p := range []int{base, base + 1, base + 2, base + 10000, base + 10001, base + 10002} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
}

// RedisOn returns a client of backend (RedisSingle: the machine's Redis as
// Redis; RedisCluster: the package's cluster) and a key prefix of the
// test's own, whose keys are deleted when the test ends.
func RedisOn(t testing.TB, backend string) (redis.UniversalClient, string) {
	t.Helper()
	if backend == RedisSingle {
		return Redis(t)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: RedisClusterAddrs(t)})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis cluster: %v", err)
	}
	prefix := "t" + RandomID() + ":"
	t.Cleanup(func() {
		_ = DeleteRedisPrefix(context.Background(), rdb, prefix)
		rdb.Close()
	})
	return rdb, prefix
}

// DeleteRedisPrefix deletes every key under prefix, on one Redis or on every
// master of a cluster (SCAN sees one node's keys; a DEL of keys of several
// slots is refused there, so they go one by one).
func DeleteRedisPrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	del := func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := node.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		return cl.ForEachMaster(ctx, del)
	}
	if c, ok := rdb.(*redis.Client); ok {
		return del(ctx, c)
	}
	return fmt.Errorf("testkit: no way to delete keys through a %T", rdb)
}

// RedisUnderTestBackend is the backend RedisUnderTest gives now.
func RedisUnderTestBackend() string { return redisBackend }

// RedisUnderTest is RedisOn for the backend of the current run of
// MainOnRedisBackends (one Redis without it).
func RedisUnderTest(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	return RedisOn(t, redisBackend)
}

// RedisUnderTestConfig is how a process reaches RedisUnderTest's backend
// (REDIS_ADDR or REDIS_CLUSTER_ADDRS), without a login.
func RedisUnderTestConfig(t testing.TB) redisconn.Config {
	t.Helper()
	if redisBackend == RedisCluster {
		return redisconn.Config{ClusterAddrs: RedisClusterAddrs(t)}
	}
	return redisconn.Config{Addr: RedisAddr()}
}

// RedisUnderTestEnv is RedisUnderTestConfig as environment variables.
func RedisUnderTestEnv(t testing.TB) []string {
	t.Helper()
	if c := RedisUnderTestConfig(t); c.Cluster() {
		return []string{"REDIS_CLUSTER_ADDRS=" + strings.Join(c.ClusterAddrs, ",")}
	}
	return []string{"REDIS_ADDR=" + RedisAddr()}
}
