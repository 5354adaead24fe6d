package workertest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// Scenario is the log every check runs on: the events the system really has
// (message.created, message.edited, message.deleted, message.hidden,
// read.moved, chat.created, chat.updated, member.added, member.updated,
// member.removed),
// as the gateway appends them, plus an event type no worker knows yet, two
// poison events and bytes that are no event at all. Everything is fixed
// (ids, times, texts), so that every test's log holds the same events under
// the same sequences, and projections of different logs can be compared.
type Scenario struct {
	Users []domain.User
	// Gateway is what the gateway writes to MySQL beside the log (users are
	// created first, in Users order), in log order; see SeedMySQL.
	Gateway []GatewayOp
	Appends []Append // in log order: Appends[i] gets sequence i+1
}

// GatewayOp is one chat or membership change the gateway makes in MySQL.
// Exactly one field is set.
type GatewayOp struct {
	Create *domain.Chat // a chat created with its members (the event's payload)
	Add    *MemberChange
	Remove *MemberChange
	Role   *MemberChange // Member.Role is the new role
	Title  *domain.Chat  // the chat renamed (ID and Title)
	Rename *domain.User  // a user renamed (ID and the new Name)
}

// MemberChange is a member added to or removed from a chat.
type MemberChange struct {
	ChatID int64
	Member domain.Member
	At     time.Time
	After  domain.Chat // the chat afterwards, as the event carries it
}

// Append is one append to the log.
type Append struct {
	Envelope event.Envelope
	Raw      []byte // when set, appended as is instead of Envelope: no event at all
	MsgID    string // Nats-Msg-Id, as the gateway sets it for sends
	// Poison says the event can never be applied: every worker must report
	// it as permanent (or, for Raw, the runtime dead-letters it).
	Poison bool
}

// Subject is where the append goes.
func (a Append) Subject() string {
	return fmt.Sprintf("chat.%d.%s", a.Envelope.ChatID, event.SubjectKind(a.Envelope.Type))
}

// Channels are every Centrifugo channel the scenario's publications can reach.
func (sc *Scenario) Channels() []string {
	var out []string
	for _, op := range sc.Gateway {
		if op.Create != nil {
			out = append(out, domain.ChatChannel(op.Create.ID))
		}
	}
	for _, u := range sc.Users {
		out = append(out, domain.PersonalChannel(u.ID))
	}
	return out
}

// epoch is when the scenario happens; times are whole milliseconds, as the
// log and the database keep them.
var epoch = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

