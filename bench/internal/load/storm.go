package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// GroupLayout puts users into groups so that each user is in exactly k
// groups: k rounds, each a shuffle of the users cut into groups of size (a
// last group of one joins the one before). It returns each group's members.
func GroupLayout(users, k, size int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, 1))
	var groups [][]int
	for range k {
		perm := rng.Perm(users)
		var round [][]int
		for i := 0; i < users; i += size {
			round = append(round, perm[i:min(i+size, users)])
		}
		if n := len(round); n > 1 && len(round[n-1]) == 1 {
			round[n-2] = append(round[n-2], round[n-1]...)
			round = round[:n-1]
		}
		groups = append(groups, round...)
	}
	return groups
}

// GroupWorld is users and groups for the storm and account scenarios (no
// subscribers; a Fleet connects them).
type GroupWorld struct {
	Users  []User
	Chats  []ChatInfo
	ChatOf map[int64]int // chat id -> index
}

// BuildGroups registers users and creates the groups (each created by its first member).
func BuildGroups(ctx context.Context, api *API, prefix string, users int, groups [][]int, titled bool, conc int, logf func(string, ...any)) (*GroupWorld, error) {
	w := &GroupWorld{Users: make([]User, users), Chats: make([]ChatInfo, len(groups)), ChatOf: map[int64]int{}}
	started := time.Now()
	if err := parallel(ctx, users, conc, func(ctx context.Context, i int) error {
		u, err := api.Register(ctx, fmt.Sprintf("%s%d", prefix, i))
		w.Users[i] = u
		return err
	}); err != nil {
		return nil, fmt.Errorf("register users: %w", err)
	}
	logf("registered %d users in %.1fs", users, time.Since(started).Seconds())
	started = time.Now()
	if err := parallel(ctx, len(groups), conc, func(ctx context.Context, i int) error {
		g := groups[i]
		others := make([]int64, 0, len(g)-1)
		for _, m := range g[1:] {
			others = append(others, w.Users[m].ID)
		}
		title := ""
		if titled {
			title = fmt.Sprintf("storm %d", i)
		}
		c, err := api.CreateChat(ctx, w.Users[g[0]].Token, title, others)
		w.Chats[i] = ChatInfo{Chat: c, Members: g}
		return err
	}); err != nil {
		return nil, fmt.Errorf("create chats: %w", err)
	}
	for i, c := range w.Chats {
		w.ChatOf[c.ID] = i
	}
	logf("created %d chats in %.1fs", len(groups), time.Since(started).Seconds())
	return w, nil
}

// SentMsg is one accepted send of a StormSender.
type SentMsg struct {
	Chat int
	ID   int64
	At   time.Time
}

// StormSender sends at a fixed rate into random chats of a GroupWorld until stopped.
type StormSender struct {
	Sent, Failed atomic.Int64
	mu           sync.Mutex
	Accepted     []SentMsg
	Errs         map[string]int
	stop         chan struct{}
	done         chan struct{}
}

// StartSender begins sending rate messages per second (open loop, each send in its own goroutine).
func (w *GroupWorld) StartSender(api *API, rate float64, textLen int) *StormSender {
	s := &StormSender{Errs: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	tag := fmt.Sprintf("s%d-", time.Now().UnixNano()%1e9)
	text := strings.Repeat("x", max(textLen, 1))
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		start := time.Now()
		var n int64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			for due := int64(time.Since(start).Seconds()*rate) + 1; n < due; n++ {
				ci := rand.IntN(len(w.Chats))
				c := w.Chats[ci]
				author := w.Users[c.Members[rand.IntN(len(c.Members))]]
				cid := clientID(tag, n)
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.Sent.Add(1)
					at := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					id, err := api.Send(ctx, author.Token, c.ID, text, cid)
					s.mu.Lock()
					defer s.mu.Unlock()
					if err != nil {
						s.Failed.Add(1)
						msg := err.Error()
						s.Errs[msg[:min(len(msg), 120)]]++
						return
					}
					s.Accepted = append(s.Accepted, SentMsg{Chat: ci, ID: id, At: at})
				}()
			}
		}
	}()
	return s
}

// Snapshot is the sends accepted so far.
func (s *StormSender) Snapshot() []SentMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMsg(nil), s.Accepted...)
}

// Stop stops sending and waits for the answers in flight.
func (s *StormSender) Stop() {
	close(s.stop)
	<-s.done
}

// StormCheck is whether every accepted message reached every member's subscription.
type StormCheck struct {
	Messages   int64 `json:"messages"`
	Expected   int64 `json:"expected_deliveries"`
	Delivered  int64 `json:"delivered"` // realtime or reload
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated_realtime"`
}

// Check counts, for msgs, what reached each member (members[u] is user u's
// connection), waiting up to timeout for the last ones.
func (f *Fleet) Check(w *GroupWorld, members []*Member, msgs []SentMsg, timeout time.Duration) StormCheck {
	deadline := time.Now().Add(timeout)
	for {
		f.WaitReloads()
		var c StormCheck
		for _, m := range msgs {
			ch := w.Chats[m.Chat]
			for _, u := range ch.Members {
				c.Expected++
				if members[u].has(ch.ID, ch.Channel, m.ID) {
					c.Delivered++
				} else {
					c.Lost++
				}
			}
		}
		c.Messages = int64(len(msgs))
		c.Duplicated = f.RealtimeDup.Load()
		if c.Lost == 0 || time.Now().After(deadline) {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// has reports whether message id of chat chatID reached m: on the chat's
// channel (1.0 client) or its personal channel (1.1 client).
func (m *Member) has(chatID int64, channel string, id int64) bool {
	if s := m.Sub(channel); s != nil && s.Has(id) {
		return true
	}
	return m.Personal != nil && m.Personal.HasMsg(chatID, id)
}

// Missing counts, of msgs, the deliveries that have not reached their
// members yet (members[u] is user u's connection).
func Missing(w *GroupWorld, members []*Member, msgs []SentMsg) int64 {
	var n int64
	for _, m := range msgs {
		ch := w.Chats[m.Chat]
		for _, u := range ch.Members {
			if !members[u].has(ch.ID, ch.Channel, m.ID) {
				n++
			}
		}
	}
	return n
}
