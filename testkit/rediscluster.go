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
)

// The Redis code must behave the same on one Redis and on Redis Cluster
// (REDIS_CLUSTER_ADDRS). A test package that runs against both starts one
// cluster for the whole package in its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.MainWithRedisCluster(m)) }
//
// and its tests take their Redis from RedisOn(t, backend) for each of
// RedisBackends. The cluster is three masters of scripts/redis-cluster.sh on
// free ports, with data in a temporary directory; MainWithRedisCluster
// stops it after the tests.

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

// MainWithRedisCluster runs the package's tests, with a Redis Cluster started
// on the first RedisOn(t, RedisCluster) and stopped when they end. It
// returns m.Run's exit code.
func MainWithRedisCluster(m *testing.M) int {
	sharedCluster.Lock()
	sharedCluster.enabled = true
	sharedCluster.Unlock()
	code := m.Run()
	sharedCluster.Lock()
	defer sharedCluster.Unlock()
	if sharedCluster.dir != "" {
		if err := StopRedisCluster(sharedCluster.dir); err != nil {
			fmt.Fprintln(os.Stderr, "testkit:", err)
			code = 1
		}
		os.RemoveAll(sharedCluster.dir)
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
		t.Fatal("testkit: a Redis Cluster needs TestMain to call testkit.MainWithRedisCluster (which stops it)")
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
		ctx := context.Background()
		// SCAN sees one node's keys: every master is scanned.
		_ = rdb.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				node.Del(ctx, iter.Val())
			}
			return nil
		})
		rdb.Close()
	})
	return rdb, prefix
}
