package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/domain"
)

// accepted records every 202 per chat, in acceptance order.
type accepted struct {
	mu     sync.Mutex
	byChat map[int64][]int64
	total  atomic.Int64
}

func newAccepted() *accepted { return &accepted{byChat: map[int64][]int64{}} }

func (a *accepted) add(m domain.Message) {
	a.mu.Lock()
	a.byChat[m.ChatID] = append(a.byChat[m.ChatID], m.ID)
	a.mu.Unlock()
	a.total.Add(1)
}

func (a *accepted) ids(chat int64) []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.byChat[chat])
	slices.Sort(out) // one sender per chat: acceptance order is id order
	return out
}

// sendBurst sends n messages per chat, one sequential sender per chat, all
// chats at once, calling during(k) after the k-th message of chat 0.
func sendBurst(t *testing.T, from *harness.Client, chats []harness.Chat, n int, tag string, acc *accepted, during func(k int)) {
	t.Helper()
	var wg sync.WaitGroup
	for ci, ch := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range n {
				m, err := from.Send(ch.ID, fmt.Sprintf("%s %d/%d", tag, ci, k), fmt.Sprintf("%s-%d-%d", tag, ci, k))
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				acc.add(m)
				if ci == 0 && during != nil {
					during(k)
				}
			}
		}()
	}
	wg.Wait()
}

func groups(t *testing.T, owner *harness.Client, member *harness.Client, n int) []harness.Chat {
	var out []harness.Chat
	for i := range n {
		out = append(out, owner.GroupChat(fmt.Sprintf("group %d", i), member.User.ID))
	}
	return out
}

// checkAll verifies the three projections against what was accepted:
// MySQL holds each message once, bob's cached chat list has the right last
// message and unread count, and bob's live subscription saw every message in
// id order (duplicates tolerated only when allowDup, e.g. across a notifier crash).
func checkAll(t *testing.T, sys *harness.System, bob *harness.Client, rt *harness.Subscriber, chats []harness.Chat, acc *accepted, allowDup bool) {
	t.Helper()
	db, err := sql.Open("mysql", sys.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ch := range chats {
		want := acc.ids(ch.ID)
		harness.Eventually(t, 60*time.Second, fmt.Sprintf("chat %d in MySQL", ch.ID), func() (bool, string) {
			var rows, distinct int
			err := db.QueryRow("SELECT COUNT(*), COUNT(DISTINCT id) FROM messages WHERE chat_id = ?", ch.ID).Scan(&rows, &distinct)
			return err == nil && rows == len(want), fmt.Sprintf("%d rows (%d distinct), want %d, err %v", rows, distinct, len(want), err)
		})
		var dups int
		_ = db.QueryRow("SELECT COUNT(*) - COUNT(DISTINCT author_id, client_id) FROM messages WHERE chat_id = ?", ch.ID).Scan(&dups)
		if dups != 0 {
			t.Errorf("chat %d: %d duplicated rows", ch.ID, dups)
		}
		got, err := bob.AllHistory(ch.ID, 200)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("chat %d history: %d ids (err %v), want the %d accepted ids in order", ch.ID, len(got), err, len(want))
		}
		harness.Eventually(t, 60*time.Second, fmt.Sprintf("chat %d on the channel", ch.ID), func() (bool, string) {
			seen := map[int64]bool{}
			for _, id := range rt.MessageIDs(ch.Channel) {
				seen[id] = true
			}
			return len(seen) == len(want), fmt.Sprintf("%d of %d", len(seen), len(want))
		})
		live := rt.MessageIDs(ch.Channel)
		var dedup []int64
		for _, id := range live {
			if len(dedup) > 0 && id <= dedup[len(dedup)-1] {
				if !allowDup || !slices.Contains(dedup, id) {
					t.Errorf("chat %d: live delivery out of order: %d after %d", ch.ID, id, dedup[len(dedup)-1])
				}
				continue
			}
			dedup = append(dedup, id)
		}
		if !slices.Equal(dedup, want) {
			t.Errorf("chat %d: live ids differ from accepted ids (%d vs %d)", ch.ID, len(dedup), len(want))
		}
		if !allowDup && len(live) != len(want) {
			t.Errorf("chat %d: %d live publications for %d messages", ch.ID, len(live), len(want))
		}
	}
	harness.Eventually(t, 60*time.Second, "bob's chat list", func() (bool, string) {
		byID, err := bob.ChatsByID(200)
		if err != nil {
			return false, err.Error()
		}
		for _, ch := range chats {
			want := acc.ids(ch.ID)
			c := byID[ch.ID]
			if c.LastMessage == nil || c.LastMessage.ID != want[len(want)-1] || c.UnreadCount != len(want) {
				return false, fmt.Sprintf("chat %d: last %v unread %d, want last %d unread %d", ch.ID, c.LastMessage, c.UnreadCount, want[len(want)-1], len(want))
			}
		}
		return true, ""
	})
}

