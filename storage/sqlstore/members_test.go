package sqlstore_test

import (
	"errors"
	"testing"

	"github.com/logchat/shared/domain"
)

// A group larger than one multi-row INSERT (1,000 rows) is written whole,
// in several statements of one transaction.
func TestLargeGroupIsInsertedInChunks(t *testing.T) {
	st, raw := newStore(t)
	admin := mustUser(t, st, "admin")
	members := []domain.Member{{User: admin, Role: domain.RoleAdmin}}
	// chat_members has no foreign key to users: ids are enough here.
	for i := range 2500 {
		members = append(members, domain.Member{User: domain.User{ID: int64(1_000_000 + i)}, Role: domain.RoleMember})
	}
	chat, err := st.CreateGroupChat(t.Context(), "crowd", admin.ID, members, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRow("SELECT COUNT(*) FROM chat_members WHERE chat_id = ?", chat.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(members) || len(chat.Members) != len(members) {
		t.Fatalf("%d rows, %d in the answer, want %d", n, len(chat.Members), len(members))
	}
}

// AddMemberUpTo refuses a member beyond the cap (conflict, nothing staged),
// and answers a member already in a full chat as AddMember does.
func TestAddMemberUpToCap(t *testing.T) {
	st, _ := newStore(t)
	a, b, c := mustUser(t, st, "a"), mustUser(t, st, "b"), mustUser(t, st, "c")
	g, err := st.CreateGroupChat(t.Context(), "g", a.ID, group(a, b), t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if _, _, err := st.AddMemberUpTo(t.Context(), g.ID, c, domain.RoleMember, t0, 2, rec.stage); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("adding a third member to a chat of at most 2: %v", err)
	}
	if _, added, err := st.AddMemberUpTo(t.Context(), g.ID, b, domain.RoleMember, t0, 2, rec.stage); err != nil || added {
		t.Fatalf("adding a member again to a full chat: added %v, %v", added, err)
	}
	if rec.calls() != 0 {
		t.Fatal("a refused or empty addition staged an event")
	}
	chat, added, err := st.AddMemberUpTo(t.Context(), g.ID, c, domain.RoleMember, t0, 3, rec.stage)
	if err != nil || !added || len(chat.Members) != 3 || rec.calls() != 1 {
		t.Fatalf("under the cap: added %v, %d members, %d staged, %v", added, len(chat.Members), rec.calls(), err)
	}
}