// NewScenario builds the scenario. Its chats: 1 "team" (alice, bob, carol;
// dave joins, carol leaves), 2 alice-bob, 3 "ops" (carol, dave, erin; erin
// leaves and comes back), 4 carol-erin.
func NewScenario() *Scenario {
	b := &builder{sc: &Scenario{}}
	alice, bob, carol, dave, erin := b.user("alice"), b.user("bob"), b.user("carol"), b.user("dave"), b.user("erin")
	team := b.group(1, "team", alice, bob, carol)
	direct := b.direct(2, alice, bob)
	ops := b.group(3, "ops", carol, dave, erin)
	pair := b.direct(4, carol, erin)

	var erinsFirst string
	for round := range 6 {
		b.send(team, alice, "")
		b.send(team, bob, "")
		b.send(direct, bob, "")
		b.send(ops, dave, "")
		if c := b.send(pair, erin, ""); round == 0 {
			erinsFirst = c
		}
		switch round {
		case 0:
			b.read(team, carol)
			b.read(direct, alice)
		case 1:
			// An event written before groups' member lists were left
			// out: the whole list, no count.
			b.add(team, dave, true)
			b.remove(ops, erin)
			// A message MySQL would refuse (empty text): poison for every worker.
			b.poison(team, alice, event.MessageCreatedData{Author: alice, Text: "", ClientID: "empty"})
			// An edit that empties the text: poison, like such a message.
			b.raw(mustEnvelope(event.MessageEdited, team.ID, alice.ID, b.tick(), event.MessageEditedData{
				Message: b.sentMsg[b.message(team, 1)]}, func(d *event.MessageEditedData) { d.Message.Text = "" }), true)
		case 2:
			// bob edits his message twice: the last edit wins everywhere.
			b.edit(team, 1, "bob says: edited once")
			b.edit(team, 1, "bob says: edited twice")
			b.send(team, dave, "")
			b.remove(team, carol)
			// A type no worker knows yet: skipped by all.
			b.raw(event.Envelope{V: event.Version, Type: "message.pinned", ChatID: direct.ID, ActorID: bob.ID,
				At: b.tick(), Data: json.RawMessage(`{"id": 3, "text": "edited"}`)}, false)
			// A payload that is not an object: poison.
			b.raw(event.Envelope{V: event.Version, Type: event.MessageCreated, ChatID: ops.ID, ActorID: dave.ID,
				At: b.tick(), Data: json.RawMessage(`"not an object"`)}, true)
		case 3:
			// The last message of alice-bob deleted: the one before takes
			// its place. An edit the gateway let through just after (it
			// read a lagging MySQL) must not bring it back.
			deleted := b.message(direct, 0)
			b.del(direct, 0)
			b.editSeq(direct, deleted, "too late")
			// bob hides one of team's messages from his own view.
			b.hide(team, bob, 2)
			// As the gateway writes it now: no member list for a group.
			b.add(ops, erin, false)
			// alice's first send in team again, past the log's duplicate
			// window (another Nats-Msg-Id): the same message, a new id.
			b.send(team, alice, "c1-1")
			// Bytes that do not decode: the runtime dead-letters them.
			b.sc.Appends = append(b.sc.Appends, Append{Envelope: event.Envelope{ChatID: pair.ID, Type: event.MessageCreated},
				Raw: []byte("not json"), Poison: true})
		case 4:
			b.read(team, bob)
			b.send(ops, dave, "")
			// A read in a chat too big for read receipts on its channel
			// (members_count beyond the notifier's limit): the stores apply
			// it like any other, the notifier tells the reader only.
			b.append(event.ReadMoved, ops.ID, erin.ID, b.tick(),
				event.ReadMovedData{UserID: erin.ID, MessageID: int64(b.message(ops, 0)), MembersCount: 5000}, "")
			b.read(ops, erin)
			// A read that moves back: positions only move forward.
			b.readAt(team, dave, b.message(team, 3))
			// carol clears her history of carol-erin.
			b.clear(pair, carol)
			// team renamed; dave made a moderator of ops, then muted.
			b.retitle(team, "team, renamed")
			b.setRole(ops, dave, domain.RoleModerator)
			b.setRole(ops, dave, domain.RoleMuted)
		case 5:
			// The newest message of ops edited: every member's list shows it.
			b.edit(ops, 0, "dave says: fixed")
			// An older message of team deleted, and alice hides the last
			// one of alice-bob from her view only.
			b.del(team, 4)
			b.hide(direct, alice, 0)
			// bob renames himself: each of his chats hears of it.
			b.rename(bob, "robert", team, direct)
		}
	}
	b.read(team, alice)
	b.read(pair, carol)
	// A retried send as a chat's last event: it must not become the chat's
	// last message, nor move its author's read position, however often it
	// is applied.
	b.send(pair, erin, erinsFirst)
	return b.sc
}

type builder struct {
	sc       *Scenario
	clock    int
	sent     int
	msgs     map[int64][]uint64        // chat -> sequences of its messages
	texts    map[string]string         // client id -> text
	sentMsg  map[uint64]domain.Message // sequence -> the message as sent, and edited
	versions map[int64]int64           // chat -> its version (the changes staged so far)
}

func (b *builder) tick() time.Time {
	b.clock++
	return epoch.Add(time.Duration(b.clock) * time.Second)
}

func (b *builder) user(name string) domain.User {
	u := domain.User{ID: int64(len(b.sc.Users) + 1), Name: name}
	b.sc.Users = append(b.sc.Users, u)
	return u
}

func (b *builder) chat(id int64, kind domain.ChatKind, title string, members []domain.Member) *domain.Chat {
	sortMembers(members)
	c := &domain.Chat{ID: id, Kind: kind, Title: title, CreatedAt: b.tick(), Members: members}
	created := cloneChat(*c) // c changes with later membership events
	b.sc.Gateway = append(b.sc.Gateway, GatewayOp{Create: &created})
	b.append(event.ChatCreated, c.ID, members[0].User.ID, c.CreatedAt, event.ChatCreatedData{Chat: *c}, "")
	return c
}

func (b *builder) group(id int64, title string, creator domain.User, others ...domain.User) *domain.Chat {
	members := []domain.Member{{User: creator, Role: domain.RoleAdmin}}
	for _, u := range others {
		members = append(members, domain.Member{User: u, Role: domain.RoleMember})
	}
	return b.chat(id, domain.KindGroup, title, members)
}

