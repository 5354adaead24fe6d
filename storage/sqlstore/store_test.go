package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/retry"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// newStore opens a migrated store on a fresh database, and a raw connection
// to the same database for looking at rows directly.
func newStore(t *testing.T) (*sqlstore.Store, *sql.DB) {
	t.Helper()
	dsn := testkit.MySQL(t)
	// Open must add what it needs itself: take the test DSN's extras away.
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = false
	cfg.MultiStatements = false
	st, err := sqlstore.Open(t.Context(), cfg.FormatDSN())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return st, raw
}

func mustUser(t *testing.T, st *sqlstore.Store, name string) domain.User {
	t.Helper()
	u, err := st.CreateUser(t.Context(), name, []byte("hash-of-"+name), time.Now())
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// recorder is a Stage that records what it was called with, and stages an
// event naming the chat.
type recorder struct {
	mu    sync.Mutex
	chats []domain.Chat
	err   error
}

func (r *recorder) stage(_ context.Context, c domain.Chat) (sqlstore.OutboxEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return sqlstore.OutboxEvent{}, r.err
	}
	r.chats = append(r.chats, c)
	return sqlstore.OutboxEvent{Subject: fmt.Sprintf("chat.%d.test", c.ID), MsgID: fmt.Sprintf("t:%d:%d", c.ID, len(r.chats)),
		Payload: []byte(fmt.Sprintf(`{"members":%d}`, len(c.Members)))}, nil
}

// staged lists the outbox rows as "subject msg_id payload", in id order.
func staged(t *testing.T, raw *sql.DB) []string {
	t.Helper()
	rows, err := raw.Query("SELECT subject, msg_id, payload FROM outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var subject, msgID, payload string
		if err := rows.Scan(&subject, &msgID, &payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, subject+" "+msgID+" "+payload)
	}
	return out
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.chats)
}

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// group is the members of a group created by admin with the others.
func group(admin domain.User, others ...domain.User) []domain.Member {
	ms := []domain.Member{{User: admin, Role: domain.RoleAdmin}}
	for _, u := range others {
		ms = append(ms, domain.Member{User: u, Role: domain.RoleMember})
	}
	return ms
}

func msg(chat, id int64, author domain.User, client string, at time.Time) domain.Message {
	return domain.Message{ID: id, ChatID: chat, Author: author, Text: fmt.Sprintf("text %d", id), ClientID: client, SentAt: at}
}

func apply(t *testing.T, st *sqlstore.Store, b sqlstore.Batch) {
	t.Helper()
	if err := st.ApplyBatch(t.Context(), b); err != nil {
		t.Fatalf("apply batch: %v", err)
	}
}

