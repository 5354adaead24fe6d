package chatcache_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// model is the reference: what MySQL holds after the same events (the
// gateway's chats and members, the persister's messages and read positions),
// computed the obvious way. It is also the fake Loader of the unit tests.
type model struct {
	mu       sync.Mutex
	chats    map[int64]*domain.Chat
	msgs     map[int64][]domain.Message // by chat, ascending id
	reads    map[[2]int64]int64         // (chat, user) -> position
	unreadQs atomic.Int64               // UnreadCount calls
	loads    atomic.Int64               // Chat calls
	rebuilds atomic.Int64               // AllUserChats calls
}

func newModel() *model {
	return &model{chats: map[int64]*domain.Chat{}, msgs: map[int64][]domain.Message{}, reads: map[[2]int64]int64{}}
}

func (m *model) apply(t testing.TB, events []event.Event) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range events {
		switch ev.Type {
		case event.ChatCreated:
			d, _ := event.Payload[event.ChatCreatedData](ev.Envelope)
			ch := d.Chat
			ch.Members = slices.Clone(ch.Members)
			m.chats[ev.ChatID] = &ch
		case event.MemberAdded:
			d, _ := event.Payload[event.MemberAddedData](ev.Envelope)
			ch := d.Chat
			ch.Members = slices.Clone(ch.Members)
			m.chats[ev.ChatID] = &ch
		case event.MemberRemoved:
			d, _ := event.Payload[event.MemberRemovedData](ev.Envelope)
			ch := m.chats[ev.ChatID]
			ch.Members = slices.DeleteFunc(ch.Members, func(x domain.Member) bool { return x.User.ID == d.UserID })
		case event.MessageCreated:
			msg, err := ev.Message()
			if err != nil {
				t.Fatal(err)
			}
			dup := false
			for _, x := range m.msgs[ev.ChatID] {
				dup = dup || x.ID == msg.ID || (x.Author.ID == msg.Author.ID && x.ClientID == msg.ClientID)
			}
			if dup {
				continue
			}
			m.msgs[ev.ChatID] = append(m.msgs[ev.ChatID], msg)
			k := [2]int64{ev.ChatID, msg.Author.ID}
			m.reads[k] = max(m.reads[k], msg.ID)
		case event.ReadMoved:
			d, _ := event.Payload[event.ReadMovedData](ev.Envelope)
			k := [2]int64{ev.ChatID, d.UserID}
			m.reads[k] = max(m.reads[k], d.MessageID)
		}
	}
}

func (m *model) row(ch *domain.Chat) sqlstore.ChatRow {
	r := sqlstore.ChatRow{Chat: *ch, UpdatedAt: ch.CreatedAt}
	r.Chat.Members = slices.Clone(ch.Members)
	sort.Slice(r.Chat.Members, func(i, j int) bool { return r.Chat.Members[i].User.ID < r.Chat.Members[j].User.ID })
	if ms := m.msgs[ch.ID]; len(ms) > 0 {
		r.LastMessageID = ms[len(ms)-1].ID
		r.UpdatedAt = ms[len(ms)-1].SentAt
	}
	return r
}

func (m *model) AllUserChats(_ context.Context, userID int64) ([]sqlstore.ChatRow, error) {
	m.rebuilds.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []sqlstore.ChatRow{}
	for _, ch := range m.chats {
		for _, mem := range ch.Members {
			if mem.User.ID == userID {
				out = append(out, m.row(ch))
			}
		}
	}
	sortRows(out)
	return out, nil
}

func sortRows(rows []sqlstore.ChatRow) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if !a.UpdatedAt.Equal(b.UpdatedAt) {
			return a.UpdatedAt.After(b.UpdatedAt)
		}
		return a.Chat.ID > b.Chat.ID
	})
}

func (m *model) Chat(_ context.Context, chatID int64) (domain.Chat, error) {
	m.loads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.chats[chatID]
	if !ok {
		return domain.Chat{}, fmt.Errorf("chat %d: %w", chatID, domain.ErrNotFound)
	}
	return m.row(ch).Chat, nil
}

