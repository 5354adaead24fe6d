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

// Handler opens the persister as its main does.
func (p *persisterProjection) Handler(t *testing.T) bus.Handler {
	o, err := projection.Open(t.Context(), projection.Config{MySQLDSN: p.dsn}, worker.Deps{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

// Snapshot is every row the persister writes, and the columns of chats it
// maintains; progress without its wall-clock updated_at.
func (p *persisterProjection) Snapshot(t *testing.T) map[string]string {
	rows, err := workertest.SQLRows(t.Context(), p.db, map[string]string{
		"message":  "SELECT CONCAT(chat_id, '/', id), author_id, client_id, text, reply_to_id, sent_at FROM messages",
		"read":     "SELECT CONCAT(chat_id, '/', user_id), message_id FROM read_positions",
		"chat":     "SELECT id, last_message_id, updated_at FROM chats",
		"progress": "SELECT partition_id, last_seq FROM persister_progress",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
