package projection_test

import (
	"database/sql"
	"maps"
	"testing"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/persister/projection"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit/workertest"
)

// The persister passes the worker contract's conformance suite: its
// projection is the MySQL rows it writes.
func TestConformance(t *testing.T) {
	workertest.Run(t, workertest.Worker{Name: "persister", Open: openPersister})
}

// A database restored from a backup that predates the log's first event
// (only users in it) and replayed gets back every chat, member, role and
// title as the gateway wrote them (sqlstore/chatreplay.go).
func TestReplayRebuildsChatsAndMembers(t *testing.T) {
	t.Parallel()
	seeded := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openPersister})
	fromLog := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openFromUsers})
	if d := workertest.Diff(seeded, fromLog); d != "" {
		t.Fatalf("replayed into a database holding only users, the persister builds otherwise than the gateway wrote "+
			"(want: the gateway's rows; got: replayed):\n%s", d)
	}
}

type persisterProjection struct {
	dsn string
	db  *sql.DB
}

// openPersister makes a fresh database holding what the gateway writes
// beside the log (users, chats, memberships).
func openPersister(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	dsn := workertest.SeededMySQL(t, sc)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &persisterProjection{dsn: dsn, db: db}
}

// openFromUsers makes a fresh database holding only the users.
func openFromUsers(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	st, dsn := workertest.MigratedMySQL(t)
	workertest.SeedUsers(t, st, sc)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &persisterProjection{dsn: dsn, db: db}
}

// persistedRows are the queries of every row the persister writes, chats
// and members included (which the gateway writes first), progress aside.
var persistedRows = map[string]string{
	"message": "SELECT CONCAT(chat_id, '/', id), author_id, client_id, text, reply_to_id, sent_at FROM messages",
	"read":    "SELECT CONCAT(chat_id, '/', user_id), message_id FROM read_positions",
	"chat": `SELECT id, kind, title, direct_key, created_by, created_at, last_message_id, updated_at, version
			FROM chats`,
	"member": "SELECT CONCAT(chat_id, '/', user_id), role, joined_at FROM chat_members",
}

// Handler opens the persister as its main does.
func (p *persisterProjection) Handler(t *testing.T) bus.Handler {
	o, err := projection.Open(t.Context(), projection.Config{MySQLDSN: p.dsn}, worker.Deps{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

// Snapshot is every row the persister writes, chats and members included
// (which the gateway writes first); progress without its wall-clock
// updated_at.
func (p *persisterProjection) Snapshot(t *testing.T) map[string]string {
	queries := maps.Clone(persistedRows)
	queries["progress"] = "SELECT partition_id, last_seq FROM persister_progress"
	rows, err := workertest.SQLRows(t.Context(), p.db, queries)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// With the chats on two shards (none on main), the persister passes the same
// suite, and what it builds, all databases together, is what it builds on
// one database.
func TestConformanceTwoShards(t *testing.T) {
	workertest.Run(t, workertest.Worker{Name: "persister", Open: openShardedPersister(true)})
}

func TestTwoShardsEqualOneDatabase(t *testing.T) {
	t.Parallel()
	one := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openPersister})
	two := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openShardedPersister(true)})
	if d := workertest.Diff(one, two); d != "" {
		t.Fatalf("two shards hold otherwise than one database (want: one; got: two shards):\n%s", d)
	}
	// Replayed into a main database holding only users (a restore from
	// before the log began), the chats come back on main: the same again.
	fromLog := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openShardedPersister(false)})
	if d := workertest.Diff(one, fromLog); d != "" {
		t.Fatalf("replayed into empty shards, the persister builds otherwise (want: one database; got: replayed):\n%s", d)
	}
}

// With one shard down throughout, the persister parks that shard's parts
// (sqlstore parked.go) and applies the others; once the shard answers and
// the parts are drained, every database together holds what one database
// does, applied event by event and as the whole log in one call.
func TestShardDownParkedThenDrainedEqualsOneDatabase(t *testing.T) {
	t.Parallel()
	one := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openPersister})
	parked := workertest.Reference(t, workertest.Worker{Name: "persister", Open: openParkedPersister})
	if d := workertest.Diff(one, parked); d != "" {
		t.Fatalf("parked and drained, the persister builds otherwise (want: one database; got: parked):\n%s", d)
	}
}

// parkedProjection is a two-shard persister that cannot reach the second
// shard; its snapshot is taken after the shard is back and drained.
type parkedProjection struct{ shardedProjection }

func openParkedPersister(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	return &parkedProjection{shardedProjection{workertest.ShardedMySQL(t, sc, 2, true), true}}
}

func (p *parkedProjection) Handler(t *testing.T) bus.Handler {
	return projection.New(p.StoreWithOneDown(t), quiet)
}

func (p *parkedProjection) Snapshot(t *testing.T) map[string]string {
	p.DrainParked(t, sqlstore.ParkPersister)
	return p.shardedProjection.Snapshot(t)
}

type shardedProjection struct {
	workertest.Sharded
	seeded bool // the gateway placed the chats (else the replay puts them on main)
}

func openShardedPersister(seed bool) func(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	return func(t *testing.T, sc *workertest.Scenario) workertest.Projection {
		return &shardedProjection{workertest.ShardedMySQL(t, sc, 2, seed), seed}
	}
}

func (p *shardedProjection) Handler(t *testing.T) bus.Handler {
	o, err := projection.Open(t.Context(), projection.Config{MySQLDSN: p.MainDSN, MySQLShards: p.Shards}, worker.Deps{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

// Snapshot is persisterProjection's over every database, progress the
// highest mark of the shards, and each chat-scoped row must be on its chat's
// shard only (SQLRowsAll fails on a row found twice).
func (p *shardedProjection) Snapshot(t *testing.T) map[string]string {
	rows, err := workertest.SQLRowsAll(t.Context(), p.DBs, persistedRows)
	if err != nil {
		t.Fatal(err)
	}
	progress, err := workertest.ShardProgress(t.Context(), p.DBs, "persister_progress")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range progress {
		rows[k] = v
	}
	var onMain int
	if err := p.DBs[0].QueryRowContext(t.Context(), "SELECT COUNT(*) FROM messages").Scan(&onMain); err != nil {
		t.Fatal(err)
	}
	if p.seeded && onMain > 0 {
		t.Fatalf("%d messages on the main database, which weighs 0 and holds no chat", onMain)
	}
	return rows
}
