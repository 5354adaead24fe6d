package main

import (
	"bytes"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// `ingest shard move` moves a chat with its messages and says what it did;
// bad arguments are refused with the usage. (Without a log to catch up from:
// the whole copy under the directory row. e2e TestShardsEndToEnd moves a
// chat caught up from the stream.)
func TestShardMove(t *testing.T) {
	t.Parallel()
	mainDSN := testkit.MySQL(t)
	shards := []sqlstore.ShardDSN{{Name: "s1", DSN: testkit.MySQL(t)}}
	st, err := sqlstore.Open(t.Context(), mainDSN, sqlstore.WithShards(shards),
		sqlstore.WithShardWeights(map[string]int{"main": 1, "s1": 0}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(t.Context(), "ann", []byte("h"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.CreateGroupChat(t.Context(), "g", u.ID, []domain.Member{{User: u, Role: domain.RoleAdmin}}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ApplyBatch(t.Context(), sqlstore.Batch{Messages: []domain.Message{
		{ID: 7, ChatID: c.ID, Author: u, Text: "hi", ClientID: "c7", SentAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	s := shardSettings{MySQLDSN: mainDSN, MySQLShards: shards}
	for _, bad := range [][]string{{}, {"move"}, {"move", "x", "--to", "s1"}, {"move", "1"}} {
		if err := runShard(t.Context(), &bytes.Buffer{}, s, nil, bad); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("%q: %v, want the usage", bad, err)
		}
	}
	var out bytes.Buffer
	if err := runShard(t.Context(), &out, s, nil, []string{"move", strconv.FormatInt(c.ID, 10), "--to", "s1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the move is complete") {
		t.Fatalf("output: %s", out.String())
	}
	db, err := sql.Open("mysql", shards[0].DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE chat_id = ?", c.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("s1 holds %d messages of the chat (%v), want 1", n, err)
	}
}
