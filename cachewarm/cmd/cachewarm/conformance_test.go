package main

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/testkit"
	"github.com/logchat/testkit/workertest"
)

// The package's tests run on one Redis and on Redis Cluster
// (testkit.RedisUnderTest): cachewarm's conformance suite on both.
func TestMain(m *testing.M) { os.Exit(testkit.MainOnRedisBackends(m)) }

// cachewarm passes the worker contract's conformance suite: its projection
// is every Redis key under its prefix.
func TestConformance(t *testing.T) {
	workertest.Run(t, workertest.Worker{Name: "cachewarm", Open: openCachewarm})
}

type cachewarmProjection struct {
	s   settings
	rdb redis.UniversalClient
}

// openCachewarm gives the worker a Redis prefix of its own and a database
// holding what the gateway writes (where chats are loaded from when Redis
// lacks them).
func openCachewarm(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	dsn := workertest.SeededMySQL(t, sc)
	rdb, prefix := testkit.RedisUnderTest(t)
	return &cachewarmProjection{rdb: rdb, s: settings{Redis: testkit.RedisUnderTestConfig(t), RedisPrefix: prefix,
		MySQLDSN: dsn, Recent: chatcache.DefaultRecentMessages}}
}

// Handler opens cachewarm as its main does.
func (p *cachewarmProjection) Handler(t *testing.T) bus.Handler {
	o, err := open(t.Context(), p.s, worker.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

func (p *cachewarmProjection) Snapshot(t *testing.T) map[string]string {
	keys, err := workertest.RedisKeys(t.Context(), p.rdb, p.s.RedisPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
