package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/verify"
)

// The convergence check (`ingest verify`, ingest/verify) on a real stack:
// after a load it finds nothing; after one change to a live projection
// behind the workers' back it finds exactly that change.

// verifyLoad builds a small history on sys: groups and a direct chat,
// messages in all of them from two authors, reads, a member added and one
// removed. It returns the accepted messages by chat, in acceptance order,
// and a chat bob is still in.
func verifyLoad(t *testing.T, sys *harness.System) (alice, bob *harness.Client, byChat map[int64][]sent, bobs int64) {
	t.Helper()
	alice = harness.Register(t, sys.GatewayURL, "alice")
	bob = harness.Register(t, sys.GatewayURL, "bob")
	carol := harness.Register(t, sys.GatewayURL, "carol")
	chats := groups(t, alice, bob, 4)
	chats = append(chats, alice.DirectChat(bob.User.ID))
	byChat = map[int64][]sent{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for ci, ch := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 30 {
				from := alice
				if k%3 == 2 {
					from = bob
				}
				text := fmt.Sprintf("chat %d message %d", ci, k)
				m, err := from.Send(ch.ID, text, fmt.Sprintf("v-%d-%d", ci, k))
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				mu.Lock()
				byChat[ch.ID] = append(byChat[ch.ID], sent{id: m.ID, text: text})
				mu.Unlock()
				if k == 20 {
					bob.Must(204, "POST", fmt.Sprintf("/chats/%d/read", ch.ID), map[string]int64{"message_id": m.ID}, nil)
				}
			}
		}()
	}
	wg.Wait()
	alice.Must(200, "POST", fmt.Sprintf("/chats/%d/members", chats[0].ID), map[string]int64{"user_id": carol.User.ID}, nil)
	alice.Must(204, "DELETE", fmt.Sprintf("/chats/%d/members/%d", chats[1].ID, bob.User.ID), nil, nil)
	if _, err := carol.Send(chats[0].ID, "hello from carol", "v-carol"); err != nil {
		t.Fatal(err)
	}
	// The message life-cycle (API.md 1.1): edits, a delete for everyone, a
	// delete for me and a cleared history, in chats other than chats[2],
	// which the corruption test reads.
	for _, i := range []int{4, 4, 9} { // alice's (bob sent every third)
		m := byChat[chats[3].ID][i]
		alice.Must(200, "PATCH", fmt.Sprintf("/chats/%d/messages/%d", chats[3].ID, m.id), map[string]string{"text": m.text + " (edited)"}, nil)
	}
	last := byChat[chats[3].ID][len(byChat[chats[3].ID])-1]
	alice.Must(204, "DELETE", fmt.Sprintf("/chats/%d/messages/%d", chats[3].ID, last.id), nil, nil)
	bob.Must(204, "DELETE", fmt.Sprintf("/chats/%d/messages/%d?for=me", chats[0].ID, byChat[chats[0].ID][7].id), nil, nil)
	bob.Must(204, "DELETE", fmt.Sprintf("/chats/%d/history", chats[4].ID), nil, nil)
	// A group renamed (chat.updated): the lists show the new title.
	alice.Must(200, "PATCH", fmt.Sprintf("/chats/%d", chats[0].ID), map[string]string{"title": "renamed"}, nil)
	return alice, bob, byChat, chats[2].ID
}

func view(t *testing.T, rep *verify.Report, name string) verify.ViewResult {
	t.Helper()
	for _, v := range rep.Views {
		if v.View == name {
			return v
		}
	}
	t.Fatalf("the report has no view %q: %+v", name, rep.Views)
	return verify.ViewResult{}
}

