package sqlstore

import (
	"errors"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/testkit"
)

// Users registered before the skeleton column existed may include
// look-alikes: the migration keeps every account and blocks new look-alikes
// of all of them.
func TestNameSkeletonMigrationBackfillsExistingLookAlikes(t *testing.T) {
	t.Parallel()
	st, err := Open(t.Context(), testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := newProvider(st.main)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	at := dbTime(time.Now())
	for _, name := range []string{"alice", "\u0430lice", "bob"} { // the second has a Cyrillic а
		if _, err := st.main.ExecContext(t.Context(),
			"INSERT INTO users (name, name_key, password_hash, created_at) VALUES (?, ?, 'x', ?)", name, nameKey(name), at); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate over existing look-alikes: %v", err)
	}
	var n int
	if err := st.main.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM users WHERE name_skeleton IS NOT NULL").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d users with a skeleton (err %v), want all 3", n, err)
	}
	for _, name := range []string{"ALICE", "\u0430LICE", "B\u043eB"} { // Cyrillic а, Cyrillic о
		if _, err := st.CreateUser(t.Context(), name, []byte("x"), time.Now()); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("register %q after the migration: %v, want a conflict", name, err)
		}
	}
	if _, err := st.CreateUser(t.Context(), "carol", []byte("x"), time.Now()); err != nil {
		t.Fatalf("a new distinct name: %v", err)
	}
}
