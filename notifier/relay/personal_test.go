package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/centrifugal/gocent/v3"

	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/updates"
	"github.com/logchat/testkit"
)

// streamRelay is a relay with update streams over a Redis prefix of the
// test's own, and an API client to read channel histories.
type streamRelay struct {
	r      *relay.Relay
	store  *updates.Store
	api    *gocent.Client
	loaded map[int64]int // chats the members loader was asked for
}

type fakeLoader struct {
	chats map[int64]domain.Chat
	asked map[int64]int
}

func (fakeLoader) Ping(context.Context) error { return nil }

func (f fakeLoader) Chat(_ context.Context, id int64) (domain.Chat, error) {
	f.asked[id]++
	if c, ok := f.chats[id]; ok {
		return c, nil
	}
	return domain.Chat{}, domain.ErrNotFound
}

func newStreamRelay(t *testing.T, known map[int64]domain.Chat) *streamRelay {
	c := testkit.StartCentrifugo(t)
	rdb, prefix := testkit.Redis(t)
	store := updates.New(rdb, prefix, 0, 0)
	loader := fakeLoader{chats: known, asked: map[int64]int{}}
	r := relay.New(relay.Config{APIURL: c.URL + "/api", APIKey: c.APIKey, Updates: store, Members: loader}, quiet, nil)
	return &streamRelay{r: r, store: store, api: gocent.New(gocent.Config{Addr: c.URL + "/api", Key: c.APIKey}), loaded: loader.asked}
}

// personal is a user's personal channel history as (cursor, type, body).
type personalPub struct {
	Cursor string
	Type   string
	Raw    string
}

func (s *streamRelay) personal(t *testing.T, uid int64) []personalPub {
	t.Helper()
	h, err := s.api.History(context.Background(), domain.PersonalChannel(uid), gocent.WithLimit(1000))
	if err != nil {
		t.Fatal(err)
	}
	var out []personalPub
	for _, p := range h.Publications {
		var head struct {
			Cursor string `json:"cursor"`
			Type   string `json:"type"`
		}
		if err := json.Unmarshal(p.Data, &head); err != nil {
			t.Fatal(err)
		}
		out = append(out, personalPub{head.Cursor, head.Type, string(p.Data)})
	}
	return out
}

func member(u domain.User, r domain.Role) domain.Member { return domain.Member{User: u, Role: r} }

func group(id int64, members ...domain.Member) domain.Chat {
	return domain.Chat{ID: id, Kind: domain.KindGroup, Title: "g", Members: members}
}

