package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/verify"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// The fault-injection suite: a steady load of sends through the real HTTP API
// with a live Centrifugo subscriber, one real fault per scenario (SIGKILL,
// stopped servers, poison events, replays), then the invariants checked
// against every 202-accepted message. LOGCHAT_SOAK=1 runs longer loads.
//
// Each scenario has its own MariaDB, Redis, NATS and Centrifugo, so that
// stopping them never disturbs the machine's services.

type faultScenario struct {
	name string
	// inject runs during the load and returns when the fault has cleared.
	inject func(t *testing.T, f *faultRun)
	// poison is how many dead letters the scenario expects.
	poison int
	// losesRedis: the scenario flushes Redis, and with it the update
	// streams (a client's cursor then gets 410).
	losesRedis bool
	// republishes: the scenario may make the notifier publish again what
	// it published (a replay does by design; a process killed between a
	// publish and its ack leaves the batch to another one). Clients drop
	// ids they have.
	republishes bool
}

type faultRow struct {
	scenario                            string
	accepted, lost, dupRows, outOfOrder int
	catchUp                             time.Duration
	realtimeDups, recoveryFailed        int
	deadLetters                         int
	// edits, deletes and hides the load made of earlier messages
	edits, deletes, hides int
	// historyWrong counts what the API's history got wrong: a message
	// deleted (or hidden from the reader) still shown, an edited one not
	// showing its last text, an accepted one missing.
	historyWrong int
	// diverged is what the convergence check (ingest verify) found at the
	// end: differences between the live MySQL and Redis and what the log
	// builds; -1 when the check could not be made.
	diverged int
	// personal is the check of bob's update stream (API.md, "Per-user
	// updates"): live on his personal channel plus GET /updates from the
	// cursor he took before anything happened.
	personal personalCheck
}

// personalCheck is what bob's update stream got wrong: accepted messages
// missing, present twice, or out of their chat's order; or gone, when the
// stream itself was lost (Redis flushed), which a client meets as 410 and a
// reload, the documented recovery.
type personalCheck struct {
	missing, twice, outOfOrder int
	gone                       bool
}

func (p personalCheck) String() string {
	if p.gone {
		return "410 → reload"
	}
	return fmt.Sprintf("%d/%d/%d", p.missing, p.twice, p.outOfOrder)
}

var (
	faultRowsMu sync.Mutex
	faultRows   []faultRow
)

func soak() bool { return os.Getenv("LOGCHAT_SOAK") == "1" }

