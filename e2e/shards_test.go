package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/verify"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// A stack on two MySQL shards (two databases of the test server standing in
// for two servers; main takes no chats): the chats are spread over the
// shards, a chat moves to the other shard with `ingest shard move` while
// messages keep being sent to it, its history ends with every message once
// and in order, and `ingest verify` rebuilds both shards from the log and
// finds nothing.
func TestShardsEndToEnd(t *testing.T) {
	shards := []sqlstore.ShardDSN{{Name: "s1", DSN: testkit.MySQL(t)}, {Name: "s2", DSN: testkit.MySQL(t)}}
	spec := shards[0].Name + "=" + shards[0].DSN + " " + shards[1].Name + "=" + shards[1].DSN
	sys := harness.Start(t, harness.Options{Partitions: 2, Env: []string{
		"MYSQL_SHARDS=" + spec, "MIGRATE_MYSQL_SHARDS=" + spec, "MYSQL_SHARD_WEIGHTS=main=0"}})
	// The chat that moves is the one verifyLoad leaves untouched after its
	// sends (the others hold carol's message, a delete or a cleared history,
	// which alice's history would not match with what was sent).
	alice, _, byChat, moving := verifyLoad(t, sys)

	dbs := map[string]*sql.DB{}
	for name, dsn := range map[string]string{"main": sys.MySQLDSN, "s1": shards[0].DSN, "s2": shards[1].DSN} {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs[name] = db
	}
	countIn := func(name string, chat int64) int {
		var n int
		if err := dbs[name].QueryRow("SELECT COUNT(*) FROM messages WHERE chat_id = ?", chat).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Wait until the persister has applied the load, then see where it went.
	home := map[int64]string{}
	harness.Eventually(t, 60*time.Second, "the load persisted on the shards", func() (bool, string) {
		for chat, msgs := range byChat {
			home[chat] = ""
			for _, name := range []string{"s1", "s2"} {
				if countIn(name, chat) >= len(msgs) {
					home[chat] = name
				}
			}
			if home[chat] == "" {
				return false, fmt.Sprintf("chat %d not complete on any shard", chat)
			}
		}
		return true, ""
	})
	used := map[string]bool{}
	for chat, name := range home {
		used[name] = true
		if countIn("main", chat) != 0 {
			t.Fatalf("chat %d has messages on main, which takes no chats", chat)
		}
	}
	if !used["s1"] || !used["s2"] {
		t.Fatalf("chats by shard %v: want both shards used", home)
	}
	from := home[moving]
	to := map[string]string{"s1": "s2", "s2": "s1"}[from]

	// The move, while alice sends to the chat.
	var wg sync.WaitGroup
	var live []int64
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			m, err := alice.Send(moving, fmt.Sprintf("during the move %d", k), fmt.Sprintf("mv-%d", k))
			if err != nil {
				t.Errorf("send during the move: %v", err)
				return
			}
			live = append(live, m.ID)
		}
	}()
	out, err := sys.Ingest("shard", "move", strconv.FormatInt(moving, 10), "--to", to)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("ingest shard move: %v\n%s", err, out)
	}
	t.Logf("ingest shard move:\n%s", out)
	// The copy ran beside the writers and the stream caught the target up.
	if !strings.Contains(out, "from a snapshot") || !strings.Contains(out, "caught up") || strings.Contains(out, "copied again") {
		t.Fatalf("ingest shard move did not catch up from the log:\n%s", out)
	}
	if len(live) == 0 {
		t.Fatal("nothing was sent during the move")
	}
	want := []int64{}
	for _, m := range byChat[moving] {
		want = append(want, m.id)
	}
	want = append(want, live...)
	slices.Sort(want)
	var got []int64
	harness.Eventually(t, 60*time.Second, "the moved chat's history complete", func() (bool, string) {
		got, err = alice.AllHistory(moving, 100)
		return err == nil && len(got) >= len(want), fmt.Sprintf("%d of %d (%v)", len(got), len(want), err)
	})
	if !slices.Equal(got, want) {
		t.Fatalf("history of the moved chat: %d messages, want the %d sent, once each, in order; missing %v, unexpected %v",
			len(got), len(want), minus(want, got), minus(got, want))
	}
	if n := countIn(from, moving); n != 0 {
		t.Fatalf("the source %s still holds %d messages of the moved chat", from, n)
	}

	// The convergence check over the main database and both shards.
	out, err = sys.Ingest("verify")
	if err != nil || !strings.Contains(out, "CONVERGED") {
		t.Fatalf("ingest verify: %v\n%s", err, out)
	}
	rep, err := sys.Verify(context.Background(), verify.Options{Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differences != 0 {
		t.Fatalf("%d differences:\n%v", rep.Differences, rep.Shown)
	}
	accepted := len(live) + 1 // carol's
	for _, msgs := range byChat {
		accepted += len(msgs)
	}
	compared := 0
	for _, v := range rep.Views {
		if v.View == "messages" || v.View == "s1/messages" || v.View == "s2/messages" {
			compared += v.Compared
		}
	}
	if compared != accepted {
		t.Fatalf("messages compared over the databases: %d, want the %d accepted (views %+v)", compared, accepted, rep.Views)
	}
}

// One shard's MariaDB stops: sends to its chats are still accepted, the
// other shard's chats are still persisted and read, and when it returns
// every message is persisted, once each and in order (docs/design.md, "A
// shard down").
func TestShardDownAndBack(t *testing.T) {
	own := testkit.StartOwnMariaDB(t)
	shards := []sqlstore.ShardDSN{{Name: "s1", DSN: testkit.MySQL(t)}, {Name: "s2", DSN: own.Database(t, "logchat_s2")}}
	spec := shards[0].Name + "=" + shards[0].DSN + " " + shards[1].Name + "=" + shards[1].DSN
	sys := harness.Start(t, harness.Options{Partitions: 2, Env: []string{
		"MYSQL_SHARDS=" + spec, "MIGRATE_MYSQL_SHARDS=" + spec, "MYSQL_SHARD_WEIGHTS=main=0"}})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	main, err := sql.Open("mysql", sys.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	chatOn := map[string]int64{}
	for i := 0; chatOn["s1"] == 0 || chatOn["s2"] == 0; i++ {
		c := alice.GroupChat(fmt.Sprintf("g%d", i), bob.User.ID)
		var shard string
		if err := main.QueryRow("SELECT shard FROM chat_shards WHERE chat_id = ?", c.ID).Scan(&shard); err != nil {
			t.Fatal(err)
		}
		if chatOn[shard] == 0 {
			chatOn[shard] = c.ID
		}
	}
	sent := map[int64][]int64{}
	send := func(n int, tag string) {
		for _, chat := range chatOn {
			for k := range n {
				m, err := alice.Send(chat, fmt.Sprintf("%s %d", tag, k), fmt.Sprintf("%s-%d-%d", tag, chat, k))
				if err != nil {
					t.Fatalf("send to chat %d: %v", chat, err)
				}
				sent[chat] = append(sent[chat], m.ID)
			}
		}
	}
	complete := func(what string, shards ...string) {
		for _, name := range shards {
			chat := chatOn[name]
			var got []int64
			harness.Eventually(t, 120*time.Second, what, func() (bool, string) {
				got, err = bob.AllHistory(chat, 100)
				return err == nil && len(got) >= len(sent[chat]), fmt.Sprintf("chat %d: %d of %d (%v)", chat, len(got), len(sent[chat]), err)
			})
			if !slices.Equal(got, sent[chat]) {
				t.Fatalf("chat %d: history %v, want %v", chat, got, sent[chat])
			}
		}
	}
	send(5, "before")
	complete("history before the outage", "s1", "s2")

	own.Stop(syscall.SIGTERM)
	send(20, "during") // every send accepted: the log holds them
	// The other shard's chats are unaffected: persisted while s2 is down
	// (the persister parks s2's part of its batches, sqlstore parked.go).
	complete("history of the chat on s1 while s2 is down", "s1")
	var parked int
	if err := main.QueryRow("SELECT COUNT(*) FROM parked_work WHERE shard = 's2'").Scan(&parked); err != nil || parked == 0 {
		t.Fatalf("parts parked for s2 while it is down: %d, %v; want some", parked, err)
	}
	own.Start(t)
	complete("history after s2 returned", "s1", "s2")
	harness.Eventually(t, 60*time.Second, "the parked parts drained", func() (bool, string) {
		err := main.QueryRow("SELECT COUNT(*) FROM parked_work").Scan(&parked)
		return err == nil && parked == 0, fmt.Sprintf("%d parked, %v", parked, err)
	})
}

// minus is the ids of a that are not in b.
func minus(a, b []int64) []int64 {
	in := map[int64]bool{}
	for _, id := range b {
		in[id] = true
	}
	var out []int64
	for _, id := range a {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}
