package sqlstore_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logchat/shared/config"
	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// shardedStore opens a migrated store over a fresh main database and two
// shards (s1, s2; main weighs mainWeight), and raw connections to each,
// keyed by shard name.
func shardedStore(t *testing.T, mainWeight int, extra ...sqlstore.Option) (st *sqlstore.Store, mainDSN string, shards []sqlstore.ShardDSN, raw map[string]*sql.DB) {
	t.Helper()
	mainDSN = testkit.MySQL(t)
	shards = []sqlstore.ShardDSN{{Name: "s1", DSN: testkit.MySQL(t)}, {Name: "s2", DSN: testkit.MySQL(t)}}
	opts := append([]sqlstore.Option{sqlstore.WithShards(shards),
		sqlstore.WithShardWeights(map[string]int{"main": mainWeight, "s1": 1, "s2": 1})}, extra...)
	var err error
	st, err = sqlstore.Open(t.Context(), mainDSN, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw = map[string]*sql.DB{}
	for name, dsn := range map[string]string{"main": mainDSN, "s1": shards[0].DSN, "s2": shards[1].DSN} {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		raw[name] = db
	}
	return st, mainDSN, shards, raw
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func shardOf(t *testing.T, raw map[string]*sql.DB, chatID int64) string {
	t.Helper()
	var name string
	if err := raw["main"].QueryRowContext(t.Context(), "SELECT shard FROM chat_shards WHERE chat_id = ?", chatID).Scan(&name); err != nil {
		t.Fatalf("directory entry of chat %d: %v", chatID, err)
	}
	return name
}

// New chats are spread over the shards by weight, each in the directory;
// every chat-scoped row is written on its chat's shard only, and the reads
// (history, lookups, unread counts, views, search) find them there.
func TestShardedPlacementRoutingAndReads(t *testing.T) {
	t.Parallel()
	st, _, _, raw := shardedStore(t, 0)
	if got := st.ShardNames(); !reflect.DeepEqual(got, []string{"main", "s1", "s2"}) {
		t.Fatalf("shards %v", got)
	}
	vs, err := st.Versions(t.Context())
	if err != nil || len(vs) != 3 || vs[0] != sqlstore.SchemaVersion() || vs[2] != sqlstore.SchemaVersion() {
		t.Fatalf("versions %v, %v: every database must be migrated", vs, err)
	}
	a, b := mustUser(t, st, "ann"), mustUser(t, st, "bob")
	var chats []domain.Chat
	for i := range 4 {
		c, err := st.CreateGroupChat(t.Context(), fmt.Sprintf("g%d", i), a.ID, group(a, b), t0, nil)
		if err != nil {
			t.Fatal(err)
		}
		chats = append(chats, c)
	}
	d, _, err := st.CreateDirectChat(t.Context(), a, b, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	chats = append(chats, d)
	placed := map[string]int{}
	for _, c := range chats {
		placed[shardOf(t, raw, c.ID)]++
	}
	if placed["main"] != 0 || placed["s1"] < 2 || placed["s2"] < 2 {
		t.Fatalf("placement %v: want the chats spread over s1 and s2, none on main (weight 0)", placed)
	}

	// Messages in every chat, a read, a hide, a clear: one batch.
	var batch sqlstore.Batch
	id := int64(100)
	for _, c := range chats {
		for k := range 3 {
			id++
			author := a
			if k == 1 {
				author = b
			}
			m := msg(c.ID, id, author, fmt.Sprintf("c%d", id), t0)
			m.Text = fmt.Sprintf("hello shard %d", id)
			batch.Messages = append(batch.Messages, m)
		}
	}
	batch.Hides = []sqlstore.Hide{{ChatID: chats[0].ID, UserID: b.ID, MessageID: 101}, {ChatID: chats[1].ID, UserID: b.ID, ThroughID: 104}}
	batch.Progress = sqlstore.Progress{0: uint64(id)}
	apply(t, st, batch)
	for _, c := range chats {
		home := shardOf(t, raw, c.ID)
		for name, db := range raw {
			n := count(t, db, "SELECT COUNT(*) FROM messages WHERE chat_id = ?", c.ID)
			if (name == home) != (n == 3) || (name != home && n != 0) {
				t.Fatalf("chat %d (on %s): %d messages on %s", c.ID, home, n, name)
			}
			if name != "main" && count(t, db, "SELECT COUNT(*) FROM persister_progress") != 1 {
				t.Fatalf("shard %s records no progress", name)
			}
		}
		if n := count(t, raw["main"], "SELECT last_message_id FROM chats WHERE id = ?", c.ID); n == 0 {
			t.Fatalf("chat %d: its last message was not moved in main", c.ID)
		}
	}
	if n := count(t, raw[shardOf(t, raw, chats[0].ID)], "SELECT COUNT(*) FROM hidden_messages WHERE chat_id = ?", chats[0].ID); n != 1 {
		t.Fatalf("the hide is not on the chat's shard (%d)", n)
	}

	// Reads.
	for _, c := range chats {
		h, _, err := st.History(t.Context(), c.ID, sqlstore.HistoryQuery{Limit: 10})
		if err != nil || len(h) != 3 || h[0].Author.Name == "" {
			t.Fatalf("history of chat %d: %v, %v", c.ID, h, err)
		}
	}
	byID, err := st.MessagesByID(t.Context(), []int64{chats[0].ID, chats[1].ID, chats[2].ID}, []int64{101, 104, 107})
	if err != nil || len(byID) != 3 {
		t.Fatalf("messages by id across shards: %v, %v", byID, err)
	}
	after := map[int64]int64{}
	for _, c := range chats {
		after[c.ID] = 0
	}
	unread, err := st.UnreadCounts(t.Context(), b.ID, after)
	if err != nil {
		t.Fatal(err)
	}
	// b wrote one of three in each chat; in chats[0] b hid 101 (a's), in
	// chats[1] b cleared through 104 (106 is left).
	want := map[int64]int{chats[0].ID: 1, chats[1].ID: 1, chats[2].ID: 2, chats[3].ID: 2, chats[4].ID: 2}
	if !reflect.DeepEqual(unread, want) {
		t.Fatalf("unread counts across shards %v, want %v", unread, want)
	}
	views, err := st.Views(t.Context(), b.ID, []int64{chats[0].ID, chats[1].ID, chats[2].ID})
	if err != nil || len(views) != 2 || views[chats[1].ID].Cleared != 104 {
		t.Fatalf("views across shards: %v, %v", views, err)
	}

	// The search index of every chat, on its shard, found by one query.
	var ops []sqlstore.SearchOp
	for _, m := range batch.Messages {
		ops = append(ops, sqlstore.SearchOp{ChatID: m.ChatID, MessageID: m.ID, Version: m.ID, Terms: []string{"hello", "shard"}})
	}
	if err := st.ApplySearch(t.Context(), ops, sqlstore.Progress{0: uint64(id)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range chats {
		if n := count(t, raw[shardOf(t, raw, c.ID)], "SELECT COUNT(*) FROM search_docs WHERE chat_id = ?", c.ID); n != 3 {
			t.Fatalf("chat %d: %d search docs on its shard", c.ID, n)
		}
	}
	all := make([]int64, len(chats))
	for i, c := range chats {
		all[i] = c.ID
	}
	hits, err := st.SearchCandidates(t.Context(), sqlstore.SearchQuery{Viewer: a.ID, Chats: all, Prefixes: []string{"sha"}, Limit: 100})
	if err != nil || len(hits) != len(batch.Messages) {
		t.Fatalf("search across shards: %d hits, %v", len(hits), err)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].MessageID >= hits[i-1].MessageID {
			t.Fatalf("hits of several shards not merged newest first: %v", hits)
		}
	}
}

// A shard that is down does not hold back the others: the writers' batches
// succeed, the other shards' parts commit, and the down shard's parts are
// parked in the main database, each later one behind the first; once the
// shard answers, DrainParked applies them in log order and ends the
// parking. Meanwhile the chats of the parked shard do not move.
func TestShardDownParksItsPart(t *testing.T) {
	t.Parallel()
	st, mainDSN, shards, raw := shardedStore(t, 0, sqlstore.WithDirectoryTTL(50*time.Millisecond))
	a := mustUser(t, st, "ann")
	var onS1, onS2 domain.Chat
	for onS1.ID == 0 || onS2.ID == 0 {
		c, err := st.CreateGroupChat(t.Context(), "g", a.ID, group(a), t0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if shardOf(t, raw, c.ID) == "s1" {
			onS1 = c
		} else {
			onS2 = c
		}
	}
	// The same installation seen by writers for which s2 is unreachable.
	down := []sqlstore.ShardDSN{shards[0], {Name: "s2", DSN: fmt.Sprintf("root@tcp(127.0.0.1:%d)/x?timeout=300ms", testkit.FreePort(t))}}
	broken, err := sqlstore.OpenProjection(t.Context(), mainDSN, sqlstore.WithShards(down))
	if err != nil {
		t.Fatal(err)
	}
	defer broken.Close()
	// Readiness: the gateway's and the writers' (PingMain) do not depend on
	// a chat shard; Ping, which tells the runtime an outage from a poison
	// event, covers every shard.
	if err := broken.Ping(t.Context()); err == nil {
		t.Error("Ping succeeds with s2 down")
	}
	if err := broken.PingMain(t.Context()); err != nil {
		t.Errorf("PingMain with s2 down (main up): %v", err)
	}
	batches := []sqlstore.Batch{
		{Messages: []domain.Message{msg(onS1.ID, 11, a, "x1", t0), msg(onS2.ID, 12, a, "x2", t0)}, Progress: sqlstore.Progress{0: 12}},
		{Edits: []sqlstore.MessageEdit{{ChatID: onS2.ID, ID: 12, Text: "second", EditedAt: t0, Seq: 13}}, Progress: sqlstore.Progress{0: 13}},
		{Messages: []domain.Message{msg(onS1.ID, 14, a, "x3", t0)}, Progress: sqlstore.Progress{0: 14}},
		{Edits: []sqlstore.MessageEdit{{ChatID: onS2.ID, ID: 12, Text: "third", EditedAt: t0, Seq: 15}}, Progress: sqlstore.Progress{0: 15}},
	}
	for i, b := range batches {
		if err := broken.ApplyBatch(t.Context(), b); err != nil {
			t.Fatalf("batch %d with s2 down: %v, want it applied to s1 and parked for s2", i, err)
		}
	}
	ops := []sqlstore.SearchOp{{ChatID: onS1.ID, MessageID: 11, Version: 11, Terms: []string{"alpha"}}, {ChatID: onS2.ID, MessageID: 12, Version: 13, Terms: []string{"beta"}}}
	if err := broken.ApplySearch(t.Context(), ops, sqlstore.Progress{0: 13}); err != nil {
		t.Fatalf("search batch with s2 down: %v", err)
	}
	if n := count(t, raw["s1"], "SELECT COUNT(*) FROM messages"); n != 2 {
		t.Fatalf("s1 holds %d messages, want its 2 applied while s2 is down", n)
	}
	if n := count(t, raw["s1"], "SELECT COUNT(*) FROM search_docs"); n != 1 {
		t.Fatalf("s1 indexes %d messages, want 1", n)
	}
	if n := count(t, raw["main"], "SELECT COUNT(*) FROM parked_work WHERE shard = 's2'"); n != 4 {
		t.Fatalf("%d parts parked for s2, want 3 of the persister's (batch 2 has no part for s2) and 1 of the searcher's", n)
	}
	if err := st.MoveChat(t.Context(), onS2.ID, "s1", nil); err == nil || !strings.Contains(err.Error(), "parked") {
		t.Fatalf("moving a chat of a shard with parked work: %v, want a refusal", err)
	}
	// A writer that cannot reach s2 leaves the work parked.
	if got, err := broken.DrainParked(t.Context(), sqlstore.ParkPersister); err != nil || got.Waiting["s2"] != 3 || len(got.Drained) != 0 {
		t.Fatalf("drain with s2 down: %+v, %v", got, err)
	}
	// s2 answers: the parts are applied in order, the parking ends.
	for _, w := range []string{sqlstore.ParkPersister, sqlstore.ParkSearcher} {
		if got, err := st.DrainParked(t.Context(), w); err != nil || len(got.Waiting) != 0 {
			t.Fatalf("drain of %s with s2 up: %+v, %v", w, got, err)
		}
	}
	m, err := st.Message(t.Context(), onS2.ID, 12)
	if err != nil || m.Text != "third" {
		t.Fatalf("message 12 after the drain: %q, %v; want the last edit, applied in order", m.Text, err)
	}
	if n := count(t, raw["s2"], "SELECT COUNT(*) FROM search_docs WHERE chat_id = ?", onS2.ID); n != 1 {
		t.Fatalf("s2 indexes %d messages after the drain, want 1", n)
	}
	if n := count(t, raw["main"], "SELECT COUNT(*) FROM parked_work") + count(t, raw["main"], "SELECT COUNT(*) FROM parked_shards"); n != 0 {
		t.Fatalf("%d parked rows left after the drain", n)
	}
	var last int64
	if err := raw["main"].QueryRowContext(t.Context(), "SELECT COALESCE(last_message_id, 0) FROM chats WHERE id = ?", onS2.ID).Scan(&last); err != nil || last != 12 {
		t.Fatalf("chat on s2: last message %d, %v; want 12 (moved by the drain)", last, err)
	}
	// Then the writers apply s2's parts directly again.
	apply(t, st, sqlstore.Batch{Messages: []domain.Message{msg(onS2.ID, 16, a, "x4", t0)}, Progress: sqlstore.Progress{0: 16}})
	if n := count(t, raw["s2"], "SELECT COUNT(*) FROM messages"); n != 2 {
		t.Fatalf("s2 holds %d messages, want 2", n)
	}
	if err := st.MoveChat(t.Context(), onS2.ID, "s1", nil); err != nil {
		t.Fatalf("moving the chat once nothing is parked: %v", err)
	}
}

// MYSQL_SHARDS and MYSQL_SHARD_WEIGHTS: errors name the variable and the
// fault, never a DSN (it carries a password), and the value is masked in
// the config log.
func TestShardSettings(t *testing.T) {
	const secret = "pw-of-the-shard-test"
	for _, tc := range []struct {
		name, shards, weights, wantErr string
		want                           map[string]int
	}{
		{"unset", "", "", "", map[string]int{"main": 1}},
		{"two", "s1=u:" + secret + "@tcp(h:1)/a s2=u:" + secret + "@tcp(h:2)/b", "main=0 s2=3", "", map[string]int{"main": 0, "s1": 1, "s2": 3}},
		{"no equals", "u:" + secret + "@tcp(h:1)/a", "", "MYSQL_SHARDS: entry 1 is not name=DSN", nil},
		{"main", "main=u:" + secret + "@tcp(h:1)/a", "", "MYSQL_SHARDS: entry 1: \"main\" is the main database", nil},
		{"twice", "s1=u:" + secret + "@tcp(h:1)/a s1=u:" + secret + "@tcp(h:1)/b", "", "listed twice", nil},
		{"bad name", "S1=u:" + secret + "@tcp(h:1)/a", "", "shard name", nil},
		{"no database", "s1=u:" + secret + "@tcp(h:1)/", "", "MYSQL_SHARDS: shard \"s1\": mysql dsn names no database", nil},
		{"unknown weight", "s1=u:" + secret + "@tcp(h:1)/a", "s9=2", "MYSQL_SHARD_WEIGHTS: shard \"s9\" is not configured", nil},
		{"negative weight", "s1=u:" + secret + "@tcp(h:1)/a", "s1=-1", "MYSQL_SHARD_WEIGHTS: weight of shard \"s1\"", nil},
		{"all zero", "s1=u:" + secret + "@tcp(h:1)/a", "main=0 s1=0", "MYSQL_SHARD_WEIGHTS: every shard weighs 0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MYSQL_SHARDS", tc.shards)
			t.Setenv("MYSQL_SHARD_WEIGHTS", tc.weights)
			env := config.New()
			shards := sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS")
			weights := sqlstore.ShardWeightsFromEnv(env, shards)
			var log bytes.Buffer
			env.Log(slog.New(slog.NewJSONHandler(&log, nil)))
			err := env.Err()
			if tc.wantErr == "" {
				if err != nil || !reflect.DeepEqual(weights, tc.want) {
					t.Fatalf("%v, %v", weights, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(log.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
				t.Fatalf("a password reached the log or the error: %s / %v", log.String(), err)
			}
		})
	}
}