func TestFaults(t *testing.T) {
	outage := 20 * time.Second
	natsOutage := 10 * time.Second
	scenarios := []faultScenario{
		{name: "crash", republishes: true, inject: func(t *testing.T, f *faultRun) {
			for _, w := range []string{"persister", "cachewarm", "notifier", "searcher"} {
				f.kill(w)
				f.sleep(2 * time.Second)
				f.sys.StartWorker(w)
				f.sleep(2 * time.Second)
			}
			for _, w := range []string{"persister", "cachewarm", "notifier", "searcher"} {
				f.kill(w)
			}
			f.sleep(2 * time.Second)
			for _, w := range []string{"persister", "cachewarm", "notifier", "searcher"} {
				f.sys.StartWorker(w)
			}
		}},
		{name: "scale", inject: func(t *testing.T, f *faultRun) {
			for _, w := range []string{"persister", "cachewarm", "notifier", "searcher"} {
				f.sys.StartWorker(w)
				f.sys.StartWorker(w)
			}
			f.sleep(5 * time.Second)
			for _, w := range []string{"persister", "cachewarm", "notifier", "searcher"} {
				procs := f.sys.Procs(w)
				for _, p := range procs[:len(procs)-1] {
					p.Terminate(15 * time.Second)
				}
			}
		}},
		{name: "mysql down", inject: func(t *testing.T, f *faultRun) {
			f.sys.OwnMySQL.Stop(syscall.SIGTERM)
			f.sleep(outage)
			f.sys.OwnMySQL.Start(t)
		}},
		{name: "redis down", losesRedis: true, inject: func(t *testing.T, f *faultRun) {
			f.sys.OwnRedis.Stop(syscall.SIGTERM)
			f.sleep(outage)
			f.sys.OwnRedis.Start(t)
			f.sleep(3 * time.Second)
			rdb := redis.NewClient(&redis.Options{Addr: f.sys.OwnRedis.Addr})
			defer rdb.Close()
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Errorf("FLUSHALL: %v", err)
			}
		}},
		{name: "centrifugo down", inject: func(t *testing.T, f *faultRun) {
			f.sys.Centrifugo.Stop()
			f.sleep(outage)
			f.sys.Centrifugo.Start(t)
		}},
		{name: "nats restart", inject: func(t *testing.T, f *faultRun) {
			f.sys.NATS.Shutdown()
			f.sleep(natsOutage)
			f.sys.NATS.Restart(t)
		}},
		{name: "poison", poison: 2 * 4, inject: func(t *testing.T, f *faultRun) {
			// Two poison events, each refused by all four workers: bytes that
			// are no event at all, and a message that cannot exist (no author,
			// no text).
			// Published as the gateway: nobody else may append.
			nc, _ := f.sys.NATS.ConnectAs(t, "gateway")
			chat := f.chats[0].ID
			if err := nc.Publish(bus.PublishSubject(chat, event.KindMessage), []byte("\x00 not an event")); err != nil {
				t.Fatal(err)
			}
			env, _ := event.New(event.MessageCreated, chat, 0, time.Now(), map[string]any{"text": ""})
			b, _ := env.Encode()
			if err := nc.Publish(bus.PublishSubject(chat, event.KindMessage), b); err != nil {
				t.Fatal(err)
			}
			_ = nc.Flush()
			f.sleep(3 * time.Second)
		}},
		{name: "replay", republishes: true, inject: func(t *testing.T, f *faultRun) {
			f.sleep(5 * time.Second)
			for _, w := range []string{"persister", "cachewarm", "notifier", "searcher"} {
				out, err := f.ingest("replay", w, "--from-seq", "1")
				if err != nil {
					t.Errorf("ingest replay %s: %v\n%s", w, err, out)
				}
			}
		}},
	}
	for _, sc := range scenarios {
		t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) { runFaultScenario(t, sc) })
	}
	printFaultTable(t)
}

type faultRun struct {
	t     *testing.T
	sys   *harness.System
	chats []harness.Chat
}

func (f *faultRun) sleep(d time.Duration) { time.Sleep(d) }

func (f *faultRun) kill(worker string) {
	for _, p := range f.sys.Procs(worker) {
		p.Kill()
	}
}

func (f *faultRun) ingest(args ...string) (string, error) { return f.sys.Ingest(args...) }

// sent is one accepted message, as the client knows it: the text of its last
// accepted edit, and whether it was deleted for everyone or hidden by the
// reader for himself.
type sent struct {
	id      int64
	text    string
	edits   int
	deleted bool
	hidden  bool // by the reader (bob), for himself
}

// visible reports whether the reader sees the message in his history and list.
func (m sent) visible() bool { return !m.deleted && !m.hidden }

// faultLoad sends steadily to every chat, one sequential sender per chat, and
// retries a failed request until it is accepted, as a client would: what the
// API accepted is what the invariants are checked against. About one
// operation in ten edits an earlier message, one in fifty deletes one for
// everyone and one in fifty hides one from the reader's own view (API.md
// 1.1, "Messages").
type faultLoad struct {
	mu                    sync.Mutex
	author                int64            // who sends
	byChat                map[int64][]sent // in acceptance order
	failures              int              // answers other than 2xx (503 during outages), retried
	edits, deletes, hides int              // accepted
}

// Shares of the load's operations, in percent; the rest are sends.
const (
	editShare   = 10
	deleteShare = 2
	hideShare   = 2
)

func (l *faultLoad) run(ctx context.Context, t *testing.T, from *harness.Client, reader *harness.Client, chats []harness.Chat, perChatRate float64) {
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / perChatRate)
	for ci, ch := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			rng := rand.New(rand.NewPCG(uint64(ci), uint64(ch.ID)))
			for k := 0; ; k++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if l.changeEarlier(t, rng, from, reader, ch.ID, ci, k) {
					continue
				}
				text := fmt.Sprintf("chat %d message %d", ci, k)
				clientID := fmt.Sprintf("f-%d-%d", ci, k)
				var m domain.Message
				if !l.retry(t, "send "+clientID, func() (err error) {
					m, err = from.Send(ch.ID, text, clientID)
					return err
				}) {
					return
				}
				l.mu.Lock()
				l.byChat[ch.ID] = append(l.byChat[ch.ID], sent{id: m.ID, text: text})
				l.mu.Unlock()
				// The reader reads now and then, so read positions move too.
				if k%25 == 24 {
					l.mu.Lock()
					last := l.byChat[ch.ID][len(l.byChat[ch.ID])-1].id
					l.mu.Unlock()
					_, _ = reader.Do("POST", fmt.Sprintf("/chats/%d/read", ch.ID), map[string]int64{"message_id": last}, nil)
				}
			}
		}()
	}
	wg.Wait()
}

