package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

var (
	alice = domain.User{ID: 7, Name: "alice"}
	bob   = domain.User{ID: 8, Name: "bob"}
	carol = domain.User{ID: 9, Name: "carol"}
)

func ev(t testing.TB, seq uint64, typ event.Type, chat int64, data any) event.Event {
	t.Helper()
	env, err := event.New(typ, chat, alice.ID, time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	return event.Event{Seq: seq, Envelope: env}
}

func msg(t testing.TB, seq uint64, chat int64, text string) event.Event {
	return ev(t, seq, event.MessageCreated, chat, event.MessageCreatedData{Author: alice, Text: text, ClientID: "c" + text})
}

func handle(t testing.TB, r *relay.Relay, events ...event.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Handle(ctx, events); err != nil {
		t.Fatalf("handle: %v", err)
	}
}

// countingTransport counts HTTP requests to Centrifugo.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(req)
}

// A batch is one HTTP request, and Centrifugo applies the pipe's commands in
// the order sent: a subscriber sees 200 messages in id order, each once.
func TestOnePipeKeepsLogOrder(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	hc := relay.NewHTTPClient(5 * time.Second)
	counter := &countingTransport{next: hc.Transport}
	hc.Transport = counter
	r := relay.New(relay.Config{APIURL: c.URL + "/api", APIKey: c.APIKey, HTTPClient: hc}, quiet, nil)

	s := connect(t, c, alice.ID)
	s.subscribe(domain.ChatChannel(1))

	const n = 200
	batch := make([]event.Event, 0, n+20)
	for i := range n {
		seq := uint64(1000 + 3*i) // ids of one chat increase, with gaps (other chats' events)
		batch = append(batch, msg(t, seq, 1, fmt.Sprint(i)))
		if i%10 == 0 {
			batch = append(batch, msg(t, seq+1, 2, fmt.Sprint(i))) // another chat in the same batch
		}
	}
	handle(t, r, batch...)
	if got := counter.n.Load(); got != 1 {
		t.Fatalf("a batch of %d events took %d HTTP requests, want 1", len(batch), got)
	}

	// A sentinel after the batch: once it is here, everything before it is,
	// and a duplicate would have shown up too.
	handle(t, r, msg(t, 5000, 1, "sentinel"))
	raws := s.waitCount(domain.ChatChannel(1), n+1)
	if len(raws) != n+1 {
		t.Fatalf("received %d publications, want %d", len(raws), n+1)
	}
	ids := messageIDs(t, raws)
	checkStrictlyIncreasing(t, "chat:1", ids)
	for i := range n {
		p := decode[apijson.MessageCreated](t, raws[i])
		if want := int64(1000 + 3*i); p.Message.ID != want || p.Message.Text != fmt.Sprint(i) || p.Message.ChatID != 1 || p.Message.Author != alice {
			t.Fatalf("publication %d = %+v, want message %d with text %d", i, p.Message, want, i)
		}
	}
}