func (b *builder) direct(id int64, x, y domain.User) *domain.Chat {
	return b.chat(id, domain.KindDirect, "", []domain.Member{{User: x, Role: domain.RoleMember}, {User: y, Role: domain.RoleMember}})
}

// add makes u a member of c; legacy writes the event as it was before
// groups' member lists were left out of it.
func (b *builder) add(c *domain.Chat, u domain.User, legacy bool) {
	m := domain.Member{User: u, Role: domain.RoleMember}
	c.Members = append(c.Members, m)
	sortMembers(c.Members)
	ch := MemberChange{ChatID: c.ID, Member: m, At: b.tick(), After: cloneChat(*c)}
	b.sc.Gateway = append(b.sc.Gateway, GatewayOp{Add: &ch})
	data := event.NewMemberAddedData(m, ch.After)
	if legacy {
		data = event.MemberAddedData{Member: m, Chat: ch.After}
	}
	b.append(event.MemberAdded, c.ID, c.Members[0].User.ID, ch.At, data, "")
}

func (b *builder) remove(c *domain.Chat, u domain.User) {
	var kept []domain.Member
	for _, m := range c.Members {
		if m.User.ID != u.ID {
			kept = append(kept, m)
		}
	}
	c.Members = kept
	ch := MemberChange{ChatID: c.ID, Member: domain.Member{User: u}, At: b.tick(), After: cloneChat(*c)}
	b.sc.Gateway = append(b.sc.Gateway, GatewayOp{Remove: &ch})
	b.append(event.MemberRemoved, c.ID, c.Members[0].User.ID, ch.At,
		event.MemberRemovedData{UserID: u.ID, MembersCount: len(c.Members)}, "")
}

// retitle renames a group.
func (b *builder) retitle(c *domain.Chat, title string) {
	c.Title = title
	after := cloneChat(*c)
	b.sc.Gateway = append(b.sc.Gateway, GatewayOp{Title: &after})
	d := event.ChatUpdatedData{Chat: after, MembersCount: len(after.Members)}
	d.Chat.Members = nil
	b.append(event.ChatUpdated, c.ID, c.Members[0].User.ID, b.tick(), d, "")
}

// setRole gives u a role in c.
func (b *builder) setRole(c *domain.Chat, u domain.User, role domain.Role) {
	for i := range c.Members {
		if c.Members[i].User.ID == u.ID {
			c.Members[i].Role = role
		}
	}
	m := domain.Member{User: u, Role: role}
	ch := MemberChange{ChatID: c.ID, Member: m, At: b.tick(), After: cloneChat(*c)}
	b.sc.Gateway = append(b.sc.Gateway, GatewayOp{Role: &ch})
	b.append(event.MemberUpdated, c.ID, c.Members[0].User.ID, ch.At, event.MemberUpdatedData{Member: m}, "")
}

// rename renames u, with a member.updated event in each of chats (those u
// is a member of).
func (b *builder) rename(u domain.User, name string, chats ...*domain.Chat) {
	before := u
	u.Name = name
	b.sc.Gateway = append(b.sc.Gateway, GatewayOp{Rename: &u})
	at := b.tick()
	for _, c := range chats {
		for i := range c.Members {
			if c.Members[i].User.ID == u.ID {
				c.Members[i].User = u
				b.append(event.MemberUpdated, c.ID, u.ID, at, event.MemberUpdatedData{Member: c.Members[i], Previous: &before}, "")
			}
		}
	}
}

// send appends a message; clientID "" makes a fresh one, and a known one
// sends that message again (text included), as a client's retry does.
func (b *builder) send(c *domain.Chat, author domain.User, clientID string) string {
	if b.msgs == nil {
		b.msgs, b.texts = map[int64][]uint64{}, map[string]string{}
	}
	var msgID string
	if clientID == "" {
		b.sent++
		clientID = fmt.Sprintf("c%d-%d", c.ID, b.sent)
		b.texts[clientID] = fmt.Sprintf("%s says %d", author.Name, b.sent)
		msgID = fmt.Sprintf("m:%d:%d:%s", c.ID, author.ID, clientID)
	} else {
		msgID = "late-retry-" + clientID
	}
	at := b.tick()
	seq := b.append(event.MessageCreated, c.ID, author.ID, at, event.MessageCreatedData{
		Author: author, Text: b.texts[clientID], ClientID: clientID}, msgID)
	b.msgs[c.ID] = append(b.msgs[c.ID], seq)
	if b.sentMsg == nil {
		b.sentMsg = map[uint64]domain.Message{}
	}
	b.sentMsg[seq] = domain.Message{ID: int64(seq), ChatID: c.ID, Author: author, Text: b.texts[clientID], SentAt: at, ClientID: clientID}
	return clientID
}