// retry repeats a request until it is accepted, for 90 s at most, as a
// client does; false (and the test failed) when it never was.
func (l *faultLoad) retry(t *testing.T, what string, do func() error) bool {
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := do()
		if err == nil {
			return true
		}
		l.mu.Lock()
		l.failures++
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Errorf("%s not accepted within 90s: %v", what, err)
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// changeEarlier edits, deletes or hides an earlier message of the chat in
// the load's shares of operations; false when this operation is a send.
// Edits and deletes are the author's (alice), hides the reader's (bob). A
// deleted message is changed no more; a hidden one may still be edited.
func (l *faultLoad) changeEarlier(t *testing.T, rng *rand.Rand, author, reader *harness.Client, chatID int64, ci, k int) bool {
	r := rng.IntN(100)
	if r >= editShare+deleteShare+hideShare {
		return false
	}
	l.mu.Lock()
	var candidates []int
	for i, m := range l.byChat[chatID] {
		if !m.deleted && (r < editShare+deleteShare || !m.hidden) {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) == 0 {
		l.mu.Unlock()
		return false
	}
	i := candidates[rng.IntN(len(candidates))]
	m := l.byChat[chatID][i]
	l.mu.Unlock()
	path := fmt.Sprintf("/chats/%d/messages/%d", chatID, m.id)
	switch {
	case r < editShare:
		text := fmt.Sprintf("chat %d message %d edited at %d", ci, m.id, k)
		if !l.retry(t, "edit of "+path, func() error {
			_, err := author.Do("PATCH", path, map[string]string{"text": text}, nil)
			return err
		}) {
			return true
		}
		m.text, m.edits = text, m.edits+1
		l.mu.Lock()
		l.edits++
	case r < editShare+deleteShare:
		if !l.retry(t, "delete of "+path, func() error {
			_, err := author.Do("DELETE", path, nil, nil)
			return err
		}) {
			return true
		}
		m.deleted = true
		l.mu.Lock()
		l.deletes++
	default:
		if !l.retry(t, "hide of "+path, func() error {
			_, err := reader.Do("DELETE", path+"?for=me", nil, nil)
			return err
		}) {
			return true
		}
		m.hidden = true
		l.mu.Lock()
		l.hides++
	}
	l.byChat[chatID][i] = m
	l.mu.Unlock()
	return true
}

func runFaultScenario(t *testing.T, sc faultScenario) {
	sys := harness.Start(t, harness.Options{OwnServices: true})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	// The cursor first, as a client takes it before it loads its list.
	start, _, err := bob.Updates("", 1)
	if err != nil {
		t.Fatal(err)
	}
	chats := groups(t, alice, bob, 8)
	rt := bob.Connect()
	for _, ch := range chats {
		rt.Subscribe(ch.Channel)
	}
	rt.Subscribe(domain.PersonalChannel(bob.User.ID))
	loadFor, rate := 12*time.Second, 5.0 // 8 chats × 5/s = 40 msg/s
	if soak() {
		loadFor, rate = 3*time.Minute, 25.0
	}
	f := &faultRun{t: t, sys: sys, chats: chats}
	load := &faultLoad{author: alice.User.ID, byChat: map[int64][]sent{}}
	ctx, cancel := context.WithCancel(context.Background())
	loadDone := make(chan struct{})
	go func() { load.run(ctx, t, alice, bob, chats, rate); close(loadDone) }()

	time.Sleep(3 * time.Second) // steady state before the fault
	sc.inject(t, f)
	cleared := time.Now()
	// Catch-up: how long after the fault cleared until everything accepted
	// up to that moment is in MySQL, in the cache and delivered live.
	catchUp := make(chan time.Duration, 1)
	go func() {
		snapshot := load.snapshot()
		db, err := sql.Open("mysql", sys.MySQLDSN)
		if err != nil {
			catchUp <- -1
			return
		}
		defer db.Close()
		for time.Since(cleared) < 3*time.Minute {
			if ok, _ := projectionsHave(db, bob, rt, chats, snapshot); ok {
				catchUp <- time.Since(cleared)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		catchUp <- -1
	}()
	time.Sleep(loadFor)
	cancel()
	<-loadDone

	row := checkFaultInvariants(t, sys, alice, bob, rt, chats, load, sc)
	row.personal = checkPersonalStream(t, bob, rt, start.Cursor, load, sc)
	row.catchUp = <-catchUp
	if row.catchUp < 0 {
		t.Errorf("the projections did not catch up within 3 minutes of the fault clearing")
	}
	row.diverged = checkConverged(t, sys, sc)
	faultRowsMu.Lock()
	faultRows = append(faultRows, row)
	faultRowsMu.Unlock()
}

// checkFaultInvariants waits for the projections to converge and compares them
// with what was accepted.
func checkFaultInvariants(t *testing.T, sys *harness.System, alice, bob *harness.Client, rt *harness.Subscriber, chats []harness.Chat, load *faultLoad, sc faultScenario) faultRow {
	t.Helper()
	row := faultRow{scenario: sc.name}
	db, err := sql.Open("mysql", sys.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	load.mu.Lock()
	byChat := load.byChat
	load.mu.Unlock()
	for _, msgs := range byChat {
		row.accepted += len(msgs)
	}

	// Convergence: MySQL has every accepted message, Redis agrees with MySQL
	// exactly, the subscriber has every message.
	harness.Eventually(t, 120*time.Second, "projections converge after "+sc.name, func() (bool, string) {
		if ok, why := projectionsHave(db, bob, rt, chats, byChat); !ok {
			return false, why
		}
		// The last edits and deletes of the load may still be on their
		// way to MySQL when every message is there: wait for them too (the
		// checks below then say whether any was lost or misapplied).
		if ok, why := changesApplied(db, chats, byChat); !ok {
			return false, why
		}
		return cacheMatchesMySQL(db, bob, chats)
	})

	load.mu.Lock()
	row.edits, row.deletes, row.hides = load.edits, load.deletes, load.hides
	load.mu.Unlock()
	for _, ch := range chats {
		msgs := byChat[ch.ID]
		// Exactly once, with the right chat, author and text (its last
		// edit's); a deleted message as a tombstone without its text.
		type storedRow struct {
			text    string
			deleted bool
		}
		stored := map[int64]storedRow{}
		rows, err := db.Query("SELECT id, author_id, text, deleted_at IS NOT NULL FROM messages WHERE chat_id = ? ORDER BY id", ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, author int64
			var r storedRow
			if err := rows.Scan(&id, &author, &r.text, &r.deleted); err != nil {
				t.Fatal(err)
			}
			if _, dup := stored[id]; dup {
				row.dupRows++
			}
			if author != load.author {
				t.Errorf("chat %d message %d: author %d, want %d", ch.ID, id, author, load.author)
			}
			stored[id] = r
		}
		rows.Close()
		var byClient int
		_ = db.QueryRow("SELECT COUNT(*) - COUNT(DISTINCT author_id, client_id) FROM messages WHERE chat_id = ?", ch.ID).Scan(&byClient)
		row.dupRows += byClient
		for i, m := range msgs {
			if r, ok := stored[m.id]; !ok {
				row.lost++
			} else if r.deleted != m.deleted {
				t.Errorf("chat %d message %d: deleted in MySQL %v, want %v", ch.ID, m.id, r.deleted, m.deleted)
			} else if !m.deleted && r.text != m.text {
				t.Errorf("chat %d message %d: text %q, want %q (%d edits)", ch.ID, m.id, r.text, m.text, m.edits)
			} else if m.deleted && r.text != "" {
				t.Errorf("chat %d message %d: deleted for everyone, but MySQL kept its text %q", ch.ID, m.id, r.text)
			}
			// Ids strictly increase in acceptance order.
			if i > 0 && m.id <= msgs[i-1].id {
				row.outOfOrder++
			}
		}
		// Live delivery: in id order; repeats only across a resubscription.
		_, failed := rt.Counts(ch.Channel)
		row.recoveryFailed += failed
		var last int64
		seen := map[int64]bool{}
		for _, id := range rt.MessageIDs(ch.Channel) {
			if seen[id] {
				row.realtimeDups++
				continue
			}
			if id < last && failed == 0 {
				row.outOfOrder++
			}
			seen[id] = true
			last = max(last, id)
		}
	}

	row.historyWrong = checkHistories(t.Errorf, alice, bob, chats, byChat)

	// Dead letters: exactly the scenario's poison, with reasons.
	_, js := sys.NATS.Connect(t)
	s, err := js.Stream(context.Background(), "CHAT_DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	row.deadLetters = int(info.State.Msgs)
	var letters []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		if m.Header.Get(bus.HeaderDLQReason) == "" {
			t.Errorf("dead letter %d has no reason", seq)
		}
		letters = append(letters, fmt.Sprintf("%s: %s", m.Header.Get(bus.HeaderDLQWorker), m.Header.Get(bus.HeaderDLQReason)))
	}
	if row.deadLetters != sc.poison {
		t.Errorf("%d dead letters, want %d (an outage must not dead-letter anything):\n%s", row.deadLetters, sc.poison, strings.Join(letters, "\n"))
	}
	if row.realtimeDups != 0 && !sc.republishes {
		// An outage must not make the notifier publish a message twice
		// (events delivered again while a batch was stuck once did: 2,472
		// repeats after Centrifugo's 20 s outage).
		t.Errorf("%d messages published twice on chat channels after %s: want 0", row.realtimeDups, sc.name)
	}
	if row.lost != 0 || row.dupRows != 0 || row.outOfOrder != 0 || row.historyWrong != 0 {
		t.Errorf("lost %d, duplicated rows %d, out of order %d, wrong in history %d: all must be 0", row.lost, row.dupRows, row.outOfOrder, row.historyWrong)
	}
	return row
}

// checkHistories reads every chat's whole history through the API as the
// author and as the reader and counts what is wrong: an accepted message
// missing, a deleted one shown (or one the reader hid, to him), an edited one
// without its last text or its edited_at, ids not increasing.
// report is t.Errorf, or a no-op while a caller waits for the histories to
// be right.
func checkHistories(report func(format string, args ...any), alice, bob *harness.Client, chats []harness.Chat, byChat map[int64][]sent) int {
	wrong := 0
	for _, ch := range chats {
		for _, reader := range []*harness.Client{alice, bob} {
			got, err := reader.AllMessages(ch.ID, 100)
			if err != nil {
				report("history of chat %d as %s: %v", ch.ID, reader.User.Name, err)
				wrong++
				continue
			}
			shown := map[int64]domain.Message{}
			for i, m := range got {
				if i > 0 && m.ID <= got[i-1].ID {
					wrong++
					report("history of chat %d as %s: id %d after %d", ch.ID, reader.User.Name, m.ID, got[i-1].ID)
				}
				shown[m.ID] = m
			}
			for _, m := range byChat[ch.ID] {
				h, ok := shown[m.id]
				want := !m.deleted && (reader == alice || !m.hidden)
				switch {
				case ok != want:
					wrong++
					report("history of chat %d as %s: message %d shown %v, want %v (deleted %v, hidden from bob %v)",
						ch.ID, reader.User.Name, m.id, ok, want, m.deleted, m.hidden)
				case ok && (h.Text != m.text || (m.edits > 0) != (h.EditedAt != nil)):
					wrong++
					report("history of chat %d as %s: message %d text %q edited_at %v, want %q after %d edits",
						ch.ID, reader.User.Name, m.id, h.Text, h.EditedAt, m.text, m.edits)
				}
			}
		}
	}
	return wrong
}

// checkConverged runs the convergence check against the scenario's stack,
// after the catch-up: MySQL and Redis must be what the log builds.
func checkConverged(t *testing.T, sys *harness.System, sc faultScenario) int {
	t.Helper()
	rep, err := sys.Verify(context.Background(), verify.Options{Wait: 2 * time.Minute})
	if err != nil {
		t.Errorf("convergence check after %s: %v", sc.name, err)
		return -1
	}
	if rep.Differences != 0 {
		var b strings.Builder
		_ = rep.WriteText(&b)
		t.Errorf("after %s the projections diverge from the log:\n%s", sc.name, b.String())
	}
	refused := 0
	for _, seqs := range rep.Refused {
		refused += len(seqs)
	}
	// What the workers' code refuses in the rebuild is what they
	// dead-lettered live (the notifier's are not rebuilt).
	if want := sc.poison * 3 / 4; refused != want {
		t.Errorf("the rebuild refused %d events (%v), want the scenario's %d poison events for the persister, searcher and cachewarm", refused, rep.Refused, want)
	}
	return rep.Differences
}

// checkPersonalStream follows bob's update stream as a client does: the
// personal channel's publications offered in cursor order, the gaps filled
// from GET /updates, until every accepted message is there. Every accepted
// message must be in it exactly once, in its chat's order; only a scenario
// that loses Redis's data may end in 410.
func checkPersonalStream(t *testing.T, bob *harness.Client, rt *harness.Subscriber, start string, load *faultLoad, sc faultScenario) personalCheck {
	t.Helper()
	load.mu.Lock()
	byChat := load.byChat
	load.mu.Unlock()
	accepted := 0
	for _, msgs := range byChat {
		accepted += len(msgs)
	}
	stream := harness.NewUpdateStream(start)
	var res personalCheck
	harness.Eventually(t, 60*time.Second, "bob's update stream holds every accepted message", func() (bool, string) {
		for _, p := range rt.Publications(domain.PersonalChannel(bob.User.ID), "") {
			stream.Offer(t, p.Raw)
		}
		if stream.CatchUp(t, bob) == 410 {
			res.gone = true
			return true, ""
		}
		n := 0
		for chat := range byChat {
			n += len(stream.MessageIDs(chat))
		}
		return n >= accepted, fmt.Sprintf("%d of %d", n, accepted)
	})
	if res.gone {
		if !sc.losesRedis {
			t.Errorf("bob's update stream answered 410 after %s, which loses no Redis data", sc.name)
		}
		return res
	}
	for chat, msgs := range byChat {
		got := stream.MessageIDs(chat)
		seen := map[int64]int{}
		for i, id := range got {
			seen[id]++
			if i > 0 && id <= got[i-1] {
				res.outOfOrder++
			}
		}
		for _, m := range msgs {
			switch seen[m.id] {
			case 0:
				res.missing++
			case 1:
			default:
				res.twice += seen[m.id] - 1
			}
		}
	}
	if res.missing+res.twice+res.outOfOrder != 0 {
		t.Errorf("bob's update stream after %s: %d missing, %d twice, %d out of order: all must be 0", sc.name, res.missing, res.twice, res.outOfOrder)
	}
	return res
}

// snapshot copies what was accepted so far.
func (l *faultLoad) snapshot() map[int64][]sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int64][]sent, len(l.byChat))
	for k, v := range l.byChat {
		out[k] = append([]sent(nil), v...)
	}
	return out
}

// projectionsHave reports whether every message of byChat is in MySQL, the
// cache's last message is at least the newest of them, and the subscriber
// received them all (unless its recovery failed: a client then reloads).
// changesApplied tells whether MySQL shows every message of the load with
// its last edit's text, and every deleted one deleted.
func changesApplied(db *sql.DB, chats []harness.Chat, byChat map[int64][]sent) (bool, string) {
	for _, ch := range chats {
		want := map[int64]sent{}
		for _, m := range byChat[ch.ID] {
			want[m.id] = m
		}
		rows, err := db.Query("SELECT id, text, deleted_at IS NOT NULL FROM messages WHERE chat_id = ?", ch.ID)
		if err != nil {
			return false, err.Error()
		}
		for rows.Next() {
			var id int64
			var text string
			var deleted bool
			if err := rows.Scan(&id, &text, &deleted); err != nil {
				rows.Close()
				return false, err.Error()
			}
			m, ok := want[id]
			if ok && (deleted != m.deleted || (!m.deleted && text != m.text)) {
				rows.Close()
				return false, fmt.Sprintf("chat %d message %d: not yet its last change", ch.ID, id)
			}
		}
		rows.Close()
	}
	return true, ""
}

func projectionsHave(db *sql.DB, bob *harness.Client, rt *harness.Subscriber, chats []harness.Chat, byChat map[int64][]sent) (bool, string) {
	list, err := bob.ChatList(200)
	if err != nil {
		return false, err.Error()
	}
	lastInCache := map[int64]int64{}
	for _, c := range list {
		if c.LastMessage != nil {
			lastInCache[c.ID] = c.LastMessage.ID
		}
	}
	for _, ch := range chats {
		msgs := byChat[ch.ID]
		if len(msgs) == 0 {
			continue
		}
		newest := msgs[len(msgs)-1].id
		// The list shows the newest message bob sees: deleted and hidden
		// ones are not.
		var newestVisible int64
		for _, m := range msgs {
			if m.visible() {
				newestVisible = m.id
			}
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE chat_id = ? AND id <= ?", ch.ID, newest).Scan(&n); err != nil {
			return false, err.Error()
		}
		if n < len(msgs) {
			return false, fmt.Sprintf("chat %d: %d of %d in MySQL", ch.ID, n, len(msgs))
		}
		if lastInCache[ch.ID] < newestVisible {
			return false, fmt.Sprintf("chat %d: cache's last message %d, want ≥ %d", ch.ID, lastInCache[ch.ID], newestVisible)
		}
		if _, failed := rt.Counts(ch.Channel); failed > 0 {
			continue
		}
		seen := map[int64]bool{}
		for _, id := range rt.MessageIDs(ch.Channel) {
			seen[id] = true
		}
		for _, m := range msgs {
			if !seen[m.id] {
				return false, fmt.Sprintf("chat %d: message %d not delivered live", ch.ID, m.id)
			}
		}
	}
	return true, ""
}

// cacheMatchesMySQL compares bob's chat list (Redis) with what MySQL implies:
// last message, read position and unread count of every chat.
func cacheMatchesMySQL(db *sql.DB, bob *harness.Client, chats []harness.Chat) (bool, string) {
	byID, err := bob.ChatsByID(200)
	if err != nil {
		return false, err.Error()
	}
	// What bob sees of a chat's messages: neither deleted for everyone nor
	// hidden from him.
	const seen = "chat_id = ? AND deleted_at IS NULL AND id NOT IN (SELECT message_id FROM hidden_messages WHERE chat_id = ? AND user_id = ?)"
	for _, ch := range chats {
		var last, read int64
		var lastText string
		var unread int
		err := db.QueryRow("SELECT id, text FROM messages WHERE "+seen+" ORDER BY id DESC LIMIT 1", ch.ID, ch.ID, bob.User.ID).Scan(&last, &lastText)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, err.Error()
		}
		err = db.QueryRow("SELECT message_id FROM read_positions WHERE chat_id = ? AND user_id = ?", ch.ID, bob.User.ID).Scan(&read)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, err.Error()
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE "+seen+" AND id > ? AND author_id <> ?", ch.ID, ch.ID, bob.User.ID, read, bob.User.ID).Scan(&unread); err != nil {
			return false, err.Error()
		}
		c, ok := byID[ch.ID]
		if !ok {
			return false, fmt.Sprintf("chat %d missing from the list", ch.ID)
		}
		lastID, text := int64(0), ""
		if c.LastMessage != nil {
			lastID, text = c.LastMessage.ID, c.LastMessage.Text
		}
		if lastID != last || text != lastText || c.ReadMessageID != read || c.UnreadCount != unread {
			return false, fmt.Sprintf("chat %d: cache last=%d %q read=%d unread=%d, MySQL last=%d %q read=%d unread=%d",
				ch.ID, lastID, text, c.ReadMessageID, c.UnreadCount, last, lastText, read, unread)
		}
	}
	return true, ""
}

