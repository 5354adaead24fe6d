package server_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// withShards gives the harness n chat shards beyond its main database, and
// returns connections to them by name.
func withShards(t *testing.T, n int, dbs map[string]*sql.DB) func(*harnessOpts) {
	return func(o *harnessOpts) {
		for i := range n {
			sh := sqlstore.ShardDSN{Name: fmt.Sprintf("s%d", i+1), DSN: testkit.MySQL(t)}
			o.shards = append(o.shards, sh)
			db, err := sql.Open("mysql", sh.DSN)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			dbs[sh.Name] = db
		}
	}
}

// With the chats on two shards, the gateway's reads span them: each chat's
// history, the unread counts of a chat list, and one search over every chat
// of the user, merged newest first. Then a chat moves to the other shard
// while messages keep being sent to it through the API: its history ends
// with every message once, in the order sent, and the source holds none.
func TestGatewayReadsAcrossShardsAndAMoveWhileSending(t *testing.T) {
	dbs := map[string]*sql.DB{}
	h := newHarness(t, withShards(t, 2, dbs))
	h.startProjections()
	h.startSearcher()
	alice, bob := h.register("alice"), h.register("bob")
	var chats []chatJSON
	onShard := map[string][]int64{}
	for i := range 4 {
		c := h.group(alice, fmt.Sprintf("g%d", i), bob)
		chats = append(chats, c)
	}
	var sent []int64
	for _, c := range chats {
		for k := range 3 {
			sent = append(sent, h.send(alice, c.ID, fmt.Sprintf("shardword %d", k), fmt.Sprintf("c%d-%d", c.ID, k)).ID)
		}
	}
	for _, c := range chats {
		eventually(t, fmt.Sprintf("history of chat %d", c.ID), func() bool { return len(h.history(bob, c.ID)) == 3 })
		for name, db := range dbs {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE chat_id = ?", c.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				onShard[name] = append(onShard[name], c.ID)
			}
		}
	}
	if len(onShard["s1"]) == 0 || len(onShard["s2"]) == 0 {
		t.Fatalf("chats by shard %v: want both shards used", onShard)
	}
	for _, c := range chats {
		if s := h.summary(bob, c.ID); s.UnreadCount != 3 {
			t.Fatalf("chat %d: bob's unread count %d, want 3", c.ID, s.UnreadCount)
		}
	}
	slices.Reverse(sent)
	eventually(t, "search over both shards", func() bool { return slices.Equal(h.found(bob, "shardword"), sent) })

	// The move, while alice sends.
	moving := onShard["s1"][0]
	var wg sync.WaitGroup
	var clientIDs []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := range 60 {
			id := fmt.Sprintf("live-%d", k)
			r := h.do("POST", chatPath(moving, "/messages"), alice.token, map[string]any{"text": fmt.Sprintf("live %d", k), "client_id": id})
			if r.status != http.StatusAccepted {
				t.Errorf("send %d: status %d", k, r.status)
				return
			}
			clientIDs = append(clientIDs, id)
		}
	}()
	if err := h.store.MoveChat(t.Context(), moving, "s2", nil); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	want := []string{fmt.Sprintf("c%d-0", moving), fmt.Sprintf("c%d-1", moving), fmt.Sprintf("c%d-2", moving)}
	want = append(want, clientIDs...)
	var got []string
	eventually(t, "history of the moved chat", func() bool {
		got = got[:0]
		for _, m := range h.history(bob, moving) {
			got = append(got, m.ClientID)
		}
		return len(got) >= len(want)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("history after the move:\n got %v\nwant %v", got, want)
	}
	var left int
	if err := dbs["s1"].QueryRow("SELECT COUNT(*) FROM messages WHERE chat_id = ?", moving).Scan(&left); err != nil || left != 0 {
		t.Fatalf("the source still holds %d messages of the moved chat (%v)", left, err)
	}
}
