package index_test

import (
	"database/sql"
	"io"
	"log/slog"
	"testing"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/searcher/index"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit/workertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The searcher passes the worker contract's conformance suite: its
// projection is the index's rows (terms, documents with their versions and
// tombstones) and its progress.
func TestConformance(t *testing.T) {
	workertest.Run(t, workertest.Worker{Name: "searcher", Open: openSearcher})
}

type searcherProjection struct {
	dsn string
	db  *sql.DB
}

func openSearcher(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	dsn := workertest.SeededMySQL(t, sc)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &searcherProjection{dsn: dsn, db: db}
}

// Handler opens the searcher as its main does.
func (p *searcherProjection) Handler(t *testing.T) bus.Handler {
	o, err := index.Open(t.Context(), index.Config{MySQLDSN: p.dsn}, worker.Deps{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

// Snapshot is every row the searcher writes.
func (p *searcherProjection) Snapshot(t *testing.T) map[string]string {
	rows, err := workertest.SQLRows(t.Context(), p.db, map[string]string{
		"term":     "SELECT CONCAT(chat_id, '/', message_id, '/', HEX(term)), 1 FROM search_terms",
		"doc":      "SELECT CONCAT(chat_id, '/', message_id), version, deleted, HEX(terms) FROM search_docs",
		"progress": "SELECT partition_id, last_seq FROM search_progress",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// With the chats on two shards, the searcher passes the same suite, and its
// index, all shards together, is the one it builds on one database.
func TestConformanceTwoShards(t *testing.T) {
	workertest.Run(t, workertest.Worker{Name: "searcher", Open: openShardedSearcher})
}

func TestTwoShardsEqualOneDatabase(t *testing.T) {
	t.Parallel()
	one := workertest.Reference(t, workertest.Worker{Name: "searcher", Open: openSearcher})
	two := workertest.Reference(t, workertest.Worker{Name: "searcher", Open: openShardedSearcher})
	if d := workertest.Diff(one, two); d != "" {
		t.Fatalf("two shards hold otherwise than one database (want: one; got: two shards):\n%s", d)
	}
}

// With one shard down throughout, the searcher parks that shard's parts and
// indexes the others; drained once the shard answers, the index is the one
// it builds on one database.
func TestShardDownParkedThenDrainedEqualsOneDatabase(t *testing.T) {
	t.Parallel()
	one := workertest.Reference(t, workertest.Worker{Name: "searcher", Open: openSearcher})
	parked := workertest.Reference(t, workertest.Worker{Name: "searcher", Open: openParkedSearcher})
	if d := workertest.Diff(one, parked); d != "" {
		t.Fatalf("parked and drained, the searcher builds otherwise (want: one database; got: parked):\n%s", d)
	}
}

type parkedSearcher struct{ shardedSearcher }

func openParkedSearcher(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	return &parkedSearcher{shardedSearcher{workertest.ShardedMySQL(t, sc, 2, true)}}
}

func (p *parkedSearcher) Handler(t *testing.T) bus.Handler {
	return index.New(p.StoreWithOneDown(t), quiet)
}

func (p *parkedSearcher) Snapshot(t *testing.T) map[string]string {
	p.DrainParked(t, sqlstore.ParkSearcher)
	return p.shardedSearcher.Snapshot(t)
}

type shardedSearcher struct{ workertest.Sharded }

func openShardedSearcher(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	return &shardedSearcher{workertest.ShardedMySQL(t, sc, 2, true)}
}

func (p *shardedSearcher) Handler(t *testing.T) bus.Handler {
	o, err := index.Open(t.Context(), index.Config{MySQLDSN: p.MainDSN, MySQLShards: p.Shards}, worker.Deps{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

func (p *shardedSearcher) Snapshot(t *testing.T) map[string]string {
	rows, err := workertest.SQLRowsAll(t.Context(), p.DBs, map[string]string{
		"term": "SELECT CONCAT(chat_id, '/', message_id, '/', HEX(term)), 1 FROM search_terms",
		"doc":  "SELECT CONCAT(chat_id, '/', message_id), version, deleted, HEX(terms) FROM search_docs",
	})
	if err != nil {
		t.Fatal(err)
	}
	progress, err := workertest.ShardProgress(t.Context(), p.DBs, "search_progress")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range progress {
		rows[k] = v
	}
	return rows
}