func printFaultTable(t *testing.T) {
	faultRowsMu.Lock()
	defer faultRowsMu.Unlock()
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\taccepted\tedits/deletes/hides\tlost\tduplicated rows\tout of order\twrong in history\tmax catch-up (s)\trealtime dups\trecovery failed\tdead letters\tpersonal stream missing/twice/order\tdiverged\t")
	for _, r := range faultRows {
		fmt.Fprintf(tw, "%s\t%d\t%d/%d/%d\t%d\t%d\t%d\t%d\t%.1f\t%d\t%d\t%d\t%s\t%d\t\n", r.scenario, r.accepted, r.edits, r.deletes, r.hides,
			r.lost, r.dupRows, r.outOfOrder, r.historyWrong, r.catchUp.Seconds(), r.realtimeDups, r.recoveryFailed, r.deadLetters, r.personal, r.diverged)
	}
	tw.Flush()
	table := fmt.Sprintf("Fault-injection results (soak=%v):\n%s", soak(), b.String())
	fmt.Printf("\n%s\n", table)
	// `go test` hides what a passing test prints when it runs several
	// packages; scripts/test.sh prints this file, so the table is in the CI
	// log either way.
	dir := filepath.Join(testkit.RepoRoot(t), ".run", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "faults.txt"), []byte(table), 0o644)
	}
}