func (m *model) MessagesByID(_ context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int64]domain.Message{}
	for i, id := range ids {
		for _, x := range m.msgs[chatIDs[i]] {
			if x.ID == id {
				out[id] = x
			}
		}
	}
	return out, nil
}

// History serves only what summaries read: the newest message.
func (m *model) History(_ context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms := m.msgs[chatID]
	if q.Before != 0 || q.After != 0 || q.Limit != 1 {
		return nil, false, errors.New("model: only the newest message is served")
	}
	if len(ms) == 0 {
		return []domain.Message{}, false, nil
	}
	return ms[len(ms)-1:], len(ms) > 1, nil
}

func (m *model) ReadPositions(_ context.Context, userID int64, chatIDs []int64) (map[int64]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int64]int64{}
	for _, c := range chatIDs {
		out[c] = m.reads[[2]int64{c, userID}]
	}
	return out, nil
}

func (m *model) UnreadCount(_ context.Context, chatID, userID, after int64) (int, error) {
	m.unreadQs.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, x := range m.msgs[chatID] {
		if x.ID > after && x.Author.ID != userID {
			n++
		}
	}
	return n, nil
}

// list is userID's chat list as the API defines it, computed from the model.
func (m *model) list(userID int64) []domain.ChatSummary {
	rows, _ := m.AllUserChats(context.Background(), userID)
	m.rebuilds.Add(-1)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]domain.ChatSummary, 0, len(rows))
	for _, r := range rows {
		s := domain.ChatSummary{
			ID: r.Chat.ID, Kind: r.Chat.Kind, Title: r.Chat.Title, Channel: domain.ChatChannel(r.Chat.ID),
			MembersCount: len(r.Chat.Members), UpdatedAt: r.UpdatedAt.UTC(),
			ReadMessageID: m.reads[[2]int64{r.Chat.ID, userID}],
		}
		if r.Chat.Kind == domain.KindDirect {
			s.Title = domain.DirectTitle(r.Chat.Members, userID)
		}
		if ms := m.msgs[r.Chat.ID]; len(ms) > 0 {
			last := ms[len(ms)-1]
			s.LastMessage = &last
		}
		for _, x := range m.msgs[r.Chat.ID] {
			if x.ID > s.ReadMessageID && x.Author.ID != userID {
				s.UnreadCount++
			}
		}
		out = append(out, s)
	}
	return out
}

// ---- building event logs ----

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// evlog builds a log of events with consecutive sequences, as the stream
// would assign them, keeping each chat's members to fill member.added.
type evlog struct {
	t       testing.TB
	seq     uint64
	events  []event.Event
	members map[int64][]domain.Member
	chats   map[int64]domain.Chat
	users   map[int64]domain.User
	at      time.Time // the time of the next event; each event advances it by 1ms unless frozen
	frozen  bool
}

func newLog(t testing.TB, startSeq uint64) *evlog {
	return &evlog{t: t, seq: startSeq, members: map[int64][]domain.Member{}, chats: map[int64]domain.Chat{},
		users: map[int64]domain.User{}, at: t0}
}

func user(id int64) domain.User { return domain.User{ID: id, Name: fmt.Sprintf("user%d", id)} }

func (l *evlog) add(typ event.Type, chatID, actor int64, data any) event.Event {
	l.t.Helper()
	env, err := event.New(typ, chatID, actor, l.at, data)
	if err != nil {
		l.t.Fatal(err)
	}
	l.seq++
	if !l.frozen {
		l.at = l.at.Add(time.Millisecond)
	}
	ev := event.Event{Seq: l.seq, Envelope: env}
	l.events = append(l.events, ev)
	return ev
}

func (l *evlog) group(chatID int64, title string, userIDs ...int64) event.Event {
	var ms []domain.Member
	for i, u := range userIDs {
		role := domain.RoleMember
		if i == 0 {
			role = domain.RoleAdmin
		}
		ms = append(ms, domain.Member{User: user(u), Role: role})
	}
	kind := domain.KindGroup
	if title == "" {
		kind = domain.KindDirect
	}
	ch := domain.Chat{ID: chatID, Kind: kind, Title: title, CreatedAt: l.at, Members: ms}
	l.chats[chatID] = ch
	l.members[chatID] = slices.Clone(ms)
	return l.add(event.ChatCreated, chatID, userIDs[0], event.ChatCreatedData{Chat: ch})
}