// edit appends an edit, by its author, of a chat's message counted from its
// last (0).
func (b *builder) edit(c *domain.Chat, back int, text string) { b.editSeq(c, b.message(c, back), text) }

func (b *builder) editSeq(c *domain.Chat, seq uint64, text string) {
	m := b.sentMsg[seq]
	m.Text = text
	b.sentMsg[seq] = m
	b.append(event.MessageEdited, c.ID, m.Author.ID, b.tick(), event.MessageEditedData{Message: m},
		fmt.Sprintf("e:%d:%d:%d", c.ID, seq, b.clock))
}

// del deletes a chat's message (counted from its last) for everyone.
func (b *builder) del(c *domain.Chat, back int) {
	m := b.sentMsg[b.message(c, back)]
	b.append(event.MessageDeleted, c.ID, m.Author.ID, b.tick(), event.MessageDeletedData{
		MessageID: m.ID, AuthorID: m.Author.ID, ClientID: m.ClientID, SentAt: m.SentAt}, fmt.Sprintf("d:%d:%d", c.ID, m.ID))
}

// hide hides a chat's message (counted from its last) from u's own view.
func (b *builder) hide(c *domain.Chat, u domain.User, back int) {
	id := int64(b.message(c, back))
	b.append(event.MessageHidden, c.ID, u.ID, b.tick(), event.MessageHiddenData{UserID: u.ID, MessageID: id},
		fmt.Sprintf("h:%d:%d:%d", c.ID, u.ID, id))
}

// clear clears u's history of a chat up to its newest message.
func (b *builder) clear(c *domain.Chat, u domain.User) {
	id := int64(b.message(c, 0))
	b.append(event.MessageHidden, c.ID, u.ID, b.tick(), event.MessageHiddenData{UserID: u.ID, ThroughID: id},
		fmt.Sprintf("c:%d:%d:%d", c.ID, u.ID, id))
}

// mustEnvelope builds an envelope whose payload spoil changes first (to make
// poison of a valid payload).
func mustEnvelope[T any](t event.Type, chat, actor int64, at time.Time, data T, spoil func(*T)) event.Envelope {
	spoil(&data)
	env, err := event.New(t, chat, actor, at, data)
	if err != nil {
		panic(err)
	}
	return env
}

// message is the sequence of a chat's message, counted from its last (0).
func (b *builder) message(c *domain.Chat, back int) uint64 {
	ids := b.msgs[c.ID]
	return ids[len(ids)-1-back]
}

func (b *builder) read(c *domain.Chat, u domain.User) { b.readAt(c, u, b.message(c, 0)) }

func (b *builder) readAt(c *domain.Chat, u domain.User, seq uint64) {
	b.append(event.ReadMoved, c.ID, u.ID, b.tick(), event.ReadMovedData{UserID: u.ID, MessageID: int64(seq)}, "")
}

func (b *builder) poison(c *domain.Chat, author domain.User, d event.MessageCreatedData) {
	env, err := event.New(event.MessageCreated, c.ID, author.ID, b.tick(), d)
	if err != nil {
		panic(err)
	}
	b.sc.Appends = append(b.sc.Appends, Append{Envelope: env, Poison: true})
}

func (b *builder) raw(env event.Envelope, poison bool) {
	b.sc.Appends = append(b.sc.Appends, Append{Envelope: env, Poison: poison})
}

func (b *builder) append(t event.Type, chat, actor int64, at time.Time, data any, msgID string) uint64 {
	env, err := event.New(t, chat, actor, at, data)
	if err != nil {
		panic(err) // the scenario's own payloads always marshal
	}
	switch t {
	case event.ChatCreated, event.ChatUpdated, event.MemberAdded, event.MemberRemoved, event.MemberUpdated:
		// As the gateway's outbox numbers a chat's changes (SeedMySQL's
		// store calls count the same).
		if b.versions == nil {
			b.versions = map[int64]int64{}
		}
		b.versions[chat]++
		env.ChatVersion = b.versions[chat]
	}
	b.sc.Appends = append(b.sc.Appends, Append{Envelope: env, MsgID: msgID})
	return uint64(len(b.sc.Appends))
}

