package chatcache_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// mysqlWorld writes MySQL as the gateway (chats, members) and the persister
// (messages, reads) do, and records the events the log would hold.
type mysqlWorld struct {
	t      *testing.T
	st     *sqlstore.Store
	seq    uint64
	at     time.Time
	events []event.Event
}

func (w *mysqlWorld) emit(typ event.Type, chatID, actor int64, data any) event.Event {
	w.t.Helper()
	env, err := event.New(typ, chatID, actor, w.at, data)
	if err != nil {
		w.t.Fatal(err)
	}
	w.seq++
	ev := event.Event{Seq: w.seq, Envelope: env}
	w.events = append(w.events, ev)
	return ev
}

func (w *mysqlWorld) send(chatID int64, author domain.User, clientID string) {
	w.t.Helper()
	ev := w.emit(event.MessageCreated, chatID, author.ID, event.MessageCreatedData{Author: author, Text: "text " + clientID, ClientID: clientID})
	m, _ := ev.Message()
	if err := w.st.ApplyBatch(w.t.Context(), sqlstore.Batch{Progress: sqlstore.Progress{0: ev.Seq}, Messages: []domain.Message{m}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *mysqlWorld) read(chatID, userID, msgID int64) {
	w.t.Helper()
	ev := w.emit(event.ReadMoved, chatID, userID, event.ReadMovedData{UserID: userID, MessageID: msgID})
	if err := w.st.ApplyBatch(w.t.Context(), sqlstore.Batch{Progress: sqlstore.Progress{0: ev.Seq},
		Reads: []sqlstore.ReadMove{{ChatID: chatID, UserID: userID, MessageID: msgID}}}); err != nil {
		w.t.Fatal(err)
	}
}

func TestRebuildFromMariaDBEqualsStateBefore(t *testing.T) {
	st, err := sqlstore.Open(t.Context(), testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	c, rdb, prefix := newCache(t, st)
	c.SetRecentMessages(8) // some readers fall behind the cached window: counted in MySQL
	w := &mysqlWorld{t: t, st: st, seq: 1000, at: time.Now().UTC().Truncate(time.Millisecond)}
	var users []domain.User
	for i := range 6 {
		u, err := st.CreateUser(t.Context(), fmt.Sprintf("u%d", i), []byte("h"), w.at)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	for _, u := range users {
		if _, _, err := c.ChatList(ctx, u.ID, "", 10); err != nil { // warm, empty
			t.Fatal(err)
		}
	}
	// Chats and members are written as the gateway writes them, and their
	// events appended after (the gateway's outbox relay does that).
	publishCreated := func(ch domain.Chat) {
		w.emit(event.ChatCreated, ch.ID, ch.Members[0].User.ID, event.ChatCreatedData{Chat: ch})
	}
	var chats []domain.Chat
	for i := range 3 {
		members := []domain.Member{{User: users[i], Role: domain.RoleAdmin}}
		for _, u := range users[i+1 : i+4] {
			members = append(members, domain.Member{User: u, Role: domain.RoleMember})
		}
		ch, err := st.CreateGroupChat(t.Context(), fmt.Sprintf("group %d", i), users[i].ID, members, w.at, nil)
		if err != nil {
			t.Fatal(err)
		}
		publishCreated(ch)
		chats = append(chats, ch)
	}
	for _, pair := range [][2]int{{0, 1}, {2, 5}, {3, 4}} {
		ch, _, err := st.CreateDirectChat(t.Context(), users[pair[0]], users[pair[1]], w.at, nil)
		if err != nil {
			t.Fatal(err)
		}
		publishCreated(ch)
		chats = append(chats, ch)
	}

	r := rand.New(rand.NewPCG(11, 12))
	sentBy := map[int64][][2]any{} // chat -> (author, client id)
	for range 400 {
		if r.IntN(4) > 0 { // runs of events in one millisecond: ties in the list order
			w.at = w.at.Add(time.Millisecond)
		}
		ch := chats[r.IntN(len(chats))]
		cur, err := st.Chat(t.Context(), ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cur.Members) == 0 {
			continue
		}
		who := cur.Members[r.IntN(len(cur.Members))].User
		switch x := r.IntN(100); {
		case x < 55:
			cid := testkit.RandomID()
			w.send(ch.ID, who, cid)
			sentBy[ch.ID] = append(sentBy[ch.ID], [2]any{who, cid})
		case x < 60:
			// A retried send past the log's duplicate window: MySQL keeps the first.
			if s := sentBy[ch.ID]; len(s) > 0 {
				p := s[r.IntN(len(s))]
				if slices.ContainsFunc(cur.Members, func(m domain.Member) bool { return m.User.ID == p[0].(domain.User).ID }) {
					w.send(ch.ID, p[0].(domain.User), p[1].(string))
				}
			}
		case x < 80:
			w.read(ch.ID, who.ID, int64(w.seq)-int64(r.IntN(30)))
		case x < 90:
			if ch.Kind == domain.KindGroup {
				nu := users[r.IntN(len(users))]
				after, added, err := st.AddMember(t.Context(), ch.ID, nu, domain.RoleMember, w.at, nil)
				if err != nil {
					t.Fatal(err)
				}
				if added {
					w.emit(event.MemberAdded, ch.ID, nu.ID, event.MemberAddedData{Member: domain.Member{User: nu, Role: domain.RoleMember}, Chat: after})
				}
			}
		default:
			if ch.Kind == domain.KindGroup && len(cur.Members) > 1 {
				if err := st.RemoveMember(t.Context(), ch.ID, who.ID, nil, nil); err != nil {
					t.Fatal(err)
				}
				w.emit(event.MemberRemoved, ch.ID, who.ID, event.MemberRemovedData{UserID: who.ID, MembersCount: len(cur.Members) - 1})
			}
		}
	}
	apply(t, c, w.events, 64)

	before := map[int64]string{}
	for _, u := range users {
		before[u.ID] = js(listAll(t, c, u.ID, 3))
	}
	// The lists built from events agree with MySQL's own ordering.
	for _, u := range users {
		rows, err := st.AllUserChats(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, row := range rows {
			want = append(want, row.Chat.ID)
		}
		if got := ids(listAll(t, c, u.ID, 50)); !slices.Equal(got, want) {
			t.Fatalf("%s: cache order %v, MySQL order %v", u.Name, got, want)
		}
	}

	flush(t, rdb, prefix)
	for _, u := range users {
		if got := js(listAll(t, c, u.ID, 4)); got != before[u.ID] {
			t.Fatalf("%s after a flush:\n got  %s\n want %s", u.Name, got, before[u.ID])
		}
	}
	// And a cache rebuilt from MySQL goes on with the log as if nothing happened.
	var more []event.Event
	n := len(w.events)
	for i := range 30 {
		ch := chats[i%len(chats)]
		cur, _ := st.Chat(t.Context(), ch.ID)
		if len(cur.Members) > 0 {
			w.send(ch.ID, cur.Members[0].User, testkit.RandomID())
		}
	}
	more = w.events[n:]
	apply(t, c, more, 7)
	flushed := chatcache.New(rdb, prefix+"fresh:", st) // rebuilt from MySQL alone
	for _, u := range users {
		got, want := js(listAll(t, c, u.ID, 5)), js(listAll(t, flushed, u.ID, 5))
		if got != want {
			t.Fatalf("%s after more events:\n cache %s\n MySQL %s", u.Name, got, want)
		}
	}
}