func TestReadUpdatedReachesChatAndPersonalChannels(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	r := newRelay(c)
	reader := connect(t, c, bob.ID)
	reader.subscribe(domain.ChatChannel(42))
	reader.subscribe(domain.PersonalChannel(bob.ID))
	other := connect(t, c, alice.ID)
	other.subscribe(domain.ChatChannel(42))
	other.subscribe(domain.PersonalChannel(alice.ID))

	handle(t, r, ev(t, 10, event.ReadMoved, 42, event.ReadMovedData{UserID: bob.ID, MessageID: 9}))

	want := apijson.ReadUpdated{Type: apijson.TypeReadUpdated, ChatID: 42, UserID: bob.ID, MessageID: 9}
	for _, got := range []apijson.ReadUpdated{
		decode[apijson.ReadUpdated](t, reader.waitCount(domain.ChatChannel(42), 1)[0]),
		decode[apijson.ReadUpdated](t, reader.waitCount(domain.PersonalChannel(bob.ID), 1)[0]),
		decode[apijson.ReadUpdated](t, other.waitCount(domain.ChatChannel(42), 1)[0]),
	} {
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	// Another member's read position is not sent to alice's personal channel:
	// her own read is, and it arrives as the first publication there.
	handle(t, r, ev(t, 11, event.ReadMoved, 42, event.ReadMovedData{UserID: alice.ID, MessageID: 9}))
	first := decode[apijson.ReadUpdated](t, other.waitCount(domain.PersonalChannel(alice.ID), 1)[0])
	if first.UserID != alice.ID {
		t.Fatalf("alice's personal channel got %+v first", first)
	}
}

func TestChatAddedAndRemovedOnPersonalChannels(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	r := newRelay(c)
	users := map[int64]*subscriber{}
	for _, u := range []domain.User{alice, bob, carol} {
		users[u.ID] = connect(t, c, u.ID)
		users[u.ID].subscribe(domain.PersonalChannel(u.ID))
	}
	created := time.Date(2026, 11, 27, 10, 0, 0, 123_000_000, time.UTC)
	direct := domain.Chat{ID: 50, Kind: domain.KindDirect, CreatedAt: created,
		Members: []domain.Member{{User: alice, Role: domain.RoleMember}, {User: bob, Role: domain.RoleMember}}}
	group := domain.Chat{ID: 51, Kind: domain.KindGroup, Title: "Team", CreatedAt: created,
		Members: []domain.Member{{User: alice, Role: domain.RoleAdmin}, {User: bob, Role: domain.RoleMember}}}
	groupAfter := group
	groupAfter.Members = append(append([]domain.Member(nil), group.Members...), domain.Member{User: carol, Role: domain.RoleMember})

	handle(t, r,
		ev(t, 100, event.ChatCreated, 50, event.ChatCreatedData{Chat: direct}),
		ev(t, 101, event.ChatCreated, 51, event.ChatCreatedData{Chat: group}),
		ev(t, 102, event.MemberAdded, 51, event.MemberAddedData{Member: domain.Member{User: carol, Role: domain.RoleMember}, Chat: groupAfter}),
		ev(t, 103, event.MemberRemoved, 51, event.MemberRemovedData{UserID: bob.ID, MembersCount: 2}),
	)

	summary := func(id int64, kind domain.ChatKind, title string, members int) apijson.ChatAdded {
		return apijson.NewChatAdded(domain.ChatSummary{
			ID: id, Kind: kind, Title: title, Channel: domain.ChatChannel(id), MembersCount: members,
			LastMessage: nil, UnreadCount: 0, ReadMessageID: 0, UpdatedAt: created})
	}
	checkAdded := func(user int64, i int, want apijson.ChatAdded) {
		t.Helper()
		raw := users[user].waitCount(domain.PersonalChannel(user), i+1)[i]
		got := decode[apijson.ChatAdded](t, raw)
		if g, w := time.Time(got.Chat.UpdatedAt), time.Time(want.Chat.UpdatedAt); !g.Equal(w) {
			t.Fatalf("user %d publication %d: updated_at %v, want %v", user, i, g, w)
		}
		got.Chat.UpdatedAt = want.Chat.UpdatedAt
		if got != want {
			t.Fatalf("user %d publication %d:\n got %+v\nwant %+v", user, i, got, want)
		}
	}
	checkAdded(alice.ID, 0, summary(50, domain.KindDirect, "bob", 2))
	checkAdded(bob.ID, 0, summary(50, domain.KindDirect, "alice", 2))
	checkAdded(alice.ID, 1, summary(51, domain.KindGroup, "Team", 2))
	checkAdded(bob.ID, 1, summary(51, domain.KindGroup, "Team", 2))
	checkAdded(carol.ID, 0, summary(51, domain.KindGroup, "Team", 3)) // only the newcomer hears of the join

	removed := decode[apijson.ChatRemoved](t, users[bob.ID].waitCount(domain.PersonalChannel(bob.ID), 3)[2])
	if removed != (apijson.ChatRemoved{Type: apijson.TypeChatRemoved, ChatID: 51}) {
		t.Fatalf("bob got %+v, want chat.removed of 51", removed)
	}

	// Nothing else reached anyone: a sentinel read on each personal channel
	// comes right after what was expected.
	for id, n := range map[int64]int{alice.ID: 2, bob.ID: 3, carol.ID: 1} {
		handle(t, r, ev(t, 200+uint64(id), event.ReadMoved, 99, event.ReadMovedData{UserID: id, MessageID: 1}))
		raws := users[id].waitCount(domain.PersonalChannel(id), n+1)
		if len(raws) != n+1 || decode[apijson.ReadUpdated](t, raws[n]).Type != apijson.TypeReadUpdated {
			t.Fatalf("user %d received %d publications, want %d then the sentinel: %s", id, len(raws), n, raws)
		}
	}
}

// Chat channels are private: a token for exactly this user and channel is needed.
func TestSubscribingToAChatNeedsItsToken(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	ch := domain.ChatChannel(77)
	cases := map[string]string{
		"no token":                   "",
		"token of another channel":   subToken(t, c, carol.ID, domain.ChatChannel(78)),
		"token of another user":      subToken(t, c, bob.ID, ch),
		"token signed by a stranger": sign(t, "not-the-secret", map[string]any{"sub": "9", "channel": ch, "exp": time.Now().Add(time.Hour).Unix()}),
		"expired token":              sign(t, c.HMACSecret, map[string]any{"sub": "9", "channel": ch, "exp": time.Now().Add(-time.Minute).Unix()}),
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			s := connect(t, c, carol.ID)
			s.subscribeAsync(ch, token)
			// Centrifugo answers 103 "permission denied" to a subscription
			// without a valid token, and drops the connection (3500 "invalid
			// token", no reconnect) when a well-signed token names another
			// user or channel. Either way the subscription ends for good.
			var how string
			waitFor(t, "the subscription to be refused", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.subscribed[ch] > 0 {
					return true
				}
				if e, ok := s.unsubscribed[ch]; ok {
					how = fmt.Sprintf("unsubscribed %d %s", e.Code, e.Reason)
					return e.Code == 103
				}
				for _, d := range s.disconnects {
					if d.Code == 3500 {
						how = fmt.Sprintf("disconnected %d %s", d.Code, d.Reason)
						return true
					}
				}
				return false
			})
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.subscribed[ch] != 0 {
				t.Fatalf("subscribed with %s, want refused", name)
			}
			t.Logf("refused: %s (errors %v)", how, s.errs[ch])
		})
	}
	// The right token works.
	connect(t, c, carol.ID).subscribe(ch)
}