func sortMembers(ms []domain.Member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].User.ID < ms[j-1].User.ID; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

func cloneChat(c domain.Chat) domain.Chat {
	c.Members = append([]domain.Member(nil), c.Members...)
	return c
}

// SeededMySQL makes a fresh database for the test, migrates it and seeds it
// with SeedMySQL: what a worker that reads MySQL finds there. It returns the
// database's DSN.
func SeededMySQL(t *testing.T, sc *Scenario) string {
	t.Helper()
	st, dsn := MigratedMySQL(t)
	SeedMySQL(t, st, sc)
	return dsn
}

// MigratedMySQL makes a fresh database for the test with the current schema
// and returns the store open on it (closed at the end of the test) and its DSN.
func MigratedMySQL(t *testing.T) (*sqlstore.Store, string) {
	t.Helper()
	dsn := testkit.MySQL(t)
	st, err := sqlstore.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st, dsn
}

// SeedUsers writes the scenario's users (as they are before any rename)
// into a fresh, migrated database: what a restore from a backup taken
// before the log began would hold (the log does not carry users).
func SeedUsers(t testing.TB, st *sqlstore.Store, sc *Scenario) {
	t.Helper()
	for _, u := range sc.Users {
		got, err := st.CreateUser(context.Background(), u.Name, []byte("not a real hash"), epoch)
		if err != nil {
			t.Fatalf("seed user %s: %v", u.Name, err)
		}
		if got != u {
			t.Fatalf("seed: the store made user %+v, the scenario needs %+v (is the database fresh?)", got, u)
		}
	}
}

// SeedMySQL writes what the gateway writes beside the log (users, chats,
// memberships) into a fresh, migrated database, through the same store
// calls. It fails the test when the store assigns other ids than the
// scenario's or publishes other chats than its events carry.
func SeedMySQL(t testing.TB, st *sqlstore.Store, sc *Scenario) {
	t.Helper()
	SeedUsers(t, st, sc)
	ctx := context.Background()
	// The chat as the change left it must be the one the scenario's event
	// carries (no event is staged: the scenario's log holds the events).
	same := func(what string, want domain.Chat, got domain.Chat, err error) error {
		if err != nil {
			return err
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			return fmt.Errorf("seed %s: the store makes %s, the scenario's event carries %s", what, g, w)
		}
		return nil
	}
	for _, op := range sc.Gateway {
		var err error
		switch {
		case op.Create != nil && op.Create.Kind == domain.KindDirect:
			c := op.Create
			got, _, cerr := st.CreateDirectChat(ctx, c.Members[0].User, c.Members[1].User, c.CreatedAt, nil)
			err = same("chat", *c, got, cerr)
		case op.Create != nil:
			c := op.Create
			var creator int64
			for _, m := range c.Members {
				if m.Role == domain.RoleAdmin {
					creator = m.User.ID
				}
			}
			got, cerr := st.CreateGroupChat(ctx, c.Title, creator, c.Members, c.CreatedAt, nil)
			err = same("chat", *c, got, cerr)
		case op.Add != nil:
			got, _, aerr := st.AddMember(ctx, op.Add.ChatID, op.Add.Member.User, op.Add.Member.Role, op.Add.At, nil)
			err = same("member added", op.Add.After, got, aerr)
		case op.Remove != nil:
			if err = st.RemoveMember(ctx, op.Remove.ChatID, op.Remove.Member.User.ID, nil, nil); err == nil {
				got, cerr := st.Chat(ctx, op.Remove.ChatID)
				err = same("member removed", op.Remove.After, got, cerr)
			}
		case op.Role != nil:
			got, _, rerr := st.SetRole(ctx, op.Role.ChatID, op.Role.Member.User.ID, op.Role.Member.Role, nil, nil)
			err = same("role set", op.Role.After, got, rerr)
		case op.Rename != nil:
			_, _, err = st.UpdateUser(ctx, op.Rename.ID, op.Rename.Name, nil, func(domain.User) sqlstore.Stage { return nil })
		case op.Title != nil:
			if _, _, err = st.SetTitle(ctx, op.Title.ID, op.Title.Title, nil, nil); err == nil {
				// The chat as MySQL reads it back, not as SetTitle answered.
				got, cerr := st.Chat(ctx, op.Title.ID)
				err = same("title set", *op.Title, got, cerr)
			}
		}
		if err != nil {
			t.Fatalf("seed mysql: %v", err)
		}
	}
}