func TestVerifyFindsNothingAfterALoad(t *testing.T) {
	sys := harness.Start(t, harness.Options{Partitions: 2})
	_, _, byChat, _ := verifyLoad(t, sys)
	accepted := 1 // carol's
	for _, msgs := range byChat {
		accepted += len(msgs)
	}

	// The operator's command: exit status 0 and its verdict.
	out, err := sys.Ingest("verify")
	if err != nil {
		t.Fatalf("ingest verify: %v\n%s", err, out)
	}
	t.Logf("ingest verify:\n%s", out)
	if !strings.Contains(out, "CONVERGED") {
		t.Errorf("ingest verify did not say CONVERGED:\n%s", out)
	}

	// The Go function: every accepted message and every chat compared, and
	// nothing left behind.
	rep, err := sys.Verify(context.Background(), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Differences != 0 {
		t.Fatalf("%d differences after a load:\n%v", rep.Differences, rep.Shown)
	}
	if got := view(t, rep, "messages").Compared; got != accepted {
		t.Errorf("messages compared: %d, want the %d accepted", got, accepted)
	}
	if got := view(t, rep, "chats").Compared; got != len(byChat) {
		t.Errorf("chats compared: %d, want %d", got, len(byChat))
	}
	if got := view(t, rep, "read_positions").Compared; got == 0 {
		t.Errorf("no read positions compared")
	}
	if got := view(t, rep, "hidden_messages").Compared; got != 1 {
		t.Errorf("hidden messages compared: %d, want bob's 1", got)
	}
	if got := view(t, rep, "history_cleared").Compared; got != 1 {
		t.Errorf("cleared histories compared: %d, want bob's 1", got)
	}
	// alice: 5 chats; bob: 4 (removed from one); carol: 1.
	if got := view(t, rep, "chat lists (redis)").Compared; got != 10 {
		t.Errorf("chat list entries compared: %d, want 10", got)
	}
	if rep.Events == 0 || uint64(rep.Events) != rep.LastSeq {
		t.Errorf("%d events rebuilt of a log of %d", rep.Events, rep.LastSeq)
	}
	assertScratchGone(t, sys, rep)
}

// assertScratchGone checks that the check dropped its database and keys.
func assertScratchGone(t *testing.T, sys *harness.System, rep *verify.Report) {
	t.Helper()
	db, err := sql.Open("mysql", sys.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", rep.ScratchDB).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("scratch database %s still exists", rep.ScratchDB)
	}
	rdb := redis.NewClient(&redis.Options{Addr: sys.RedisAddr})
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), rep.ScratchPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("%d scratch keys left under %s", len(keys), rep.ScratchPrefix)
	}
}