func ids(msgs []domain.Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

func TestSchemaCheckWaitsForTheMigration(t *testing.T) {
	t.Parallel()
	st, err := sqlstore.Open(t.Context(), testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A database nobody migrated: behind, and retryable (the migrate job may
	// still be on its way), never permanent.
	err = st.CheckSchema(t.Context())
	if err == nil || retry.IsPermanent(err) {
		t.Fatalf("unmigrated database: check says %v, want a retryable 'behind' error", err)
	}
	vs, err := st.Versions(t.Context())
	if err != nil || len(vs) != 1 || vs[0] != 0 {
		t.Fatalf("versions of an unmigrated database: %v, %v; want [0]", vs, err)
	}
	// A waiter started before the migration finishes once it is applied.
	done := make(chan error, 1)
	go func() { done <- st.WaitForSchema(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait for schema: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("WaitForSchema did not return within 20 s of the migration")
	}
	vs, err = st.Versions(t.Context())
	if err != nil || vs[0] != sqlstore.SchemaVersion() {
		t.Fatalf("versions after migrating: %v, %v; want [%d]", vs, err, sqlstore.SchemaVersion())
	}
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Migrate(t.Context())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
	}
	var n int
	if err := raw.QueryRow("SELECT COUNT(*) FROM goose_db_version WHERE version_id = 1 AND is_applied").Scan(&n); err != nil || n != 1 {
		t.Fatalf("goose_db_version holds version 1 %d times (err %v), want once", n, err)
	}
	if err := st.CheckSchema(t.Context()); err != nil {
		t.Fatalf("after migrating, the schema check says: %v", err)
	}
	for _, table := range []string{"users", "chats", "chat_members", "messages", "read_positions", "persister_progress"} {
		if _, err := raw.Exec("SELECT 1 FROM " + table + " LIMIT 1"); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func TestOpenRejectsMalformedDSN(t *testing.T) {
	t.Parallel()
	if _, err := sqlstore.Open(t.Context(), "not a dsn"); err == nil {
		t.Fatal("open accepted a malformed DSN")
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := t.Context()
	alice := mustUser(t, st, "Alice")
	for _, name := range []string{"λόγος", "Straße", "Иван"} {
		mustUser(t, st, name)
	}

	t.Run("names are unique without regard to case", func(t *testing.T) {
		for _, name := range []string{"Alice", "alice", "ALICE", "aLiCe", "ΛΌΓΟΣ", "λόγοσ", "STRAẞE", "straße", "иван", "ИВАН"} {
			_, err := st.CreateUser(ctx, name, []byte("x"), time.Now())
			if !errors.Is(err, domain.ErrConflict) {
				t.Errorf("create %q: err = %v, want ErrConflict", name, err)
			}
		}
		// Different names that only look alike are not conflicts.
		for _, name := range []string{"Alice2", "Strasse", "Ivan"} {
			if _, err := st.CreateUser(ctx, name, []byte("x"), time.Now()); err != nil {
				t.Errorf("create %q: %v", name, err)
			}
		}
	})

	t.Run("lookups", func(t *testing.T) {
		u, hash, err := st.UserByName(ctx, "ALICE")
		if err != nil || u != alice || string(hash) != "hash-of-Alice" {
			t.Fatalf("UserByName(ALICE) = %+v, %q, %v; want %+v with its hash", u, hash, err, alice)
		}
		if _, _, err := st.UserByName(ctx, "nobody"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("UserByName(nobody) err = %v, want ErrNotFound", err)
		}
		if u, err := st.UserByID(ctx, alice.ID); err != nil || u != alice {
			t.Fatalf("UserByID = %+v, %v", u, err)
		}
		if _, err := st.UserByID(ctx, alice.ID+1000); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("UserByID(missing) err = %v, want ErrNotFound", err)
		}
		users, err := st.UsersByIDs(ctx, []int64{alice.ID, alice.ID + 1000, alice.ID})
		if err != nil || len(users) != 1 || users[0] != alice {
			t.Fatalf("UsersByIDs = %+v, %v; want just alice", users, err)
		}
		if users, err := st.UsersByIDs(ctx, nil); err != nil || len(users) != 0 {
			t.Fatalf("UsersByIDs(nil) = %+v, %v", users, err)
		}
	})
}

func TestSearchUsers(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	for _, n := range []string{"alpha", "Alfred", "bob", "alex", "al_ex", "Ålborg"} {
		mustUser(t, st, n)
	}
	tests := []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"al", 20, []string{"al_ex", "alex", "Alfred", "alpha"}},
		{"AL", 20, []string{"al_ex", "alex", "Alfred", "alpha"}},
		{"al", 2, []string{"al_ex", "alex"}},
		{"al_", 20, []string{"al_ex"}}, // '_' is literal, not a wildcard
		{"al%", 20, []string{}},
		{"ålb", 20, []string{"Ålborg"}},
		{"", 3, []string{"al_ex", "alex", "Alfred"}},
		{"zed", 20, []string{}},
		{"al", 0, []string{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q limit %d", tc.prefix, tc.limit), func(t *testing.T) {
			users, err := st.SearchUsers(t.Context(), tc.prefix, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, u := range users {
				got = append(got, u.Name)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDirectChat(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	ctx := t.Context()
	a, b, c := mustUser(t, st, "a"), mustUser(t, st, "b"), mustUser(t, st, "c")

	rec := &recorder{}
	chat, created, err := st.CreateDirectChat(ctx, b, a, t0, rec.stage)
	if err != nil || !created {
		t.Fatalf("create: created=%v err=%v", created, err)
	}
	want := domain.Chat{ID: chat.ID, Kind: domain.KindDirect, CreatedAt: t0, Version: 1, // its first change
		Members: []domain.Member{{User: a, Role: domain.RoleMember}, {User: b, Role: domain.RoleMember}}}
	if !reflect.DeepEqual(chat, want) {
		t.Fatalf("chat = %+v, want %+v", chat, want)
	}
	if rec.calls() != 1 || !reflect.DeepEqual(rec.chats[0], want) {
		t.Fatalf("staged %+v, want once %+v", rec.chats, want)
	}
	if got, want := staged(t, raw), []string{fmt.Sprintf(`chat.%d.test t:%d:1 {"members":2}`, chat.ID, chat.ID)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("outbox %q, want %q", got, want)
	}

	t.Run("asking again returns the same chat without staging", func(t *testing.T) {
		for _, pair := range [][2]domain.User{{a, b}, {b, a}} {
			again, created, err := st.CreateDirectChat(ctx, pair[0], pair[1], t0.Add(time.Hour), rec.stage)
			if err != nil || created || !reflect.DeepEqual(again, want) {
				t.Fatalf("again = %+v created=%v err=%v", again, created, err)
			}
		}
		if rec.calls() != 1 || len(staged(t, raw)) != 1 {
			t.Fatalf("staged %d times, want 1", rec.calls())
		}
		if got, err := st.Chat(ctx, chat.ID); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Chat = %+v, %v", got, err)
		}
	})

	t.Run("a failed stage commits nothing", func(t *testing.T) {
		boom := errors.New("cannot encode")
		_, _, err := st.CreateDirectChat(ctx, a, c, t0, (&recorder{err: boom}).stage)
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the stage error", err)
		}
		var n int
		raw.QueryRow("SELECT COUNT(*) FROM chat_members WHERE user_id = ?", c.ID).Scan(&n)
		if n != 0 {
			t.Fatalf("c is a member of %d chats after a failed create", n)
		}
		rec2 := &recorder{}
		ac, created, err := st.CreateDirectChat(ctx, a, c, t0, rec2.stage)
		if err != nil || !created || ac.ID == chat.ID || rec2.calls() != 1 {
			t.Fatalf("retry: %+v created=%v err=%v staged=%d", ac, created, err, rec2.calls())
		}
		if n := len(staged(t, raw)); n != 2 {
			t.Fatalf("%d rows in the outbox, want the two chats' events", n)
		}
	})

	t.Run("a chat with oneself is invalid", func(t *testing.T) {
		if _, _, err := st.CreateDirectChat(ctx, a, a, t0, rec.stage); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestDirectChatConcurrent(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	a, b := mustUser(t, st, "a"), mustUser(t, st, "b")
	rec := &recorder{}
	const n = 8
	type result struct {
		chat    domain.Chat
		created bool
		err     error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, y := a, b
			if i%2 == 1 {
				x, y = b, a
			}
			<-start
			c, created, err := st.CreateDirectChat(t.Context(), x, y, t0, rec.stage)
			results[i] = result{c, created, err}
		}()
	}
	close(start)
	wg.Wait()
	createdCount := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("call %d: %v", i, r.err)
		}
		if r.chat.ID != results[0].chat.ID {
			t.Fatalf("call %d got chat %d, call 0 chat %d", i, r.chat.ID, results[0].chat.ID)
		}
		if r.created {
			createdCount++
		}
	}
	if createdCount != 1 || rec.calls() != 1 || len(staged(t, raw)) != 1 {
		t.Fatalf("created %d times, staged %d times; want 1 and 1", createdCount, rec.calls())
	}
	var chats, members int
	raw.QueryRow("SELECT COUNT(*) FROM chats").Scan(&chats)
	raw.QueryRow("SELECT COUNT(*) FROM chat_members").Scan(&members)
	if chats != 1 || members != 2 {
		t.Fatalf("%d chats and %d members, want 1 and 2", chats, members)
	}
}

func TestGroupChat(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	ctx := t.Context()
	u1, u2, u3, u4 := mustUser(t, st, "u1"), mustUser(t, st, "u2"), mustUser(t, st, "u3"), mustUser(t, st, "u4")

	rec := &recorder{}
	// Members come back ordered by user id.
	chat, err := st.CreateGroupChat(ctx, "Team ✨", u3.ID, []domain.Member{
		{User: u2, Role: domain.RoleMember}, {User: u3, Role: domain.RoleAdmin}, {User: u1, Role: domain.RoleMember}}, t0, rec.stage)
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Chat{ID: chat.ID, Kind: domain.KindGroup, Title: "Team ✨", CreatedAt: t0, Version: 1, Members: []domain.Member{
		{User: u1, Role: domain.RoleMember}, {User: u2, Role: domain.RoleMember}, {User: u3, Role: domain.RoleAdmin}}}
	if !reflect.DeepEqual(chat, want) {
		t.Fatalf("chat = %+v, want %+v", chat, want)
	}
	if rec.calls() != 1 || !reflect.DeepEqual(rec.chats[0], want) || len(staged(t, raw)) != 1 {
		t.Fatalf("staged %+v", rec.chats)
	}
	if got, err := st.Chat(ctx, chat.ID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Chat = %+v, %v; want %+v", got, err, want)
	}
	if _, err := st.Chat(ctx, chat.ID+1000); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Chat(missing) err = %v", err)
	}

	roles := []struct {
		chat, user int64
		want       domain.Role
		err        error
	}{
		{chat.ID, u3.ID, domain.RoleAdmin, nil},
		{chat.ID, u1.ID, domain.RoleMember, nil},
		{chat.ID, u4.ID, "", domain.ErrNotFound},
		{chat.ID + 1000, u1.ID, "", domain.ErrNotFound},
	}
	for _, tc := range roles {
		t.Run(fmt.Sprintf("role of %d in %d", tc.user, tc.chat), func(t *testing.T) {
			got, err := st.MemberRole(ctx, tc.chat, tc.user)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("MemberRole = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	if got, err := st.MemberIDs(ctx, chat.ID); err != nil || !reflect.DeepEqual(got, []int64{u1.ID, u2.ID, u3.ID}) {
		t.Fatalf("MemberIDs = %v, %v", got, err)
	}

	t.Run("a failed stage commits nothing", func(t *testing.T) {
		var before, after int
		raw.QueryRow("SELECT COUNT(*) FROM chats").Scan(&before)
		boom := errors.New("cannot encode")
		members := []domain.Member{{User: u4, Role: domain.RoleAdmin}, {User: u1, Role: domain.RoleMember}}
		if _, err := st.CreateGroupChat(ctx, "x", u4.ID, members, t0, (&recorder{err: boom}).stage); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		raw.QueryRow("SELECT COUNT(*) FROM chats").Scan(&after)
		if after != before || len(staged(t, raw)) != 1 {
			t.Fatalf("chats %d -> %d, outbox %q after a failed create", before, after, staged(t, raw))
		}
	})

	t.Run("an unknown role is invalid", func(t *testing.T) {
		members := []domain.Member{{User: u4, Role: "owner"}}
		if _, err := st.CreateGroupChat(ctx, "x", u4.ID, members, t0, rec.stage); !errors.Is(err, domain.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestAddAndRemoveMember(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	ctx := t.Context()
	admin, m1, m2 := mustUser(t, st, "admin"), mustUser(t, st, "m1"), mustUser(t, st, "m2")
	chat, err := st.CreateGroupChat(ctx, "g", admin.ID, []domain.Member{{User: admin, Role: domain.RoleAdmin}, {User: m1, Role: domain.RoleMember}}, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("log down")

	steps := []struct {
		name      string
		do        func(rec *recorder) (domain.Chat, bool, error)
		wantErr   error
		wantAdded bool
		staged    bool
		members   []int64
	}{
		{"add with a failed stage", func(r *recorder) (domain.Chat, bool, error) {
			r.err = boom
			return st.AddMember(ctx, chat.ID, m2, domain.RoleMuted, t0, r.stage)
		}, boom, false, false, []int64{admin.ID, m1.ID}},
		{"add", func(r *recorder) (domain.Chat, bool, error) {
			return st.AddMember(ctx, chat.ID, m2, domain.RoleMuted, t0, r.stage)
		}, nil, true, true, []int64{admin.ID, m1.ID, m2.ID}},
		{"add again", func(r *recorder) (domain.Chat, bool, error) {
			return st.AddMember(ctx, chat.ID, m2, domain.RoleMember, t0, r.stage)
		}, nil, false, false, []int64{admin.ID, m1.ID, m2.ID}},
		{"add to a missing chat", func(r *recorder) (domain.Chat, bool, error) {
			return st.AddMember(ctx, chat.ID+1000, m2, domain.RoleMember, t0, r.stage)
		}, domain.ErrNotFound, false, false, []int64{admin.ID, m1.ID, m2.ID}},
		{"add with an unknown role", func(r *recorder) (domain.Chat, bool, error) {
			return st.AddMember(ctx, chat.ID, m2, "owner", t0, r.stage)
		}, domain.ErrInvalid, false, false, []int64{admin.ID, m1.ID, m2.ID}},
		{"remove with a failed stage", func(r *recorder) (domain.Chat, bool, error) {
			r.err = boom
			return domain.Chat{}, false, st.RemoveMember(ctx, chat.ID, m1.ID, nil, r.stage)
		}, boom, false, false, []int64{admin.ID, m1.ID, m2.ID}},
		{"remove", func(r *recorder) (domain.Chat, bool, error) {
			return domain.Chat{}, false, st.RemoveMember(ctx, chat.ID, m1.ID, nil, r.stage)
		}, nil, false, true, []int64{admin.ID, m2.ID}},
		{"remove again", func(r *recorder) (domain.Chat, bool, error) {
			return domain.Chat{}, false, st.RemoveMember(ctx, chat.ID, m1.ID, nil, r.stage)
		}, domain.ErrNotFound, false, false, []int64{admin.ID, m2.ID}},
		{"remove from a missing chat", func(r *recorder) (domain.Chat, bool, error) {
			return domain.Chat{}, false, st.RemoveMember(ctx, chat.ID+1000, m2.ID, nil, r.stage)
		}, domain.ErrNotFound, false, false, []int64{admin.ID, m2.ID}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := len(staged(t, raw))
			rec := &recorder{}
			got, added, err := s.do(rec)
			if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, s.wantErr)
			}
			if added != s.wantAdded {
				t.Fatalf("added = %v, want %v", added, s.wantAdded)
			}
			if (rec.calls() == 1) != s.staged || rec.calls() > 1 {
				t.Fatalf("staged %d times, want staged=%v", rec.calls(), s.staged)
			}
			if n := len(staged(t, raw)) - before; (n == 1) != s.staged || n > 1 {
				t.Fatalf("%d rows added to the outbox, want staged=%v", n, s.staged)
			}
			now, err := st.MemberIDs(ctx, chat.ID)
			if err != nil || !reflect.DeepEqual(now, s.members) {
				t.Fatalf("members = %v, %v; want %v", now, err, s.members)
			}
			current, _ := st.Chat(ctx, chat.ID)
			if s.staged && !reflect.DeepEqual(rec.chats[0], current) {
				t.Fatalf("staged %+v, but the chat is now %+v", rec.chats[0], current)
			}
			if s.wantErr == nil && strings.HasPrefix(s.name, "add") && !reflect.DeepEqual(got, current) {
				t.Fatalf("returned %+v, but the chat is now %+v", got, current)
			}
		})
	}
	if role, err := st.MemberRole(ctx, chat.ID, m2.ID); err != nil || role != domain.RoleMuted {
		t.Fatalf("m2's role = %q, %v; want muted (adding again changes nothing)", role, err)
	}
}

func TestUserChats(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := t.Context()
	u, v, w := mustUser(t, st, "u"), mustUser(t, st, "v"), mustUser(t, st, "w")
	var nop sqlstore.Stage
	var chats []domain.Chat
	for i := range 4 {
		c, err := st.CreateGroupChat(ctx, fmt.Sprint("g", i), u.ID, group(u, v), t0.Add(time.Duration(i)*time.Second), nop)
		if err != nil {
			t.Fatal(err)
		}
		chats = append(chats, c)
	}
	if _, _, err := st.CreateDirectChat(ctx, v, w, t0.Add(time.Hour), nop); err != nil {
		t.Fatal(err) // not u's: must not show up
	}
	// Messages in chats 0 and 2 at one instant: a tie broken by id, desc.
	at := t0.Add(10*time.Second + 123*time.Millisecond)
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 20}, Messages: []domain.Message{
		msg(chats[0].ID, 10, v, "a", at), msg(chats[2].ID, 11, v, "b", at)}})
	wantOrder := []int64{chats[2].ID, chats[0].ID, chats[3].ID, chats[1].ID}

	all, err := st.AllUserChats(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var gotOrder []int64
	for _, r := range all {
		gotOrder = append(gotOrder, r.Chat.ID)
	}
	if !reflect.DeepEqual(gotOrder, wantOrder) {
		t.Fatalf("AllUserChats order %v, want %v", gotOrder, wantOrder)
	}
	if all[0].LastMessageID != 11 || !all[0].UpdatedAt.Equal(at) || all[2].LastMessageID != 0 || !all[2].UpdatedAt.Equal(chats[3].CreatedAt) {
		t.Fatalf("rows %+v: want last message and updated_at from messages, else creation", all)
	}
	if len(all[0].Chat.Members) != 2 || all[0].Chat.Title != "g2" || all[0].Chat.Kind != domain.KindGroup {
		t.Fatalf("row chat %+v", all[0].Chat)
	}

	for _, limit := range []int{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint("pages of ", limit), func(t *testing.T) {
			var got []int64
			var cursor *sqlstore.ListCursor
			for pages := 0; pages < 10; pages++ {
				rows, err := st.UserChats(ctx, u.ID, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) > limit {
					t.Fatalf("page of %d rows, limit %d", len(rows), limit)
				}
				for _, r := range rows {
					got = append(got, r.Chat.ID)
				}
				if len(rows) < limit {
					break
				}
				last := rows[len(rows)-1]
				cursor = &sqlstore.ListCursor{UpdatedAt: last.UpdatedAt, ChatID: last.Chat.ID}
			}
			if !reflect.DeepEqual(got, wantOrder) {
				t.Fatalf("paged %v, want %v", got, wantOrder)
			}
		})
	}
}

// historyFixture: chat with messages 10, 20, ... 100 by alternating authors,
// and another chat whose messages must never show up.
func historyFixture(t *testing.T) (st *sqlstore.Store, chat, other domain.Chat, a, b domain.User) {
	st, _ = newStore(t)
	a, b = mustUser(t, st, "ann"), mustUser(t, st, "ben")
	var nop sqlstore.Stage
	chat, _, err := st.CreateDirectChat(t.Context(), a, b, t0, nop)
	if err != nil {
		t.Fatal(err)
	}
	other, err = st.CreateGroupChat(t.Context(), "other", a.ID, group(a), t0, nop)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []domain.Message
	for i := int64(1); i <= 10; i++ {
		author := a
		if i%2 == 0 {
			author = b
		}
		msgs = append(msgs, msg(chat.ID, i*10, author, fmt.Sprint("c", i), t0.Add(time.Duration(i)*time.Second)))
		msgs = append(msgs, msg(other.ID, i*10+5, a, fmt.Sprint("o", i), t0))
	}
	reply := int64(10)
	msgs[2].ReplyToID = &reply // message 20 replies to 10
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{1: 105}, Messages: msgs})
	return st, chat, other, a, b
}

func TestHistory(t *testing.T) {
	t.Parallel()
	st, chat, _, a, b := historyFixture(t)
	tests := []struct {
		name string
		q    sqlstore.HistoryQuery
		want []int64
		more bool
	}{
		{"newest, more exist", sqlstore.HistoryQuery{Limit: 3}, []int64{80, 90, 100}, true},
		{"newest, exactly all", sqlstore.HistoryQuery{Limit: 10}, []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, false},
		{"newest, fewer than limit", sqlstore.HistoryQuery{Limit: 200}, []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, false},
		{"before, more exist", sqlstore.HistoryQuery{Before: 40, Limit: 2}, []int64{20, 30}, true},
		{"before, exactly the rest", sqlstore.HistoryQuery{Before: 30, Limit: 2}, []int64{10, 20}, false},
		{"before a gap", sqlstore.HistoryQuery{Before: 35, Limit: 1}, []int64{30}, true},
		{"before the first", sqlstore.HistoryQuery{Before: 10, Limit: 5}, []int64{}, false},
		{"after, more exist", sqlstore.HistoryQuery{After: 70, Limit: 2}, []int64{80, 90}, true},
		{"after, exactly the rest", sqlstore.HistoryQuery{After: 80, Limit: 2}, []int64{90, 100}, false},
		{"after a gap", sqlstore.HistoryQuery{After: 1, Limit: 1}, []int64{10}, true},
		{"after the last", sqlstore.HistoryQuery{After: 100, Limit: 5}, []int64{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, more, err := st.History(t.Context(), chat.ID, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(msgs); !reflect.DeepEqual(got, tc.want) || more != tc.more {
				t.Fatalf("got %v more=%v, want %v more=%v", got, more, tc.want, tc.more)
			}
			for _, m := range msgs {
				wantAuthor := a
				if m.ID%20 == 0 {
					wantAuthor = b
				}
				if m.Author != wantAuthor || m.ChatID != chat.ID || m.Text != fmt.Sprintf("text %d", m.ID) ||
					m.ClientID != fmt.Sprint("c", m.ID/10) || !m.SentAt.Equal(t0.Add(time.Duration(m.ID/10)*time.Second)) ||
					m.SentAt.Location() != time.UTC {
					t.Fatalf("message %+v does not round-trip", m)
				}
				if (m.ID == 20) != (m.ReplyToID != nil) || m.ReplyToID != nil && *m.ReplyToID != 10 {
					t.Fatalf("message %d reply_to_id %v", m.ID, m.ReplyToID)
				}
			}
		})
	}
	for _, q := range []sqlstore.HistoryQuery{{Before: 5, After: 3, Limit: 1}, {Limit: 0}} {
		if _, _, err := st.History(t.Context(), chat.ID, q); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("History(%+v) err = %v, want ErrInvalid", q, err)
		}
	}
}

func TestMessageLookups(t *testing.T) {
	t.Parallel()
	st, chat, other, a, b := historyFixture(t)
	ctx := t.Context()
	m, err := st.Message(ctx, chat.ID, 30)
	if err != nil || m.ID != 30 || m.Author != a {
		t.Fatalf("Message = %+v, %v", m, err)
	}
	for _, id := range []int64{35, 15, 1000} { // 15 is the other chat's
		if _, err := st.Message(ctx, chat.ID, id); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Message(%d) err = %v, want ErrNotFound", id, err)
		}
	}
	// The pairs' cross product holds (chat, 100), which exists but was not
	// asked for; (chat, 15) and (other, 10) are pairs that do not exist.
	got, err := st.MessagesByID(ctx, []int64{chat.ID, other.ID, chat.ID, other.ID}, []int64{10, 15, 15, 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[10].ChatID != chat.ID || got[10].Text != "text 10" || got[15].ChatID != other.ID || got[15].Author != a {
		t.Fatalf("MessagesByID = %+v; want (chat, 10) and (other, 15) only", got)
	}
	if got, err := st.MessagesByID(ctx, []int64{chat.ID, chat.ID + 1000}, []int64{15, 100}); err != nil || len(got) != 0 {
		t.Fatalf("MessagesByID of mismatched pairs = %+v, %v; want none", got, err)
	}
	if _, err := st.MessagesByID(ctx, []int64{1}, nil); !errors.Is(err, domain.ErrInvalid) {
		t.Fatalf("mismatched lists err = %v", err)
	}
	// Message 30 is ann's, sent with client_id "c3".
	if id, err := st.MessageIDByClientID(ctx, chat.ID, a.ID, "c3"); err != nil || id != 30 {
		t.Fatalf("MessageIDByClientID = %d, %v; want 30", id, err)
	}
	if _, err := st.MessageIDByClientID(ctx, chat.ID, b.ID, "c3"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another author's client_id: %v, want ErrNotFound", err)
	}
}

func TestReadPositionsAndUnread(t *testing.T) {
	t.Parallel()
	st, chat, _, a, b := historyFixture(t)
	ctx := t.Context()
	// The fixture's messages moved each author's position to their newest:
	// ann wrote 90, ben 100.
	steps := []struct {
		name   string
		batch  sqlstore.Batch
		ann    int64
		unread int // ann's unread count from her position
	}{
		{"sending moved the senders' positions", sqlstore.Batch{}, 90, 1},
		{"backwards is a no-op", sqlstore.Batch{Reads: []sqlstore.ReadMove{{chat.ID, a.ID, 40}}}, 90, 1},
		{"forward", sqlstore.Batch{Reads: []sqlstore.ReadMove{{chat.ID, a.ID, 100}}}, 100, 0},
		{"several in one batch keep the highest", sqlstore.Batch{Reads: []sqlstore.ReadMove{
			{chat.ID, a.ID, 95}, {chat.ID, a.ID, 100}, {chat.ID, a.ID, 60}}}, 100, 0},
		{"ben writes twice", sqlstore.Batch{Messages: []domain.Message{
			msg(chat.ID, 110, b, "b110", t0), msg(chat.ID, 120, b, "b120", t0)}}, 100, 2},
		{"ann answers: her position moves to her message", sqlstore.Batch{Messages: []domain.Message{
			msg(chat.ID, 130, a, "a130", t0)}}, 130, 0},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.batch.Progress = sqlstore.Progress{1: uint64(1000 + i)}
			apply(t, st, s.batch)
			pos, err := st.ReadPositions(ctx, a.ID, []int64{chat.ID, chat.ID + 1, chat.ID + 1000})
			if err != nil {
				t.Fatal(err)
			}
			if pos[chat.ID] != s.ann || len(pos) != 3 || pos[chat.ID+1000] != 0 {
				t.Fatalf("positions %v, want ann at %d and 0 elsewhere", pos, s.ann)
			}
			n, err := st.UnreadCount(ctx, chat.ID, a.ID, pos[chat.ID])
			if err != nil || n != s.unread {
				t.Fatalf("unread = %d, %v; want %d", n, err, s.unread)
			}
		})
	}
	if pos, _ := st.ReadPositions(ctx, b.ID, []int64{chat.ID}); pos[chat.ID] != 120 {
		t.Fatalf("ben's position %d, want 120 (his last message)", pos[chat.ID])
	}
	for _, tc := range []struct {
		user, after int64
		want        int
	}{
		{a.ID, 0, 7}, {b.ID, 0, 6}, {a.ID, 50, 5}, {b.ID, 120, 1}, {a.ID, 130, 0},
	} {
		if n, err := st.UnreadCount(ctx, chat.ID, tc.user, tc.after); err != nil || n != tc.want {
			t.Errorf("UnreadCount(user %d after %d) = %d, %v; want %d", tc.user, tc.after, n, err, tc.want)
		}
	}
}

func TestUnreadCountsOfManyChatsAtOnce(t *testing.T) {
	t.Parallel()
	st, chat, other, a, b := historyFixture(t)
	ctx := t.Context()
	// other: ben's 5 and 6, ann's 7 besides her 15, 25, ... 105.
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 2000}, Messages: []domain.Message{
		msg(other.ID, 5, b, "x5", t0), msg(other.ID, 6, b, "x6", t0), msg(other.ID, 7, a, "x7", t0)}})
	for _, tc := range []struct {
		name  string
		user  int64
		after map[int64]int64
		want  map[int64]int
	}{
		{"ann from the start", a.ID, map[int64]int64{chat.ID: 0, other.ID: 0}, map[int64]int{chat.ID: 5, other.ID: 2}},
		{"ann part way", a.ID, map[int64]int64{chat.ID: 50, other.ID: 5}, map[int64]int{chat.ID: 3, other.ID: 1}},
		{"ben: nothing unread in one, a chat without messages", b.ID, map[int64]int64{chat.ID: 100, other.ID: 0, other.ID + 1000: 0},
			map[int64]int{chat.ID: 0, other.ID: 11, other.ID + 1000: 0}},
		{"no chats", a.ID, map[int64]int64{}, map[int64]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.UnreadCounts(ctx, tc.user, tc.after)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("UnreadCounts = %v, %v; want %v", got, err, tc.want)
			}
			for c, after := range tc.after {
				if n, _ := st.UnreadCount(ctx, c, tc.user, after); n != got[c] {
					t.Fatalf("chat %d: %d at once, %d alone", c, got[c], n)
				}
			}
		})
	}
}