// Sharded is a fresh main database and shard databases beyond it, migrated,
// with the scenario's users, chats and memberships seeded through a store
// that places chats on the shards only (main weighs 0), as a gateway would.
type Sharded struct {
	MainDSN string
	Shards  []sqlstore.ShardDSN
	// DBs are connections to the main database and each shard, main first.
	DBs []*sql.DB
}

// ShardedMySQL makes a Sharded installation of n shards and seeds it with
// SeedMySQL (seed false: users only, as a restore before the log began).
func ShardedMySQL(t *testing.T, sc *Scenario, n int, seed bool) Sharded {
	t.Helper()
	out := Sharded{MainDSN: testkit.MySQL(t)}
	weights := map[string]int{sqlstore.MainShard: 0}
	dsns := []string{out.MainDSN}
	for i := range n {
		name := fmt.Sprintf("s%d", i+1)
		dsn := testkit.MySQL(t)
		out.Shards = append(out.Shards, sqlstore.ShardDSN{Name: name, DSN: dsn})
		weights[name] = 1
		dsns = append(dsns, dsn)
	}
	st, err := sqlstore.Open(t.Context(), out.MainDSN, sqlstore.WithShards(out.Shards), sqlstore.WithShardWeights(weights))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if seed {
		SeedMySQL(t, st, sc)
	} else {
		SeedUsers(t, st, sc)
	}
	for _, dsn := range dsns {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		out.DBs = append(out.DBs, db)
	}
	return out
}

// StoreWithOneDown is a writer's store of the installation that cannot
// reach its last shard (a port nothing listens on): what a writer sees while
// that shard is down. (Not the worker's Open: it would wait for the down
// shard's schema.)
func (s Sharded) StoreWithOneDown(t *testing.T) *sqlstore.Store {
	down := append([]sqlstore.ShardDSN(nil), s.Shards...)
	last := &down[len(down)-1]
	last.DSN = fmt.Sprintf("root@tcp(127.0.0.1:%d)/down?timeout=300ms", testkit.FreePort(t))
	st, err := sqlstore.OpenProjection(t.Context(), s.MainDSN, sqlstore.WithShards(down))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// DrainParked is the down shard answering again: writer's parked parts are
// applied (sqlstore.DrainParked) by a store that reaches every shard. It
// fails when none was parked (the test would then prove nothing) or some
// are left.
func (s Sharded) DrainParked(t *testing.T, writer string) {
	t.Helper()
	st, err := sqlstore.OpenProjection(t.Context(), s.MainDSN, sqlstore.WithShards(s.Shards))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.DrainParked(t.Context(), writer)
	if err != nil {
		t.Fatal(err)
	}
	down := s.Shards[len(s.Shards)-1].Name
	if got.Drained[down] == 0 || len(got.Waiting) > 0 {
		t.Fatalf("drained %v, still waiting %v: want parts of %s parked and all applied", got.Drained, got.Waiting, down)
	}
}

// SQLRowsAll is SQLRows over several databases (a sharded installation),
// their rows together; a key found in two of them fails.
func SQLRowsAll(ctx context.Context, dbs []*sql.DB, queries map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for i, db := range dbs {
		rows, err := SQLRows(ctx, db, queries)
		if err != nil {
			return nil, err
		}
		for k, v := range rows {
			if _, dup := out[k]; dup {
				return nil, fmt.Errorf("%s is in two databases (the second: number %d)", k, i)
			}
			out[k] = v
		}
	}
	return out, nil
}

// ShardProgress is a sharded writer's progress as SQLRows shows one
// database's ("progress/<partition>" → "last_seq=<n>"): per partition, the
// highest mark of the databases (a shard a batch did not touch may record
// it later; sqlstore.idleProgressEvery).
func ShardProgress(ctx context.Context, dbs []*sql.DB, table string) (map[string]string, error) {
	best := map[string]int64{}
	for _, db := range dbs {
		rows, err := db.QueryContext(ctx, "SELECT partition_id, last_seq FROM "+table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p string
			var seq int64
			if err := rows.Scan(&p, &seq); err != nil {
				rows.Close()
				return nil, err
			}
			best[p] = max(best[p], seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := map[string]string{}
	for p, seq := range best {
		out["progress/"+p] = fmt.Sprintf("last_seq=%d", seq)
	}
	return out, nil
}