func TestVerifyFindsACorruptedProjection(t *testing.T) {
	sys := harness.Start(t, harness.Options{Partitions: 2})
	_, bob, byChat, chat := verifyLoad(t, sys)
	ctx := context.Background()
	db, err := sql.Open("mysql", sys.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rdb := redis.NewClient(&redis.Options{Addr: sys.RedisAddr})
	defer rdb.Close()
	// A baseline: the stack converged, and the lists are warm.
	if rep, err := sys.Verify(ctx, verify.Options{}); err != nil || rep.Differences != 0 {
		t.Fatalf("before the corruption: %v, %+v", err, rep)
	}
	victim := byChat[chat][3] // not the chat's last message: no chat list shows it

	t.Run("a message's text in MySQL", func(t *testing.T) {
		res, err := db.Exec("UPDATE messages SET text = 'corrupted' WHERE chat_id = ? AND id = ?", chat, victim.id)
		if n, _ := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("corrupt: %v, %d rows", err, n)
		}
		defer db.Exec("UPDATE messages SET text = ? WHERE chat_id = ? AND id = ?", victim.text, chat, victim.id)
		rep, err := sys.Verify(ctx, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Differences != 1 || view(t, rep, "messages").Differences != 1 || len(rep.Shown) != 1 {
			t.Fatalf("want exactly the one message, got %d differences: %v", rep.Differences, rep.Shown)
		}
		d := rep.Shown[0]
		wantKey := fmt.Sprintf("(chat_id=%d, id=%d)", chat, victim.id)
		if d.View != "messages" || d.Key != wantKey || d.Live != `text="corrupted"` || d.Rebuilt != "text="+strconv.Quote(victim.text) {
			t.Errorf("difference %+v, want messages %s text \"corrupted\" against %q", d, wantKey, victim.text)
		}
		// The command says so with exit status 1.
		out, err := sys.Ingest("verify")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("ingest verify on a diverged stack: %v, want exit status 1\n%s", err, out)
		}
		if !strings.Contains(out, "DIVERGED: 1 differences") || !strings.Contains(out, `live:    text="corrupted"`) {
			t.Errorf("ingest verify's report does not show the difference:\n%s", out)
		}
	})

	t.Run("a term of the search index", func(t *testing.T) {
		res, err := db.Exec("INSERT INTO search_terms (chat_id, term, message_id) VALUES (?, 'corrupted', ?)", chat, victim.id)
		if n, _ := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("corrupt: %v, %d rows", err, n)
		}
		defer db.Exec("DELETE FROM search_terms WHERE chat_id = ? AND term = 'corrupted' AND message_id = ?", chat, victim.id)
		rep, err := sys.Verify(ctx, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Differences != 1 || view(t, rep, "search_terms").Differences != 1 || len(rep.Shown) != 1 {
			t.Fatalf("want exactly the one index row, got %d differences: %v", rep.Differences, rep.Shown)
		}
	})

	t.Run("a read position in Redis", func(t *testing.T) {
		// bob read every chat up to its 21st message; move one chat's back.
		key := sys.RedisPref + "{u:" + strconv.FormatInt(bob.User.ID, 10) + "}:read"
		member := strconv.FormatInt(chat, 10)
		was, err := rdb.ZScore(ctx, key, member).Result()
		if err != nil {
			t.Fatalf("bob's read position of chat %d in Redis: %v", chat, err)
		}
		back := float64(byChat[chat][0].id)
		if back >= was {
			t.Fatalf("read position %v is not ahead of %v", was, back)
		}
		if err := rdb.ZAdd(ctx, key, redis.Z{Score: back, Member: member}).Err(); err != nil {
			t.Fatal(err)
		}
		defer rdb.ZAdd(ctx, key, redis.Z{Score: was, Member: member})
		rep, err := sys.Verify(ctx, verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Differences != 1 || view(t, rep, "chat lists (redis)").Differences != 1 || len(rep.Shown) != 1 {
			t.Fatalf("want exactly bob's entry of chat %d, got %d differences: %v", chat, rep.Differences, rep.Shown)
		}
		d := rep.Shown[0]
		wantKey := fmt.Sprintf("user %d chat %d", bob.User.ID, chat)
		if d.Key != wantKey || !strings.Contains(d.Live, fmt.Sprintf("read=%d", int64(back))) ||
			!strings.Contains(d.Rebuilt, fmt.Sprintf("read=%d", int64(was))) {
			t.Errorf("difference %+v, want %s read=%d against read=%d", d, wantKey, int64(back), int64(was))
		}
	})

	t.Run("a worker that does not catch up is an error, not a divergence", func(t *testing.T) {
		for _, p := range sys.Procs("persister") {
			p.Kill()
		}
		if _, err := bob.Send(chat, "while the persister is down", "v-down"); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		out, err := sys.Ingest("verify", "--wait", "2s")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("ingest verify with the persister down: %v, want exit status 2\n%s", err, out)
		}
		if !strings.Contains(out, "have not applied the log") {
			t.Errorf("ingest verify does not say what it waited for:\n%s", out)
		}
		if time.Since(started) > time.Minute {
			t.Errorf("ingest verify --wait 2s took %v", time.Since(started))
		}
		sys.StartWorker("persister")
		rep, err := sys.Verify(ctx, verify.Options{})
		if err != nil || rep.Differences != 0 {
			t.Fatalf("after the persister's return: %v, %+v", err, rep)
		}
	})
}