// dump renders every projected row, to compare states.
func dump(t *testing.T, raw *sql.DB) string {
	t.Helper()
	var sb strings.Builder
	for _, q := range []string{
		"SELECT chat_id, id, author_id, client_id, text, COALESCE(reply_to_id, -1), sent_at FROM messages ORDER BY chat_id, id",
		"SELECT chat_id, user_id, message_id FROM read_positions ORDER BY chat_id, user_id",
		"SELECT id, last_message_id, updated_at FROM chats ORDER BY id",
		"SELECT partition_id, last_seq, updated_at FROM persister_progress ORDER BY partition_id",
	} {
		rows, err := raw.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sb, "%v\n", vals)
		}
		rows.Close()
		sb.WriteString("--\n")
	}
	return sb.String()
}

func TestApplyBatchIsIdempotent(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	ctx := t.Context()
	a, b := mustUser(t, st, "a"), mustUser(t, st, "b")
	var nop sqlstore.Stage
	c1, _, _ := st.CreateDirectChat(ctx, a, b, t0, nop)
	c2, _ := st.CreateGroupChat(ctx, "g", a.ID, group(a, b), t0, nop)
	batch := sqlstore.Batch{Progress: sqlstore.Progress{3: 12}, Messages: []domain.Message{
		msg(c1.ID, 5, a, "k5", t0.Add(5*time.Second)),
		msg(c2.ID, 6, b, "k6", t0.Add(6*time.Second)),
		msg(c1.ID, 7, b, "k7", t0.Add(7*time.Second)),
		// The same send twice in one batch under two ids: one row.
		msg(c1.ID, 8, a, "k8", t0.Add(8*time.Second)),
		msg(c1.ID, 11, a, "k8", t0.Add(11*time.Second)),
	}, Reads: []sqlstore.ReadMove{{c2.ID, a.ID, 6}}}
	apply(t, st, batch)
	first := dump(t, raw)

	// Let the clock move on, so that a write of "now" would show.
	for tick := time.Now().Truncate(time.Millisecond); !time.Now().Truncate(time.Millisecond).After(tick); {
	}
	apply(t, st, batch)
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{3: 12}, Messages: batch.Messages[2:]})
	if again := dump(t, raw); again != first {
		t.Fatalf("a replay changed rows:\nfirst:\n%s\nafter:\n%s", first, again)
	}

	var n int
	raw.QueryRow("SELECT COUNT(*) FROM messages WHERE chat_id = ? AND author_id = ? AND client_id = 'k8'", c1.ID, a.ID).Scan(&n)
	if n != 1 {
		t.Fatalf("%d rows for client_id k8, want 1", n)
	}
	if _, err := st.Message(ctx, c1.ID, 11); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("the duplicate send is stored as message 11 (err %v)", err)
	}
	rows, _ := st.UserChats(ctx, a.ID, nil, 10)
	heads := map[int64]sqlstore.ChatRow{}
	for _, r := range rows {
		heads[r.Chat.ID] = r
	}
	if h := heads[c1.ID]; h.LastMessageID != 8 || !h.UpdatedAt.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("chat 1 head %d at %v, want 8 at +8s (the dropped duplicate is not the last message)", h.LastMessageID, h.UpdatedAt)
	}
	if h := heads[c2.ID]; h.LastMessageID != 6 || !h.UpdatedAt.Equal(t0.Add(6*time.Second)) {
		t.Fatalf("chat 2 head %d at %v", h.LastMessageID, h.UpdatedAt)
	}
	if pos, _ := st.ReadPositions(ctx, a.ID, []int64{c1.ID, c2.ID}); pos[c1.ID] != 8 || pos[c2.ID] != 6 {
		t.Fatalf("a's positions %v, want 8 (not the dropped 11) and 6", pos)
	}

	t.Run("a retry past the duplicate window stores nothing new", func(t *testing.T) {
		apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{3: 30}, Messages: []domain.Message{
			msg(c1.ID, 20, b, "k20", t0.Add(20*time.Second)),
			msg(c1.ID, 25, a, "k5", t0.Add(25*time.Second)), // a's first send again, new id
		}})
		if _, err := st.Message(ctx, c1.ID, 25); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("retried send stored again as 25 (err %v)", err)
		}
		msgs, _, _ := st.History(ctx, c1.ID, sqlstore.HistoryQuery{Limit: 50})
		if got := ids(msgs); !reflect.DeepEqual(got, []int64{5, 7, 8, 20}) {
			t.Fatalf("history %v", got)
		}
		if pos, _ := st.ReadPositions(ctx, a.ID, []int64{c1.ID}); pos[c1.ID] != 8 {
			t.Fatalf("a's position %d, want still 8: the retry must not mark b's 20 as read", pos[c1.ID])
		}
		if rows, _ := st.UserChats(ctx, a.ID, nil, 1); rows[0].LastMessageID != 20 {
			t.Fatalf("last message %d, want 20", rows[0].LastMessageID)
		}
	})

	t.Run("an id another message holds is a conflict, not a silent drop", func(t *testing.T) {
		before := dump(t, raw)
		// Id 7 of chat 1 is b's k7; this is another send under the same id,
		// as after a stream recreated empty over this database.
		err := st.ApplyBatch(ctx, sqlstore.Batch{Progress: sqlstore.Progress{3: 40}, Messages: []domain.Message{
			msg(c1.ID, 7, a, "other", t0.Add(40*time.Second))}})
		var conflict *sqlstore.IDConflictError
		if !errors.As(err, &conflict) || conflict.ChatID != c1.ID || conflict.ID != 7 {
			t.Fatalf("err %v, want an IDConflictError for message 7 of chat %d", err, c1.ID)
		}
		if after := dump(t, raw); after != before {
			t.Fatalf("a conflicting batch changed rows:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("an older batch moves nothing back", func(t *testing.T) {
		before := dump(t, raw)
		apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{3: 4}, Messages: []domain.Message{
			msg(c1.ID, 3, b, "k3", t0.Add(time.Hour))}, Reads: []sqlstore.ReadMove{{c1.ID, a.ID, 1}}})
		rows, _ := st.UserChats(ctx, a.ID, nil, 10)
		for _, r := range rows {
			if r.Chat.ID == c1.ID && (r.LastMessageID != 20 || !r.UpdatedAt.Equal(t0.Add(20*time.Second))) {
				t.Fatalf("chat head moved back to %d at %v", r.LastMessageID, r.UpdatedAt)
			}
		}
		if pos, _ := st.ReadPositions(ctx, a.ID, []int64{c1.ID}); pos[c1.ID] != 8 {
			t.Fatalf("position moved back to %d", pos[c1.ID])
		}
		after := dump(t, raw)
		// Only the late message itself is new.
		if strings.Count(after, "\n") != strings.Count(before, "\n")+1 {
			t.Fatalf("rows before:\n%s\nafter:\n%s", before, after)
		}
	})
}

