package sqlstore

import (
	"testing"

	"github.com/logchat/testkit"
)

// The persister's pool is READ COMMITTED for every session, on every
// connection it opens (not only the first), so its batches skip the SET.
func TestProjectionSessionsAreReadCommitted(t *testing.T) {
	st, err := OpenProjection(t.Context(), testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plain, err := Open(t.Context(), testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	level := func(s *Store) string {
		t.Helper()
		var l string
		// MariaDB before 11.1 names it tx_isolation; MySQL 8 only transaction_isolation.
		if err := s.main.QueryRowContext(t.Context(), "SELECT @@SESSION.tx_isolation").Scan(&l); err != nil {
			if err := s.main.QueryRowContext(t.Context(), "SELECT @@SESSION.transaction_isolation").Scan(&l); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	// Two connections at once: the second is a new one.
	conn, err := st.main.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := level(st); got != "READ-COMMITTED" {
		t.Fatalf("projection session: %s", got)
	}
	if got := level(plain); got == "READ-COMMITTED" {
		t.Fatal("a plain store's sessions must keep the server's default level")
	}
	if !st.readCommitted || plain.readCommitted {
		t.Fatal("readCommitted must say which store skips the per-transaction SET")
	}
}