// Every member of a chat gets each message on their personal channel, with
// a cursor numbering their own updates, and the streams hold what the
// channels got. A batch delivered again (its ack was lost) is published
// again, as on chat channels, but with the same cursors: clients drop what
// is not after their cursor.
func TestMessagesReachEveryMembersPersonalChannelWithCursors(t *testing.T) {
	s := newStreamRelay(t, nil)
	chat := group(42, member(alice, domain.RoleAdmin), member(bob, domain.RoleMember))
	created := ev(t, 1, event.ChatCreated, 42, event.ChatCreatedData{Chat: chat})
	m1, m2 := msg(t, 2, 42, "one"), msg(t, 3, 42, "two")
	handle(t, s.r, created, m1)
	handle(t, s.r, created, m1, m2) // a redelivery with one new event

	for _, u := range []domain.User{alice, bob} {
		all := s.personal(t, u.ID)
		var got []personalPub
		byCursor := map[string]string{}
		for _, p := range all {
			if prev, ok := byCursor[p.Cursor]; ok {
				if prev != p.Raw {
					t.Fatalf("%s: cursor %s published as %s and as %s", u.Name, p.Cursor, prev, p.Raw)
				}
				continue
			}
			byCursor[p.Cursor] = p.Raw
			got = append(got, p)
		}
		if len(got) != 3 {
			t.Fatalf("%s's personal channel holds %d publications, want 3: %v", u.Name, len(got), got)
		}
		for i, want := range []string{"chat.added", "message.created", "message.created"} {
			if got[i].Type != want || !strings.HasPrefix(got[i].Cursor, fmt.Sprintf("%d.", i+1)) {
				t.Fatalf("%s's publication %d = %s, want %s with cursor %d.…", u.Name, i, got[i].Raw, want, i+1)
			}
		}
		cur, err := s.store.Current(t.Context(), u.ID)
		if err != nil || cur.N != 3 {
			t.Fatalf("%s's stream is at %v (%v), want 3 updates", u.Name, cur, err)
		}
		page, err := s.store.After(t.Context(), u.ID, updates.Cursor{Stream: cur.Stream}, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range page.Updates {
			if string(raw) != got[i].Raw {
				t.Fatalf("%s's update %d is %s in the stream but %s on the channel", u.Name, i+1, raw, got[i].Raw)
			}
		}
	}
	if got := s.personal(t, carol.ID); len(got) != 0 {
		t.Fatalf("a non-member got %v", got)
	}
}

// A newcomer gets chat.added, the others member.added; a removed member
// gets chat.removed and nothing after it, the others member.removed.
func TestMembershipChangesReachTheRightPeople(t *testing.T) {
	s := newStreamRelay(t, nil)
	chat := group(42, member(alice, domain.RoleAdmin), member(bob, domain.RoleMember))
	after := group(42, member(alice, domain.RoleAdmin), member(bob, domain.RoleMember), member(carol, domain.RoleMember))
	handle(t, s.r,
		ev(t, 1, event.ChatCreated, 42, event.ChatCreatedData{Chat: chat}),
		ev(t, 2, event.MemberAdded, 42, event.MemberAddedData{Member: member(carol, domain.RoleMember), Chat: after}),
		ev(t, 3, event.MemberRemoved, 42, event.MemberRemovedData{UserID: bob.ID, MembersCount: 2}),
		msg(t, 4, 42, "afterbobleft"),
	)
	types := func(u domain.User) string {
		var ts []string
		for _, p := range s.personal(t, u.ID) {
			ts = append(ts, p.Type)
		}
		return strings.Join(ts, " ")
	}
	for u, want := range map[domain.User]string{
		alice: "chat.added member.added member.removed message.created",
		bob:   "chat.added member.added chat.removed",
		carol: "chat.added member.removed message.created",
	} {
		if got := types(u); got != want {
			t.Errorf("%s got %q, want %q", u.Name, got, want)
		}
	}
}

// Read receipts reach every member of a small chat, only the reader in a
// big one.
func TestReadsReachMembersOfSmallChatsOnly(t *testing.T) {
	s := newStreamRelay(t, nil)
	small := group(1, member(alice, domain.RoleAdmin), member(bob, domain.RoleMember))
	bigMembers := []domain.Member{member(alice, domain.RoleAdmin), member(bob, domain.RoleMember)}
	for i := range relay.ReadReceiptsMaxMembers {
		bigMembers = append(bigMembers, member(domain.User{ID: int64(1000 + i), Name: fmt.Sprint("u", i)}, domain.RoleMember))
	}
	handle(t, s.r,
		ev(t, 1, event.ChatCreated, 1, event.ChatCreatedData{Chat: small}),
		ev(t, 2, event.ChatCreated, 2, event.ChatCreatedData{Chat: group(2, bigMembers...)}),
		ev(t, 3, event.ReadMoved, 1, event.ReadMovedData{UserID: bob.ID, MessageID: 1}),
		ev(t, 4, event.ReadMoved, 2, event.ReadMovedData{UserID: bob.ID, MessageID: 1}),
	)
	count := func(u domain.User, chat int64) int {
		n := 0
		for _, p := range s.personal(t, u.ID) {
			if p.Type == "read.updated" && strings.Contains(p.Raw, fmt.Sprintf(`"chat_id":%d,`, chat)) {
				n++
			}
		}
		return n
	}
	if count(alice, 1) != 1 || count(bob, 1) != 1 {
		t.Fatalf("small chat: alice got %d, bob %d read.updated; want 1 each", count(alice, 1), count(bob, 1))
	}
	if count(alice, 2) != 0 || count(bob, 2) != 1 {
		t.Fatalf("big chat: alice got %d, bob %d read.updated; want 0 and 1", count(alice, 2), count(bob, 2))
	}
}

// A chat the streams never saw (created before they existed, or Redis lost)
// has its members loaded from the database once.
func TestMembersOfAnUnknownChatAreLoadedOnce(t *testing.T) {
	s := newStreamRelay(t, map[int64]domain.Chat{42: group(42, member(alice, domain.RoleAdmin), member(bob, domain.RoleMember))})
	handle(t, s.r, msg(t, 10, 42, "one"))
	handle(t, s.r, msg(t, 11, 42, "two"))
	for _, u := range []domain.User{alice, bob} {
		if got := s.personal(t, u.ID); len(got) != 2 {
			t.Fatalf("%s got %d publications, want 2", u.Name, len(got))
		}
	}
	if s.loaded[42] != 1 {
		t.Fatalf("the loader was asked %d times for chat 42, want 1", s.loaded[42])
	}
}

// A batch whose fan-out is bigger than one part (a big group, several
// messages) goes out in parts, and every member still gets every update
// once, in order.
func TestABigFanoutGoesOutInParts(t *testing.T) {
	s := newStreamRelay(t, nil)
	const n = 2600 // × 3 messages: more than one part
	members := make([]domain.Member, n)
	for i := range members {
		members[i] = member(domain.User{ID: int64(100 + i), Name: fmt.Sprint("m", i)}, domain.RoleMember)
	}
	handle(t, s.r,
		ev(t, 1, event.ChatCreated, 42, event.ChatCreatedData{Chat: group(42, members...)}),
		msg(t, 2, 42, "one"), msg(t, 3, 42, "two"), msg(t, 4, 42, "three"))
	for _, uid := range []int64{100, 100 + n/2, 100 + n - 1} {
		got := s.personal(t, uid)
		if len(got) != 4 {
			t.Fatalf("member %d got %d publications, want 4", uid, len(got))
		}
		for i, p := range got {
			if !strings.HasPrefix(p.Cursor, fmt.Sprintf("%d.", i+1)) {
				t.Fatalf("member %d's publication %d has cursor %s", uid, i, p.Cursor)
			}
		}
	}
}

// In a chat of MemberUpdatesMaxMembers or more, a join or a leave is an
// update for the member concerned only: building a big group one member at
// a time must not cost an update per member per join.
func TestMembershipChangesOfABigChatReachOnlyTheMemberConcerned(t *testing.T) {
	s := newStreamRelay(t, nil)
	members := make([]domain.Member, relay.MemberUpdatesMaxMembers)
	for i := range members {
		members[i] = member(domain.User{ID: int64(1000 + i), Name: fmt.Sprint("m", i)}, domain.RoleMember)
	}
	after := group(42, append(slices.Clone(members), member(carol, domain.RoleMember))...)
	handle(t, s.r,
		ev(t, 1, event.ChatCreated, 42, event.ChatCreatedData{Chat: group(42, members...)}),
		ev(t, 2, event.MemberAdded, 42, event.MemberAddedData{Member: member(carol, domain.RoleMember), Chat: after}),
		ev(t, 3, event.MemberRemoved, 42, event.MemberRemovedData{UserID: 1000, MembersCount: len(members)}),
	)
	if got := s.personal(t, 1001); len(got) != 1 || got[0].Type != "chat.added" {
		t.Fatalf("a member of the big chat got %v, want its chat.added only", got)
	}
	if got := s.personal(t, carol.ID); len(got) != 1 || got[0].Type != "chat.added" {
		t.Fatalf("the newcomer got %v", got)
	}
	if got := s.personal(t, 1000); len(got) != 2 || got[1].Type != "chat.removed" {
		t.Fatalf("the removed member got %v", got)
	}
}