func TestProgress(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	steps := []struct {
		name     string
		progress sqlstore.Progress
		want     map[int]uint64
	}{
		{"p3 to 500", sqlstore.Progress{3: 500}, map[int]uint64{3: 500}},
		{"p3 to 400", sqlstore.Progress{3: 400}, map[int]uint64{3: 500}}, // never backwards
		{"p4 to 10", sqlstore.Progress{4: 10}, map[int]uint64{3: 500, 4: 10}},
		{"p3 to 501", sqlstore.Progress{3: 501}, map[int]uint64{3: 501, 4: 10}},
		// One batch over several partitions (the runtime combines them):
		// each moves on its own, and never backwards.
		{"p3 to 490, p4 to 20, p7 to 5", sqlstore.Progress{3: 490, 4: 20, 7: 5}, map[int]uint64{3: 501, 4: 20, 7: 5}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			apply(t, st, sqlstore.Batch{Progress: s.progress})
			got, err := st.Progress(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, map[string]map[int]uint64{"main": s.want}) {
				t.Fatalf("progress %v, want main: %v", got, s.want)
			}
		})
	}
}

func TestApplyBatchRejectsWhatWouldNotFit(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	u := domain.User{ID: 1, Name: "u"}
	good := msg(1, 1, u, "ok", t0)
	bad := func(f func(m *domain.Message)) domain.Message { m := good; f(&m); return m }
	zero := int64(0)
	tests := map[string]domain.Message{
		"no author":              bad(func(m *domain.Message) { m.Author.ID = 0 }),
		"no id":                  bad(func(m *domain.Message) { m.ID = 0 }),
		"long client id":         bad(func(m *domain.Message) { m.ClientID = strings.Repeat("x", 65) }),
		"client id with a space": bad(func(m *domain.Message) { m.ClientID = "a b" }),
		"empty text":             bad(func(m *domain.Message) { m.Text = "" }),
		"long text":              bad(func(m *domain.Message) { m.Text = strings.Repeat("é", domain.MaxTextRunes+1) }),
		"invalid UTF-8":          bad(func(m *domain.Message) { m.Text = "\xff" }),
		"no time":                bad(func(m *domain.Message) { m.SentAt = time.Time{} }),
		"reply to zero":          bad(func(m *domain.Message) { m.ReplyToID = &zero }),
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			err := st.ApplyBatch(t.Context(), sqlstore.Batch{Progress: sqlstore.Progress{0: 9}, Messages: []domain.Message{good, m}})
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if sqlstore.ValidateMessage(m) == nil {
				t.Fatal("ValidateMessage accepts it")
			}
			var n int
			raw.QueryRow("SELECT COUNT(*) FROM messages").Scan(&n)
			if n != 0 {
				t.Fatalf("%d messages stored from a rejected batch", n)
			}
		})
	}
	if err := sqlstore.ValidateMessage(bad(func(m *domain.Message) { m.Text = strings.Repeat("é", domain.MaxTextRunes) })); err != nil {
		t.Fatalf("a text of exactly the maximum is rejected: %v", err)
	}
}