func TestTwoInstancesOfEachWorkerKeepPerChatOrder(t *testing.T) {
	sys := harness.Start(t, harness.Options{Persisters: 2, Cachewarms: 2, Notifiers: 2})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	chats := groups(t, alice, bob, 5)
	rt := bob.Connect()
	for _, ch := range chats {
		rt.Subscribe(ch.Channel)
	}
	acc := newAccepted()
	sendBurst(t, alice, chats, 200, "two", acc, nil)
	checkAll(t, sys, bob, rt, chats, acc, false)
}

func TestKilledWorkersLoseNothing(t *testing.T) {
	sys := harness.Start(t, harness.Options{})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	chats := groups(t, alice, bob, 4)
	rt := bob.Connect()
	for _, ch := range chats {
		rt.Subscribe(ch.Channel)
	}
	acc := newAccepted()
	// 2,000 messages per burst (4 chats × 500); the worker is killed a quarter
	// of the way in and a fresh instance started halfway.
	for _, worker := range []string{"persister", "cachewarm", "notifier"} {
		sendBurst(t, alice, chats, 500, "kill-"+worker, acc, func(k int) {
			switch k {
			case 125:
				for _, p := range sys.Procs(worker) {
					p.Kill()
				}
			case 250:
				sys.StartWorker(worker)
			}
		})
	}
	checkAll(t, sys, bob, rt, chats, acc, true)
}

func TestUndecodableEventIsDeadLetteredAndTheRestFlows(t *testing.T) {
	sys := harness.Start(t, harness.Options{})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	chat := alice.DirectChat(bob.User.ID)
	rt := bob.Connect()
	rt.Subscribe(chat.Channel)

	_, js := sys.NATS.Connect(t)
	ctx := context.Background()
	if _, err := js.Publish(ctx, bus.PublishSubject(chat.ID, "msg"), []byte("\x00 definitely not an event")); err != nil {
		t.Fatal(err)
	}
	acc := newAccepted()
	sendBurst(t, alice, []harness.Chat{chat}, 20, "after-poison", acc, nil)
	checkAll(t, sys, bob, rt, []harness.Chat{chat}, acc, false)

	dlq, err := js.Stream(ctx, "CHAT_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, "one dead letter per worker", func() (bool, string) {
		info, err := dlq.Info(ctx)
		return err == nil && info.State.Msgs == uint64(len(ops.Workers)), fmt.Sprintf("%v %v", info, err)
	})
	workers := map[string]bool{}
	for seq := uint64(1); seq <= uint64(len(ops.Workers)); seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(bus.HeaderDLQReason) == "" {
			t.Errorf("dead letter %d has no reason", seq)
		}
		workers[m.Header.Get(bus.HeaderDLQWorker)] = true
	}
	for _, w := range ops.Workers {
		if !workers[w] {
			t.Fatalf("dead letters from %v, want one from each of %v", workers, ops.Workers)
		}
	}
}
