package chatcache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/testkit"
)

var ctx = context.Background()

// The tests run on one Redis and on Redis Cluster (testkit.RedisUnderTest).
func TestMain(m *testing.M) { os.Exit(testkit.MainOnRedisBackends(m)) }

func newCache(t *testing.T, loader chatcache.Loader) (*chatcache.Cache, redis.UniversalClient, string) {
	t.Helper()
	rdb, prefix := testkit.RedisUnderTest(t)
	return chatcache.New(rdb, prefix, loader), rdb, prefix
}

func apply(t testing.TB, c *chatcache.Cache, events []event.Event, batch int) {
	t.Helper()
	for len(events) > 0 {
		n := min(batch, len(events))
		if err := c.ApplyEvents(ctx, events[:n]); err != nil {
			t.Fatalf("apply events %d..%d: %v", events[0].Seq, events[n-1].Seq, err)
		}
		events = events[n:]
	}
}

// listAll pages through a user's whole list.
func listAll(t testing.TB, c *chatcache.Cache, userID int64, pageSize int) []domain.ChatSummary {
	t.Helper()
	out := []domain.ChatSummary{}
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := c.ChatList(ctx, userID, cursor, pageSize)
		if err != nil {
			t.Fatalf("chat list of user %d: %v", userID, err)
		}
		if len(page) > pageSize {
			t.Fatalf("page of %d for limit %d", len(page), pageSize)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

func ids(list []domain.ChatSummary) []int64 {
	out := make([]int64, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

// checkLists compares every user's cached list (paged) with the model's.
func checkLists(t *testing.T, c *chatcache.Cache, m *model, users []int64, pageSize int) {
	t.Helper()
	for _, u := range users {
		got, want := listAll(t, c, u, pageSize), m.list(u)
		if js(got) != js(want) {
			t.Fatalf("user %d's list:\n got  %s\n want %s", u, js(got), js(want))
		}
	}
}

// warm makes users' lists complete (empty) before any event, so that what
// follows is maintained by events alone, not rebuilt from the model.
func warm(t *testing.T, c *chatcache.Cache, users []int64) {
	t.Helper()
	for _, u := range users {
		if _, _, err := c.ChatList(ctx, u, "", 10); err != nil {
			t.Fatal(err)
		}
	}
}

func userRange(n int) []int64 {
	var out []int64
	for i := int64(1); i <= int64(n); i++ {
		out = append(out, i)
	}
	return out
}

func TestListOrderAndPagingWithTies(t *testing.T) {
	m := newModel()
	c, _, _ := newCache(t, m)
	warm(t, c, []int64{1, 2})
	l := newLog(t, 0)
	// Six chats created in the same millisecond are ordered by id alone;
	// ids of different lengths, so that text order would be wrong.
	l.frozen = true
	for _, id := range []int64{9, 10, 11, 100, 2, 1000} {
		l.group(id, fmt.Sprintf("g%d", id), 1, 2)
	}
	l.frozen = false
	l.at = l.at.Add(6 * time.Second)
	l.msg(10, 2, "newer")
	l.frozen = true
	l.at = l.at.Add(6 * time.Second)
	l.msg(9, 2, "newest, tied with 100") // 9 and 100 share a time
	l.msg(100, 2, "newest, tied with 9")
	apply(t, c, l.events, 500)
	m.apply(t, l.events)

	want := []int64{100, 9, 10, 1000, 11, 2}
	for _, size := range []int{1, 2, 3, 4, 6, 7, 50} {
		got := listAll(t, c, 1, size)
		if !slices.Equal(ids(got), want) {
			t.Fatalf("page size %d: order %v, want %v", size, ids(got), want)
		}
	}
	checkLists(t, c, m, []int64{1, 2}, 4)
	// The last page has no cursor; a full page that ends the list has none either.
	page, next, err := c.ChatList(ctx, 1, "", 6)
	if err != nil || len(page) != 6 || next != "" {
		t.Fatalf("exact page: %d chats, next %q, err %v", len(page), next, err)
	}
	if m.rebuilds.Load() != 2 || m.unreadQs.Load() != 0 {
		t.Fatalf("rebuilds %d, MySQL unread counts %d: want 2 (the initial warm-ups), 0", m.rebuilds.Load(), m.unreadQs.Load())
	}
	for _, bad := range []string{"x", "!!!", "djEuMTIz", "djIuMS4y" /* v2.1.2 */, "djEuYS4y" /* v1.a.2 */} {
		if _, _, err := c.ChatList(ctx, 1, bad, 10); !errors.Is(err, chatcache.ErrBadCursor) {
			t.Errorf("cursor %q: err %v, want ErrBadCursor", bad, err)
		}
	}
}

func TestUnreadCountsAndReadPositions(t *testing.T) {
	m := newModel()
	c, _, _ := newCache(t, m)
	users := []int64{1, 2, 3}
	warm(t, c, users)
	l := newLog(t, 100)
	l.group(10, "team", 1, 2, 3)
	m1 := l.msg(10, 2, "one")
	l.msg(10, 2, "two")
	m3 := l.msg(10, 1, "mine")
	m4 := l.msg(10, 3, "four")
	m5 := l.msg(10, 2, "five")
	apply(t, c, l.events, 500)
	m.apply(t, l.events)

	unread := func(u int64) (int, int64) {
		t.Helper()
		s, err := c.Summary(ctx, u, 10)
		if err != nil {
			t.Fatal(err)
		}
		return s.UnreadCount, s.ReadMessageID
	}
	expect := func(u int64, n int, pos uint64) {
		t.Helper()
		if gn, gp := unread(u); gn != n || gp != int64(pos) {
			t.Fatalf("user %d: unread %d at %d, want %d at %d", u, gn, gp, n, pos)
		}
	}
	// Sending moved each sender's position to their message; own messages never count.
	expect(1, 2, m3.Seq)
	expect(2, 0, m5.Seq)
	expect(3, 1, m4.Seq)
	checkLists(t, c, m, users, 10)

	step := func(ev event.Event) {
		t.Helper()
		apply(t, c, []event.Event{ev}, 1)
		m.apply(t, []event.Event{ev})
	}
	step(l.read(10, 1, int64(m4.Seq)))
	expect(1, 1, m4.Seq)
	step(l.read(10, 1, int64(m1.Seq))) // backwards: a no-op
	expect(1, 1, m4.Seq)
	step(l.read(10, 1, int64(m5.Seq)))
	expect(1, 0, m5.Seq)
	step(l.read(10, 3, int64(m3.Seq))) // backwards for user 3 too
	expect(3, 1, m4.Seq)
	m6 := l.msg(10, 3, "six")
	step(m6)
	expect(1, 1, m5.Seq)
	expect(2, 1, m5.Seq)
	expect(3, 0, m6.Seq)
	checkLists(t, c, m, users, 1)
	if n := m.unreadQs.Load(); n != 0 {
		t.Fatalf("%d unread counts asked of MySQL; the cache holds them all", n)
	}
}

// randomLog is a deterministic mix of every event type over a few chats:
// messages (some retried under a new id), reads forward and backward, joins,
// leaves, and runs of events in one millisecond (ties in the list order).
func randomLog(t testing.TB, seed uint64, n int) *evlog {
	r := rand.New(rand.NewPCG(seed, 7))
	l := newLog(t, 1000)
	l.direct(1, 1, 2)
	l.direct(2, 1, 3)
	l.group(3, "g3", 1, 2, 3, 4)
	l.group(4, "g4", 2, 5, 6)
	l.group(5, "g5", 1, 2, 3, 4, 5, 6, 7, 8)
	l.direct(6, 4, 7)
	type sent struct {
		id       int64
		author   int64
		clientID string
	}
	msgs := map[int64][]sent{}
	for len(l.events) < n {
		chat := int64(1 + r.IntN(6))
		members := l.members[chat]
		if len(members) == 0 {
			continue
		}
		who := members[r.IntN(len(members))].User.ID
		switch x := r.IntN(100); {
		case x < 55:
			ev := l.msg(chat, who, fmt.Sprintf("m%d", l.seq+1))
			d, _ := event.Payload[event.MessageCreatedData](ev.Envelope)
			msgs[chat] = append(msgs[chat], sent{int64(ev.Seq), who, d.ClientID})
		case x < 78:
			if len(msgs[chat]) > 0 {
				l.read(chat, who, msgs[chat][r.IntN(len(msgs[chat]))].id)
			}
		case x < 85:
			if l.chats[chat].Kind == domain.KindGroup {
				nu := int64(1 + r.IntN(9))
				if !slices.ContainsFunc(members, func(m domain.Member) bool { return m.User.ID == nu }) {
					l.join(chat, nu)
				}
			}
		case x < 91:
			if l.chats[chat].Kind == domain.KindGroup && len(members) > 1 {
				l.leave(chat, who)
			}
		case x < 95:
			// A send retried after the log's duplicate window: a second event
			// with the same author and client_id. History keeps the first.
			if ms := msgs[chat]; len(ms) > 0 {
				s := ms[r.IntN(len(ms))]
				if slices.ContainsFunc(members, func(m domain.Member) bool { return m.User.ID == s.author }) {
					l.msgClient(chat, s.author, "retry", s.clientID)
				}
			}
		default:
			l.frozen = !l.frozen
		}
	}
	return l
}

func TestDuplicatedAndReplayedEventsChangeNothing(t *testing.T) {
	m := newModel()
	c, rdb, prefix := newCache(t, m)
	users := userRange(9)
	warm(t, c, users)
	l := randomLog(t, 1, 400)
	apply(t, c, l.events, 37)
	m.apply(t, l.events)
	checkLists(t, c, m, users, 3)
	before := dump(t, rdb, prefix)

	// The same batch again, whole.
	apply(t, c, l.events, len(l.events))
	if d := diffDumps(before, dump(t, rdb, prefix)); d != "" {
		t.Fatalf("applying the log twice changed the cache:\n%s", d)
	}
	// Replays from many sequences, in other batch sizes.
	for from := 0; from < len(l.events); from += 23 {
		apply(t, c, l.events[from:], 50+from%7)
	}
	if d := diffDumps(before, dump(t, rdb, prefix)); d != "" {
		t.Fatalf("replays changed the cache:\n%s", d)
	}
	// Any window of old events alone, as an interrupted replay leaves it:
	// membership never goes back to an older state, nothing else moves back.
	for from := 0; from+30 <= len(l.events); from += 11 {
		apply(t, c, l.events[from:from+30], 30)
		if d := diffDumps(before, dump(t, rdb, prefix)); d != "" {
			t.Fatalf("replaying events %d..%d alone changed the cache:\n%s", l.events[from].Seq, l.events[from+29].Seq, d)
		}
	}
	// Every event delivered twice in a row within one batch.
	var doubled []event.Event
	for _, ev := range l.events[200:] {
		doubled = append(doubled, ev, ev)
	}
	apply(t, c, doubled, 64)
	if d := diffDumps(before, dump(t, rdb, prefix)); d != "" {
		t.Fatalf("doubled delivery changed the cache:\n%s", d)
	}
	checkLists(t, c, m, users, 4)
	if n := m.rebuilds.Load(); n != int64(len(users)) {
		t.Fatalf("%d rebuilds from MySQL, want only the %d warm-ups", n, len(users))
	}
	if n := m.unreadQs.Load(); n != 0 {
		t.Fatalf("%d unread counts asked of MySQL", n)
	}
}

func TestRetriedSendUnderANewIDIsIgnored(t *testing.T) {
	m := newModel()
	c, _, _ := newCache(t, m)
	warm(t, c, []int64{1, 2})
	l := newLog(t, 0)
	l.direct(7, 1, 2)
	first := l.msgClient(7, 1, "hello", "same-client-id")
	reply := l.msg(7, 2, "reply")
	retry := l.msgClient(7, 1, "hello", "same-client-id") // past the log's duplicate window
	apply(t, c, l.events, 500)
	m.apply(t, l.events)
	s, err := c.Summary(ctx, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	// User 2's position is at its reply; only the retry comes after it.
	if s.UnreadCount != 0 || s.LastMessage == nil || s.LastMessage.ID != int64(reply.Seq) {
		t.Fatalf("user 2 sees unread %d, last %+v: the retry (%d) of message %d must not count", s.UnreadCount, s.LastMessage, retry.Seq, first.Seq)
	}
	checkLists(t, c, m, []int64{1, 2}, 10)
}

func TestMembershipEvents(t *testing.T) {
	m := newModel()
	c, rdb, prefix := newCache(t, m)
	users := []int64{1, 2, 3, 4}
	warm(t, c, users)
	l := newLog(t, 0)
	l.group(20, "club", 1, 2)
	l.direct(21, 2, 4)
	l.msg(20, 1, "a")
	l.msg(20, 2, "b")
	step := func(evs ...event.Event) {
		t.Helper()
		apply(t, c, evs, 500)
		m.apply(t, evs)
	}
	step(l.events...)
	checkLists(t, c, m, users, 10)
	if got := listAll(t, c, 3, 10); len(got) != 0 {
		t.Fatalf("user 3 is in no chat yet, sees %v", ids(got))
	}
	if _, err := c.Summary(ctx, 3, 20); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("summary for a non-member: %v, want ErrNotFound", err)
	}

	// A newcomer gets the chat with its last message, and everything unread.
	step(l.join(20, 3))
	s, err := c.Summary(ctx, 3, 20)
	if err != nil || s.MembersCount != 3 || s.UnreadCount != 2 || s.LastMessage == nil || s.LastMessage.Text != "b" {
		t.Fatalf("newcomer's summary %+v, %v", s, err)
	}
	checkLists(t, c, m, users, 10)

	// A leaver loses it, and later messages do not bring it back.
	step(l.leave(20, 2))
	step(l.msg(20, 3, "after"))
	if got := ids(listAll(t, c, 2, 10)); !slices.Equal(got, []int64{21}) {
		t.Fatalf("leaver's list %v, want [21]", got)
	}
	// Gone from the stored list and member set, not only hidden when read.
	if raw, _ := rdb.ZRange(ctx, prefix+"{u:2}:chats", 0, -1).Result(); slices.Contains(raw, fmt.Sprintf("%019d", 20)) {
		t.Fatalf("leaver's stored list still holds chat 20: %v", raw)
	}
	if in, _ := rdb.SIsMember(ctx, prefix+"{c:20}:mem", "2").Result(); in {
		t.Fatal("leaver still in chat 20's member set")
	}
	if _, err := c.Summary(ctx, 2, 20); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("summary for a leaver: %v, want ErrNotFound", err)
	}
	if s, _ := c.Summary(ctx, 1, 20); s.MembersCount != 2 {
		t.Fatalf("members count %d after a leave, want 2", s.MembersCount)
	}
	// Direct chat titles are the other member's name, per viewer.
	if s, _ := c.Summary(ctx, 4, 21); s.Title != "user2" || s.Kind != domain.KindDirect {
		t.Fatalf("user 4 sees the direct chat as %q (%s)", s.Title, s.Kind)
	}
	checkLists(t, c, m, users, 1)
}

func TestRebuildAfterFlushEqualsStateBefore(t *testing.T) {
	m := newModel()
	c, rdb, prefix := newCache(t, m)
	users := userRange(9)
	warm(t, c, users)
	l := randomLog(t, 2, 500)
	apply(t, c, l.events, 100)
	m.apply(t, l.events)
	before := map[int64]string{}
	for _, u := range users {
		before[u] = js(listAll(t, c, u, 5))
	}
	checkLists(t, c, m, users, 5)

	flush(t, rdb, prefix)
	for _, u := range users {
		if got := js(listAll(t, c, u, 3)); got != before[u] {
			t.Fatalf("user %d after a flush:\n got  %s\n want %s", u, got, before[u])
		}
	}
	for _, u := range users {
		for _, s := range m.list(u) {
			got, err := c.Summary(ctx, u, s.ID)
			if err != nil || js(got) != js(s) {
				t.Fatalf("summary of chat %d for user %d: %s, %v; want %s", s.ID, u, js(got), err, js(s))
			}
		}
	}
}

func TestEventsAfterAFlushLoadChatsFromMySQL(t *testing.T) {
	m := newModel()
	c, rdb, prefix := newCache(t, m)
	users := userRange(9)
	l := randomLog(t, 3, 300)
	apply(t, c, l.events, 100)
	m.apply(t, l.events)
	flush(t, rdb, prefix)

	// Nobody reads before the next events: the worker must load the chats' members itself.
	more := randomLogFrom(t, l, 4, 200)
	apply(t, c, more, 60)
	m.apply(t, more)
	if m.loads.Load() == 0 {
		t.Fatal("no chat was loaded from MySQL after the flush")
	}
	checkLists(t, c, m, users, 4)
	// And the same with the users' lists rebuilt in between.
	flush(t, rdb, prefix)
	checkLists(t, c, m, users, 7)
	more = randomLogFrom(t, l, 5, 200)
	apply(t, c, more, 60)
	m.apply(t, more)
	checkLists(t, c, m, users, 2)
}

// randomLogFrom continues l with n more random events and returns them.
func randomLogFrom(t testing.TB, l *evlog, seed uint64, n int) []event.Event {
	r := rand.New(rand.NewPCG(seed, 9))
	start := len(l.events)
	for len(l.events)-start < n {
		chat := int64(1 + r.IntN(6))
		members := l.members[chat]
		if len(members) == 0 {
			continue
		}
		who := members[r.IntN(len(members))].User.ID
		switch x := r.IntN(10); {
		case x < 6:
			l.msg(chat, who, "more")
		case x < 8:
			l.read(chat, who, int64(l.seq))
		case x < 9:
			if l.chats[chat].Kind == domain.KindGroup && len(members) > 1 {
				l.leave(chat, who)
			}
		default:
			if l.chats[chat].Kind == domain.KindGroup {
				nu := int64(1 + r.IntN(9))
				if !slices.ContainsFunc(members, func(m domain.Member) bool { return m.User.ID == nu }) {
					l.join(chat, nu)
				}
			}
		}
	}
	return l.events[start:]
}

func TestRebuildNeverOverwritesNewerCachedData(t *testing.T) {
	stale := newModel() // MySQL lagging behind the log
	c, rdb, prefix := newCache(t, stale)
	m := newModel()
	l := newLog(t, 0)
	l.group(30, "old", 1, 2)
	l.group(31, "left", 1, 2)
	l.msg(30, 2, "first")
	stale.apply(t, l.events)
	n := len(l.events)
	second := l.msg(30, 2, "second")
	l.read(30, 1, int64(second.Seq))
	l.msg(30, 2, "third")
	l.leave(31, 1)
	l.msg(31, 2, "after user 1 left")
	apply(t, c, l.events, 500)
	m.apply(t, l.events)
	if len(l.events) <= n {
		t.Fatal("test setup")
	}
	// User 1's list is cold: it is rebuilt from the stale MySQL, yet shows
	// the newer last message and read position, and not the chat it left.
	got := listAll(t, c, 1, 10)
	if !slices.Equal(ids(got), []int64{30}) || got[0].LastMessage.Text != "third" ||
		got[0].ReadMessageID != int64(second.Seq) || got[0].UnreadCount != 1 {
		t.Fatalf("rebuilt over newer data: %s", js(got))
	}
	if raw, _ := rdb.ZRange(ctx, prefix+"{u:1}:chats", 0, -1).Result(); slices.Contains(raw, fmt.Sprintf("%019d", 31)) {
		t.Fatalf("the rebuild stored the chat user 1 left: %v", raw)
	}
	checkLists(t, c, m, []int64{1, 2}, 10)
}

func TestUnreadBeyondTheRecentWindowComesFromMySQL(t *testing.T) {
	m := newModel()
	c, _, _ := newCache(t, m)
	c.SetRecentMessages(5)
	warm(t, c, []int64{1, 2})
	l := newLog(t, 0)
	l.direct(40, 1, 2)
	var last event.Event
	for i := range 20 {
		last = l.msg(40, 2, fmt.Sprint(i))
	}
	apply(t, c, l.events, 7)
	m.apply(t, l.events)
	s, err := c.Summary(ctx, 1, 40)
	if err != nil || s.UnreadCount != 20 {
		t.Fatalf("unread %d, %v; want 20", s.UnreadCount, err)
	}
	if m.unreadQs.Load() != 1 {
		t.Fatalf("%d MySQL counts, want 1 (position below the cached window)", m.unreadQs.Load())
	}
	ev := l.read(40, 1, int64(last.Seq)-3)
	apply(t, c, []event.Event{ev}, 1)
	m.apply(t, []event.Event{ev})
	if s, _ := c.Summary(ctx, 1, 40); s.UnreadCount != 3 || m.unreadQs.Load() != 1 {
		t.Fatalf("unread %d with %d MySQL counts; want 3 from the cache", s.UnreadCount, m.unreadQs.Load())
	}
	checkLists(t, c, m, []int64{1, 2}, 10)
}

func TestBadEventsAreReportedAndUnknownTypesSkipped(t *testing.T) {
	c, _, _ := newCache(t, failingLoader{})
	l := newLog(t, 0)
	l.group(50, "g", 1, 2)
	l.add("message.pinned", 50, 1, map[string]string{"future": "field"})
	good := l.events
	if err := c.ApplyEvents(ctx, good); err != nil {
		t.Fatalf("unknown type must be skipped: %v", err)
	}
	cases := map[string]event.Event{
		"payload":  {Seq: 90, Envelope: event.Envelope{V: 1, Type: event.MessageCreated, ChatID: 50, Data: json.RawMessage(`"nope"`)}},
		"empty":    l.msgClient(50, 1, "", "cid"),
		"clientid": l.msgClient(50, 1, "x", "bad client id!"),
		"read":     l.read(50, 0, 5),
	}
	for name, ev := range cases {
		err := c.ApplyEvents(ctx, append(slices.Clone(good), ev))
		if !errors.Is(err, domain.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("event %d ", ev.Seq)) {
			t.Errorf("%s: err %v, want domain.ErrInvalid naming event %d", name, err, ev.Seq)
		}
	}
}

func TestSummaryAndListAgree(t *testing.T) {
	m := newModel()
	c, _, _ := newCache(t, m)
	users := userRange(9)
	warm(t, c, users)
	l := randomLog(t, 6, 300)
	apply(t, c, l.events, 500)
	m.apply(t, l.events)
	rebuilds := m.rebuilds.Load()
	for _, u := range users {
		list := listAll(t, c, u, 100)
		for _, s := range list {
			got, err := c.Summary(ctx, u, s.ID)
			if err != nil || js(got) != js(s) {
				t.Fatalf("user %d chat %d: summary %s (%v), list entry %s", u, s.ID, js(got), err, js(s))
			}
		}
		for chat := int64(1); chat <= 6; chat++ {
			if slices.Contains(ids(list), chat) {
				continue
			}
			if _, err := c.Summary(ctx, u, chat); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("user %d, chat %d not in the list: summary err %v, want ErrNotFound", u, chat, err)
			}
		}
		if _, err := c.Summary(ctx, u, 999); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("no such chat: %v", err)
		}
	}
	// Asking for chats one is not in is answered without rebuilding lists.
	if n := m.rebuilds.Load(); n != rebuilds {
		t.Fatalf("%d rebuilds for summaries of warm users", n-rebuilds)
	}
}

// BenchmarkApplyEvents measures the worker's write path: batches of 500
// messages over 2-member chats, as the persister's benchmark does.
func BenchmarkApplyEvents(b *testing.B) {
	rdb, prefix := testkit.RedisUnderTest(b)
	c := chatcache.New(rdb, prefix, failingLoader{})
	l := newLog(b, 0)
	const chats = 1000
	for id := int64(1); id <= chats; id++ {
		l.direct(id, 2*id, 2*id+1)
	}
	if err := c.ApplyEvents(ctx, l.events); err != nil {
		b.Fatal(err)
	}
	batches := make([][]event.Event, 20)
	for i := range batches {
		l.events = l.events[:0]
		for j := range 500 {
			chat := int64(1 + (i*500+j)%chats)
			l.msg(chat, 2*chat+int64(j%2), strings.Repeat("x", 100))
		}
		batches[i] = slices.Clone(l.events)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.ApplyEvents(ctx, batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBaselinePipeline is the calibration for BenchmarkApplyEvents on a
// shared machine: FACTS.md's raw Redis pipeline (500 messages, 2 commands each,
// 151,000 msg/s on an idle 2-core machine).
func BenchmarkBaselinePipeline(b *testing.B) {
	rdb, prefix := testkit.RedisUnderTest(b)
	body := strings.Repeat("x", 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := range 500 {
				chat := (i*500 + j) % 1000
				p.ZAdd(ctx, fmt.Sprintf("%sbase:%d", prefix, chat), redis.Z{Score: float64(i*500 + j), Member: i*500 + j})
				p.HSet(ctx, fmt.Sprintf("%sbaseh:%d", prefix, chat), "last", body)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}

// Readers rebuilding lists while the worker applies events, with Redis
// flushed half way: whatever interleaving happens, the cache ends where the
// model does. MySQL may be ahead of the cache (the persister is faster) or
// behind it.
func TestConcurrentRebuildsEventsAndAFlushConverge(t *testing.T) {
	for _, mysqlAhead := range []bool{true, false} {
		t.Run(fmt.Sprintf("mysql ahead %v", mysqlAhead), func(t *testing.T) {
			m := newModel()
			c, rdb, prefix := newCache(t, m)
			users := userRange(9)
			events := randomLog(t, 21, 600).events
			done := make(chan struct{})
			errs := make(chan error, 100)
			for r := range 3 {
				go func() {
					for i := 0; ; i++ {
						select {
						case <-done:
							errs <- nil
							return
						default:
						}
						u := users[(i+r)%len(users)]
						if _, _, err := c.ChatList(ctx, u, "", 3); err != nil {
							errs <- err
							return
						}
						if _, err := c.Summary(ctx, u, int64(1+i%6)); err != nil && !errors.Is(err, domain.ErrNotFound) {
							errs <- err
							return
						}
					}
				}()
			}
			for i := 0; i < len(events); i += 20 {
				batch := events[i:min(i+20, len(events))]
				if mysqlAhead {
					m.apply(t, batch)
				}
				apply(t, c, batch, len(batch))
				if !mysqlAhead {
					m.apply(t, batch)
				}
				if i == 300 {
					flush(t, rdb, prefix)
				}
			}
			close(done)
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatalf("reader: %v", err)
				}
			}
			checkLists(t, c, m, users, 4)
			// The stored lists too, not only what reads let through.
			for _, u := range users {
				raw, err := rdb.ZRange(ctx, fmt.Sprintf("%s{u:%d}:chats", prefix, u), 0, -1).Result()
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, s := range m.list(u) {
					want = append(want, fmt.Sprintf("%019d", s.ID))
				}
				raw = slices.DeleteFunc(raw, func(x string) bool { return x == "~warm" })
				slices.Sort(raw)
				slices.Sort(want)
				if !slices.Equal(raw, want) {
					t.Fatalf("user %d's stored list %v, want %v", u, raw, want)
				}
			}
		})
	}
}

// Entries whose chat vanished from both Redis and MySQL are left out, and
// pages stay full: only the last page is short, and no page is empty.
func TestVanishedEntriesAreSkippedAndPagesStayFull(t *testing.T) {
	m := newModel()
	c, rdb, prefix := newCache(t, m)
	warm(t, c, []int64{1})
	l := newLog(t, 0)
	for id := int64(1); id <= 7; id++ {
		l.group(id, fmt.Sprint(id), 1, 2)
	}
	apply(t, c, l.events, 500)
	m.apply(t, l.events)
	for _, gone := range []int64{6, 5, 3} {
		m.mu.Lock()
		delete(m.chats, gone)
		m.mu.Unlock()
		if err := rdb.Del(ctx, fmt.Sprintf("%s{c:%d}", prefix, gone), fmt.Sprintf("%s{c:%d}:mem", prefix, gone)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	cursor := ""
	for {
		page, next, err := c.ChatList(ctx, 1, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		if len(page) != 2 {
			t.Fatalf("a page of %d before the end (%v)", len(page), ids(page))
		}
		cursor = next
	}
	if !slices.Equal(got, []int64{7, 4, 2, 1}) {
		t.Fatalf("list %v, want [7 4 2 1]", got)
	}
}

// The gateway asks for a chat's summary right after creating it, usually
// before cachewarm has applied chat.created: MySQL answers for that one chat,
// without a rebuild of the user's list.
func TestSummaryOfAChatNotYetCachedComesFromMySQL(t *testing.T) {
	m := newModel()
	c, _, _ := newCache(t, m)
	warm(t, c, []int64{1, 2})
	l := newLog(t, 0)
	l.group(60, "cached", 1, 2)
	apply(t, c, l.events, 500)
	m.apply(t, l.events)
	n := len(l.events)
	l.group(61, "not applied yet", 1, 2)
	l.msg(61, 2, "one")
	l.msg(61, 2, "two")
	l.direct(62, 1, 2)
	m.apply(t, l.events[n:]) // MySQL has them, the cache not yet
	rebuilds := m.rebuilds.Load()
	for _, chat := range []int64{61, 62} {
		want := m.list(1)
		i := slices.IndexFunc(want, func(s domain.ChatSummary) bool { return s.ID == chat })
		got, err := c.Summary(ctx, 1, chat)
		if err != nil || js(got) != js(want[i]) {
			t.Fatalf("chat %d: %s (%v), want %s", chat, js(got), err, js(want[i]))
		}
	}
	if m.rebuilds.Load() != rebuilds {
		t.Fatal("a summary of one chat rebuilt the whole list")
	}
	// Once applied, the cache answers the same.
	apply(t, c, l.events[n:], 500)
	checkLists(t, c, m, []int64{1, 2}, 10)
}

func TestMemberOfFollowsMembershipEvents(t *testing.T) {
	rdb, prefix := testkit.RedisUnderTest(t)
	c := chatcache.New(rdb, prefix, nil)
	ctx := context.Background()
	if _, known, err := c.MemberOf(ctx, 77, 1); err != nil || known {
		t.Fatalf("uncached chat: known=%v err=%v, want unknown", known, err)
	}
	chat := domain.Chat{ID: 77, Kind: domain.KindGroup, Title: "g", CreatedAt: time.Now(), Members: []domain.Member{
		{User: domain.User{ID: 1, Name: "a"}, Role: domain.RoleAdmin}, {User: domain.User{ID: 2, Name: "b"}, Role: domain.RoleMember}}}
	created, _ := event.New(event.ChatCreated, 77, 1, time.Now(), event.ChatCreatedData{Chat: chat})
	removed, _ := event.New(event.MemberRemoved, 77, 1, time.Now(), event.MemberRemovedData{UserID: 2, MembersCount: 1})
	if err := c.ApplyEvents(ctx, []event.Event{{Seq: 1, Envelope: created}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user   int64
		member bool
	}{{1, true}, {2, true}, {3, false}} {
		member, known, err := c.MemberOf(ctx, 77, tc.user)
		if err != nil || !known || member != tc.member {
			t.Fatalf("user %d: member=%v known=%v err=%v, want member=%v", tc.user, member, known, err, tc.member)
		}
	}
	if err := c.ApplyEvents(ctx, []event.Event{{Seq: 2, Envelope: removed}}); err != nil {
		t.Fatal(err)
	}
	if member, _, _ := c.MemberOf(ctx, 77, 2); member {
		t.Fatal("a removed member is still a member")
	}
}

// On Redis Cluster every script of the cache touches one slot's keys: the
// real code, driven through every kind of event, reads, rebuilds and a
// flush, under MONITOR (testkit.SlotWatch: Redis 7 would let a script reach
// another slot of the same node, so passing on a cluster is not proof
// enough). Pipelines and transactions are checked by the cluster itself
// (CROSSSLOT), as in every test of this package on the cluster backend.
func TestEveryScriptKeepsToOneSlotOnRedisCluster(t *testing.T) {
	rdb, prefix := testkit.RedisOn(t, testkit.RedisCluster)
	watch := testkit.WatchScriptSlots(t, rdb.(*redis.ClusterClient))
	m := newModel()
	c := chatcache.New(rdb, prefix, m)
	users := userRange(9)
	warm(t, c, users)
	l := randomLog(t, 11, 300)
	// The kinds randomLog leaves out: edits, deletes, hides, clears, renames.
	for _, chat := range []int64{1, 3, 5} {
		last := l.msg(chat, l.members[chat][0].User.ID, "to change")
		msg, err := last.Message()
		if err != nil {
			t.Fatal(err)
		}
		msg.Text = "changed"
		l.add(event.MessageEdited, chat, msg.Author.ID, event.MessageEditedData{Message: msg})
		l.add(event.MessageHidden, chat, l.members[chat][1].User.ID, event.MessageHiddenData{UserID: l.members[chat][1].User.ID, MessageID: msg.ID})
		l.add(event.MessageHidden, chat, l.members[chat][1].User.ID, event.MessageHiddenData{UserID: l.members[chat][1].User.ID, ThroughID: msg.ID - 1})
		l.add(event.MessageDeleted, chat, msg.Author.ID, event.MessageDeletedData{MessageID: msg.ID, AuthorID: msg.Author.ID, ClientID: msg.ClientID, SentAt: msg.SentAt})
		ch := l.chats[chat]
		ch.Title = "renamed"
		l.add(event.ChatUpdated, chat, msg.Author.ID, event.ChatUpdatedData{Chat: ch})
		renamed := l.members[chat][0]
		renamed.User.Name = "new name"
		prev := l.members[chat][0].User
		l.add(event.MemberUpdated, chat, renamed.User.ID, event.MemberUpdatedData{Member: renamed, Previous: &prev})
	}
	apply(t, c, l.events, 50)
	for _, u := range users {
		listAll(t, c, u, 3)
		if _, err := c.Summary(ctx, u, 3); err != nil && !errors.Is(err, domain.ErrNotFound) {
			t.Fatal(err)
		}
		if _, _, err := c.MemberOf(ctx, 3, u); err != nil {
			t.Fatal(err)
		}
	}
	// After a flush: chats loaded from the loader, lists rebuilt.
	m.apply(t, l.events)
	// Plain DELs: flush's own script deletes keys of every slot, on purpose.
	if err := testkit.DeleteRedisPrefix(ctx, rdb, prefix); err != nil {
		t.Fatal(err)
	}
	more := randomLogFrom(t, l, 12, 100)
	m.apply(t, more)
	apply(t, c, more, 50)
	checkLists(t, c, m, users, 4)
	if n := watch.Check(t); n < 100 {
		t.Fatalf("only %d script runs seen by MONITOR: the watch saw too little to prove anything", n)
	}
}