// A message created and deleted in one batch leaves the chat as the two
// events applied one at a time do: updated_at at the deleted message's time
// (its creation moved it, its delete leaves it: API.md 1.1), the last
// message the newest one left. `ingest verify` found the batch that held
// both leaving updated_at at the older message's time.
func TestDeleteOfTheNewestMessageDoesNotDependOnBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var nop sqlstore.Stage
	chatRow := func(raw *sql.DB, id int64) string {
		var last int64
		var updated time.Time
		if err := raw.QueryRow("SELECT last_message_id, updated_at FROM chats WHERE id = ?", id).Scan(&last, &updated); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("last %d updated %s", last, updated.UTC().Format(time.RFC3339Nano))
	}
	var got []string
	for _, split := range []bool{false, true} {
		st, raw := newStore(t)
		a, b := mustUser(t, st, "a"), mustUser(t, st, "b")
		c, _ := st.CreateGroupChat(ctx, "g", a.ID, group(a, b), t0, nop)
		m5, m6 := msg(c.ID, 5, a, "k5", t0.Add(5*time.Second)), msg(c.ID, 6, b, "k6", t0.Add(6*time.Second))
		del := sqlstore.MessageDelete{ChatID: c.ID, ID: 6, AuthorID: b.ID, ClientID: "k6", SentAt: m6.SentAt, At: t0.Add(9 * time.Second)}
		if split {
			apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 6}, Messages: []domain.Message{m5, m6}})
			apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 7}, Deletes: []sqlstore.MessageDelete{del}})
		} else {
			apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 7}, Messages: []domain.Message{m5, m6}, Deletes: []sqlstore.MessageDelete{del}})
		}
		// And a replay of the whole over it changes nothing.
		before := chatRow(raw, c.ID)
		apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 7}, Messages: []domain.Message{m5, m6}, Deletes: []sqlstore.MessageDelete{del}})
		if after := chatRow(raw, c.ID); after != before {
			t.Errorf("split %v: a replay moved the chat from %s to %s", split, before, after)
		}
		got = append(got, before)
	}
	want := fmt.Sprintf("last 5 updated %s", t0.Add(6*time.Second).UTC().Format(time.RFC3339Nano))
	if got[0] != want || got[1] != want {
		t.Errorf("one batch: %s; two batches: %s; want both %s", got[0], got[1], want)
	}
}

