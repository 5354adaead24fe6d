package sqlstore_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

func TestDrainOutbox(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	ctx := t.Context()
	a, b, c := mustUser(t, st, "a"), mustUser(t, st, "b"), mustUser(t, st, "c")

	if pending, err := st.OutboxPending(ctx); err != nil || pending {
		t.Fatalf("pending = %v, %v on an empty outbox", pending, err)
	}
	// Three changes, the last two of one chat: four staged events.
	rec := &recorder{}
	g, err := st.CreateGroupChat(ctx, "g", a.ID, group(a, b), t0, rec.stage)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateDirectChat(ctx, a, c, t0, rec.stage); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddMember(ctx, g.ID, c, domain.RoleMember, t0, rec.stage); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveMember(ctx, g.ID, b.ID, nil, rec.stage); err != nil {
		t.Fatal(err)
	}
	want := staged(t, raw)
	if len(want) != 4 {
		t.Fatalf("outbox %q, want 4 rows", want)
	}
	if pending, err := st.OutboxPending(ctx); err != nil || !pending {
		t.Fatalf("pending = %v, %v with 4 rows", pending, err)
	}

	var got []string
	var ids []int64
	publish := func(failAt int) func(context.Context, sqlstore.OutboxRow) error {
		return func(_ context.Context, r sqlstore.OutboxRow) error {
			if len(got) == failAt {
				return errors.New("log down")
			}
			got = append(got, r.Subject+" "+r.MsgID+" "+string(r.Payload))
			ids = append(ids, r.ID)
			return nil
		}
	}

	t.Run("a failed publish stops the drain there and keeps the rest", func(t *testing.T) {
		n, err := st.DrainOutbox(ctx, time.Second, publish(2))
		if err == nil || n != 2 {
			t.Fatalf("published %d, err %v; want 2 and the publish error", n, err)
		}
		if left := staged(t, raw); !reflect.DeepEqual(left, want[2:]) {
			t.Fatalf("left %q, want %q", left, want[2:])
		}
	})

	t.Run("the next drain goes on from the failed row, in id order", func(t *testing.T) {
		n, err := st.DrainOutbox(ctx, time.Second, publish(-1))
		if err != nil || n != 2 {
			t.Fatalf("published %d, err %v; want 2", n, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("published %q, want %q", got, want)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("ids %v not increasing", ids)
			}
		}
		if left := staged(t, raw); len(left) != 0 {
			t.Fatalf("left %q after a full drain", left)
		}
		if pending, err := st.OutboxPending(ctx); err != nil || pending {
			t.Fatalf("pending = %v, %v after a full drain", pending, err)
		}
	})

	t.Run("one drainer at a time", func(t *testing.T) {
		if _, _, err := st.AddMember(ctx, g.ID, b, domain.RoleMember, t0, rec.stage); err != nil {
			t.Fatal(err)
		}
		// Another process holding the lock, on a session of its own.
		holder, err := raw.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var locked int
		if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT('logchat_outbox_', MD5(DATABASE())), 0)").Scan(&locked); err != nil || locked != 1 {
			t.Fatalf("take the lock: %d %v", locked, err)
		}
		calls := 0
		count := func(context.Context, sqlstore.OutboxRow) error { calls++; return nil }
		if _, err := st.DrainOutbox(ctx, 0, count); !errors.Is(err, sqlstore.ErrOutboxBusy) || calls != 0 {
			t.Fatalf("err %v after %d publishes, want ErrOutboxBusy and none", err, calls)
		}
		// A holder that dies releases the lock with its session.
		// ErrBadConn makes database/sql close the session instead of pooling it.
		_ = holder.Raw(func(any) error { return driver.ErrBadConn })
		holder.Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := st.DrainOutbox(ctx, time.Second, count)
			if err == nil && n == 1 {
				break
			}
			if !errors.Is(err, sqlstore.ErrOutboxBusy) || time.Now().After(deadline) {
				t.Fatalf("drain after the holder died: %d, %v", n, err)
			}
		}
	})
}

// A change whose transaction fails after its event was staged leaves neither
// the change nor the event: here a trigger makes the outbox insert fail.
func TestStagedEventRollsBackWithItsChange(t *testing.T) {
	t.Parallel()
	st, raw := newStore(t)
	ctx := t.Context()
	a, b := mustUser(t, st, "a"), mustUser(t, st, "b")
	g, err := st.CreateGroupChat(ctx, "g", a.ID, group(a), t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TRIGGER outbox_fails AFTER INSERT ON outbox FOR EACH ROW
		SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'outbox refused'`); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if _, _, err := st.CreateDirectChat(ctx, a, b, t0, rec.stage); err == nil {
		t.Fatal("direct chat created although its event could not be staged")
	}
	if _, err := st.CreateGroupChat(ctx, "h", a.ID, group(a, b), t0, rec.stage); err == nil {
		t.Fatal("group created although its event could not be staged")
	}
	if _, _, err := st.AddMember(ctx, g.ID, b, domain.RoleMember, t0, rec.stage); err == nil {
		t.Fatal("member added although the event could not be staged")
	}
	if rec.calls() != 3 {
		t.Fatalf("staged %d events, want 3 attempts", rec.calls())
	}
	var chats, members, outbox int
	raw.QueryRow("SELECT COUNT(*) FROM chats").Scan(&chats)
	raw.QueryRow("SELECT COUNT(*) FROM chat_members").Scan(&members)
	raw.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&outbox)
	if chats != 1 || members != 1 || outbox != 0 {
		t.Fatalf("%d chats, %d members, %d outbox rows; want only the first group and its admin", chats, members, outbox)
	}
}