func (l *evlog) direct(chatID, a, b int64) event.Event { return l.group(chatID, "", a, b) }

func (l *evlog) msg(chatID, author int64, text string) event.Event {
	return l.msgClient(chatID, author, text, fmt.Sprintf("c%d", l.seq+1))
}

func (l *evlog) msgClient(chatID, author int64, text, clientID string) event.Event {
	return l.add(event.MessageCreated, chatID, author, event.MessageCreatedData{Author: user(author), Text: text, ClientID: clientID})
}

func (l *evlog) read(chatID, userID, msgID int64) event.Event {
	return l.add(event.ReadMoved, chatID, userID, event.ReadMovedData{UserID: userID, MessageID: msgID})
}

func (l *evlog) join(chatID, userID int64) event.Event {
	m := domain.Member{User: user(userID), Role: domain.RoleMember}
	l.members[chatID] = append(l.members[chatID], m)
	ch := l.chats[chatID]
	ch.Members = slices.Clone(l.members[chatID])
	return l.add(event.MemberAdded, chatID, userID, event.MemberAddedData{Member: m, Chat: ch})
}

func (l *evlog) leave(chatID, userID int64) event.Event {
	l.members[chatID] = slices.DeleteFunc(l.members[chatID], func(m domain.Member) bool { return m.User.ID == userID })
	return l.add(event.MemberRemoved, chatID, userID, event.MemberRemovedData{UserID: userID, MembersCount: len(l.members[chatID])})
}

// ---- inspecting Redis ----

// dump renders every key under prefix canonically, to compare whole states.
func dump(t testing.TB, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		// SCAN sees one node's keys: every master's, on Redis Cluster.
		var mu sync.Mutex
		err := cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			part := dump(t, node, prefix)
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(out, part)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v string
		switch typ {
		case "hash":
			h := rdb.HGetAll(ctx, k).Val()
			var parts []string
			for f, x := range h {
				parts = append(parts, f+"="+x)
			}
			sort.Strings(parts)
			v = strings.Join(parts, "\n")
		case "set":
			s := rdb.SMembers(ctx, k).Val()
			sort.Strings(s)
			v = strings.Join(s, ",")
		case "zset":
			for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				v += fmt.Sprintf("%v@%v ", z.Member, z.Score)
			}
		default:
			v = typ + ":" + rdb.Get(ctx, k).Val()
		}
		out[strings.TrimPrefix(k, prefix)] = v
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func diffDumps(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "only before: "+k)
		} else if v != w {
			out = append(out, fmt.Sprintf("%s:\n  before %q\n  after  %q", k, v, w))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "only after: "+k)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// flush deletes every key under prefix at once, as FLUSHDB would for this
// prefix (on Redis Cluster, at once on each master, as FLUSHALL does).
func flush(t testing.TB, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	// The flag lets one script delete keys of every slot of its node.
	const script = `#!lua flags=allow-cross-slot-keys
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end
return 1`
	ctx := context.Background()
	var err error
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		err = cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.Eval(ctx, script, nil, prefix+"*").Err()
		})
	} else {
		err = rdb.Eval(ctx, script, nil, prefix+"*").Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// failingLoader fails every call: the cache must not need MySQL.
type failingLoader struct{}

var errNoLoader = errors.New("loader must not be called here")

func (failingLoader) AllUserChats(context.Context, int64) ([]sqlstore.ChatRow, error) {
	return nil, errNoLoader
}
func (failingLoader) Chat(context.Context, int64) (domain.Chat, error) {
	return domain.Chat{}, errNoLoader
}
func (failingLoader) MessagesByID(context.Context, []int64, []int64) (map[int64]domain.Message, error) {
	return nil, errNoLoader
}
func (failingLoader) ReadPositions(context.Context, int64, []int64) (map[int64]int64, error) {
	return nil, errNoLoader
}
func (failingLoader) UnreadCount(context.Context, int64, int64, int64) (int, error) {
	return 0, errNoLoader
}