// Edits apply in sequence order whatever order they come in, several in one
// batch too, and never to a deleted message; a replayed creation after its
// delete brings nothing back.
func TestEditsAndDeletesInAnyOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, _ := newStore(t)
	a, b := mustUser(t, st, "a"), mustUser(t, st, "b")
	c, _ := st.CreateGroupChat(ctx, "g", a.ID, group(a, b), t0, nil)
	m1, m2 := msg(c.ID, 1, a, "k1", t0.Add(time.Second)), msg(c.ID, 2, a, "k2", t0.Add(2*time.Second))
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 2}, Messages: []domain.Message{m1, m2}})
	edit := func(id int64, seq uint64, text string) sqlstore.MessageEdit {
		return sqlstore.MessageEdit{ChatID: c.ID, ID: id, Text: text, EditedAt: t0.Add(time.Duration(seq) * time.Second), Seq: seq}
	}
	// The newer edit first, the older one after (a redelivery out of order).
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 20}, Edits: []sqlstore.MessageEdit{edit(1, 20, "second"), edit(2, 12, "m2 edited")}})
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 20}, Edits: []sqlstore.MessageEdit{edit(1, 10, "first"), edit(1, 11, "first again")}})
	got, err := st.Message(ctx, c.ID, 1)
	if err != nil || got.Text != "second" || got.EditedAt == nil || !got.EditedAt.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("after edits out of order: %+v %v", got, err)
	}
	if got, err := st.Message(ctx, c.ID, 2); err != nil || got.Text != "m2 edited" {
		t.Fatalf("the other message edited in the same batch: %+v %v", got, err)
	}
	// Many edits of many messages in one batch: each gets its own text.
	var many []domain.Message
	var edits []sqlstore.MessageEdit
	for i := int64(100); i < 130; i++ {
		many = append(many, msg(c.ID, i, b, fmt.Sprint("k", i), t0.Add(time.Duration(i)*time.Second)))
		edits = append(edits, edit(i, uint64(i+100), fmt.Sprintf("edited %d %s", i, strings.Repeat("x", int(i%7)*40))))
	}
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 130}, Messages: many})
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 230}, Edits: edits})
	for _, e := range edits {
		if got, err := st.Message(ctx, c.ID, e.ID); err != nil || got.Text != e.Text {
			t.Fatalf("message %d after a batch of edits: %q %v, want %q", e.ID, got.Text, err, e.Text)
		}
	}
	// Deleted: no edit, older or newer, and no replayed creation brings it back.
	del := sqlstore.MessageDelete{ChatID: c.ID, ID: 2, AuthorID: a.ID, ClientID: "k2", SentAt: m2.SentAt, At: t0.Add(30 * time.Second)}
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 30}, Deletes: []sqlstore.MessageDelete{del}})
	apply(t, st, sqlstore.Batch{Progress: sqlstore.Progress{0: 31}, Messages: []domain.Message{m2}, Edits: []sqlstore.MessageEdit{edit(2, 31, "back?")}})
	if got, err := st.Message(ctx, c.ID, 2); err != nil || !got.Deleted || got.Text != "" {
		t.Fatalf("a deleted message after a replay and an edit: %+v %v", got, err)
	}
	page, _, err := st.History(ctx, c.ID, sqlstore.HistoryQuery{Limit: 200})
	if err != nil || len(page) != 31 || page[0].ID != 1 || page[1].ID != 100 {
		t.Fatalf("history after the delete: %d messages from %d, %v", len(page), page[0].ID, err)
	}
}

