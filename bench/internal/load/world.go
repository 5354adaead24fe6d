// Package load is the benchmark's load generator: users, chats and live
// realtime subscribers made through the real API and real Centrifugo
// connections, open-loop and closed-loop senders, and the checks of what
// arrived (lost, duplicated, out of order, history).
package load

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"golang.org/x/sync/errgroup"
)

// ChatInfo is one chat of the world and the indexes of its members in Users.
type ChatInfo struct {
	Chat
	Members []int
	// Subscribers is how many live subscribers watch its channel.
	Subscribers int
}

// World is the users, chats and subscribers one scenario sends through.
type World struct {
	API   *API
	Users []User
	Chats []ChatInfo
	Log   func(format string, args ...any)

	clients []*centrifuge.Client
	cur     atomic.Pointer[Tracker]
	// nextSender rotates the author within each chat.
	nextSender []atomic.Uint32
}

// Spec says what world to build.
type Spec struct {
	Prefix  string // user name prefix, unique per run
	Chats   int    // chats to create
	Members int    // members per chat: 2 makes direct chats, more makes groups
	// Subscribe opens one realtime connection per user, subscribed to the
	// channels of all its chats.
	Subscribe   bool
	Concurrency int
}

// Build registers users, creates chats and, when asked, connects subscribers.
func Build(ctx context.Context, api *API, spec Spec, logf func(string, ...any)) (*World, error) {
	w := &World{API: api, Log: logf}
	conc := max(spec.Concurrency, 1)
	nUsers := spec.Chats * spec.Members
	if spec.Members > 2 {
		nUsers = spec.Members // groups share their members
	}
	w.Users = make([]User, nUsers)
	started := time.Now()
	if err := parallel(ctx, nUsers, conc, func(ctx context.Context, i int) error {
		u, err := api.Register(ctx, fmt.Sprintf("%s%d", spec.Prefix, i))
		w.Users[i] = u
		return err
	}); err != nil {
		return nil, fmt.Errorf("register users: %w", err)
	}
	logf("registered %d users in %.1fs", nUsers, time.Since(started).Seconds())

	w.Chats = make([]ChatInfo, spec.Chats)
	started = time.Now()
	if err := parallel(ctx, spec.Chats, conc, func(ctx context.Context, i int) error {
		var members []int
		title := ""
		if spec.Members == 2 {
			members = []int{2 * i, 2*i + 1}
		} else {
			title = fmt.Sprintf("bench group %d", i)
			for m := range spec.Members {
				members = append(members, m)
			}
		}
		others := make([]int64, 0, len(members)-1)
		for _, m := range members[1:] {
			others = append(others, w.Users[m].ID)
		}
		c, err := api.CreateChat(ctx, w.Users[members[0]].Token, title, others)
		w.Chats[i] = ChatInfo{Chat: c, Members: members}
		return err
	}); err != nil {
		return nil, fmt.Errorf("create chats: %w", err)
	}
	logf("created %d chats of %d members in %.1fs", spec.Chats, spec.Members, time.Since(started).Seconds())
	w.nextSender = make([]atomic.Uint32, len(w.Chats))

	if spec.Subscribe {
		if err := w.subscribe(ctx, conc); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// subscribe connects one Centrifugo client per user and subscribes it to its
// chats' channels, through tokens from the API.
func (w *World) subscribe(ctx context.Context, conc int) error {
	started := time.Now()
	chatsOf := make([][]int, len(w.Users))
	for ci, c := range w.Chats {
		for _, m := range c.Members {
			chatsOf[m] = append(chatsOf[m], ci)
		}
	}
	w.clients = make([]*centrifuge.Client, len(w.Users))
	var mu sync.Mutex
	err := parallel(ctx, len(w.Users), conc, func(ctx context.Context, ui int) error {
		u := w.Users[ui]
		url, tok, err := w.API.RealtimeToken(ctx, u.Token)
		if err != nil {
			return err
		}
		cl := centrifuge.NewProtobufClient(url, centrifuge.Config{
			Token: tok,
			GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
				_, t, err := w.API.RealtimeToken(context.Background(), u.Token)
				return t, err
			},
		})
		w.clients[ui] = cl
		if err := cl.Connect(); err != nil {
			return fmt.Errorf("connect user %d: %w", u.ID, err)
		}
		for _, ci := range chatsOf[ui] {
			ch := w.Chats[ci].Channel
			st, err := w.API.SubscriptionToken(ctx, u.Token, ch)
			if err != nil {
				return err
			}
			sub, err := cl.NewSubscription(ch, centrifuge.SubscriptionConfig{
				Token:       st,
				Recoverable: true,
				GetToken: func(centrifuge.SubscriptionTokenEvent) (string, error) {
					return w.API.SubscriptionToken(context.Background(), u.Token, ch)
				},
			})
			if err != nil {
				return err
			}
			subscribed := make(chan struct{}, 1)
			sub.OnSubscribed(func(centrifuge.SubscribedEvent) {
				select {
				case subscribed <- struct{}{}:
				default:
				}
			})
			sub.OnPublication(func(e centrifuge.PublicationEvent) {
				now := time.Now()
				if t := w.cur.Load(); t != nil {
					t.deliver(ui, ci, e.Data, now)
				}
			})
			if err := sub.Subscribe(); err != nil {
				return err
			}
			select {
			case <-subscribed:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("user %d not subscribed to %s within 30s", u.ID, ch)
			case <-ctx.Done():
				return ctx.Err()
			}
			mu.Lock()
			w.Chats[ci].Subscribers++
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	w.Log("connected %d realtime subscribers in %.1fs", len(w.Users), time.Since(started).Seconds())
	return nil
}

// Close disconnects the subscribers.
func (w *World) Close() {
	var wg sync.WaitGroup
	for _, c := range w.clients {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
	}
	wg.Wait()
	w.clients = nil
	for i := range w.Chats {
		w.Chats[i].Subscribers = 0
	}
}

// parallel runs f(0..n-1) with at most conc at once; the first error stops it.
func parallel(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			var err error
			for attempt := range 3 {
				if err = f(gctx, i); err == nil || gctx.Err() != nil {
					return err
				}
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			}
			return err
		})
	}
	return g.Wait()
}

func (w *World) randomChat() int { return rand.IntN(len(w.Chats)) }
