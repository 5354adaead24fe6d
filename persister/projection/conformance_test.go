package projection_test

import (
	"database/sql"
	"testing"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/persister/projection"
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
	rows, err := workertest.SQLRows(t.Context(), p.db, map[string]string{
		"message": "SELECT CONCAT(chat_id, '/', id), author_id, client_id, text, reply_to_id, sent_at FROM messages",
		"read":    "SELECT CONCAT(chat_id, '/', user_id), message_id FROM read_positions",
		"chat": `SELECT id, kind, title, direct_key, created_by, created_at, last_message_id, updated_at, version
			FROM chats`,
		"member":   "SELECT CONCAT(chat_id, '/', user_id), role, joined_at FROM chat_members",
		"progress": "SELECT partition_id, last_seq FROM persister_progress",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