// Every staged change of a chat counts one version, in commit order, and the
// chat handed to the event carries it; a change that changes nothing stages
// nothing and counts nothing. A rename counts in each of the user's chats.
func TestChatVersionsCountStagedChanges(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	ctx := t.Context()
	a, b, c := mustUser(t, st, "va"), mustUser(t, st, "vb"), mustUser(t, st, "vc")
	rec := &recorder{}
	chat, err := st.CreateGroupChat(ctx, "versions", a.ID, []domain.Member{{User: a, Role: domain.RoleAdmin}, {User: b, Role: domain.RoleMember}}, t0, rec.stage)
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { _, _, err := st.AddMember(ctx, chat.ID, c, domain.RoleMember, t0, rec.stage); return err },
		func() error { _, _, err := st.SetTitle(ctx, chat.ID, "renamed", nil, rec.stage); return err },
		func() error { _, _, err := st.SetTitle(ctx, chat.ID, "renamed", nil, rec.stage); return err }, // no change
		func() error {
			_, _, err := st.SetRole(ctx, chat.ID, b.ID, domain.RoleModerator, nil, rec.stage)
			return err
		},
		func() error { return st.RemoveMember(ctx, chat.ID, c.ID, nil, rec.stage) },
		func() error {
			_, _, err := st.UpdateUser(ctx, b.ID, "vb2", nil, func(domain.User) sqlstore.Stage { return rec.stage })
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	var versions []int64
	for _, staged := range rec.chats {
		versions = append(versions, staged.Version)
	}
	if want := []int64{1, 2, 3, 4, 5, 6}; !reflect.DeepEqual(versions, want) {
		t.Fatalf("staged versions %v, want %v", versions, want)
	}
	if got, err := st.Chat(ctx, chat.ID); err != nil || got.Version != 6 {
		t.Fatalf("the chat's version is %d (%v), want 6", got.Version, err)
	}
}
