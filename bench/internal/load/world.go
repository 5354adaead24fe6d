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
	// chatIndex maps a chat id to its index in Chats (publications on
	// personal channels name their chat).
	chatIndex map[int64]int
	// nextSender rotates the author within each chat.
	nextSender []atomic.Uint32
}

// Spec says what world to build.
type Spec struct {
	Prefix  string // user name prefix, unique per run
	Chats   int    // chats to create
	Members int    // members per chat: 2 makes direct chats, more makes groups
	// Subscribe opens one realtime connection per user, subscribed to the
	// channels of all its chats (Via "chat", the default) or to its personal
	// channel only (Via "personal", API 1.1).
	Subscribe bool
	Via       string
	// Connected is how many users (the first ones) get a connection; 0: all.
	Connected   int
	Concurrency int
}

// Via values: how a subscriber hears of its chats' messages.
const (
	ViaChat     = "chat"     // one subscription per chat channel (the 1.0 client)
	ViaPersonal = "personal" // the personal channel only (the 1.1 client)
)

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
		if err := w.Subscribe(ctx, spec.Via, spec.Connected, conc); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Subscribe connects one Centrifugo client for each of the first connected
// users (0: all) and subscribes it to its chats' channels (via ViaChat) or
// to its personal channel (ViaPersonal), through tokens from the API. A
// world's subscribers are replaced by Close and a new Subscribe.
func (w *World) Subscribe(ctx context.Context, via string, connected, conc int) error {
	switch via {
	case "", ViaChat:
		return w.subscribe(ctx, connected, conc, false)
	case ViaPersonal:
		return w.subscribe(ctx, connected, conc, true)
	}
	return fmt.Errorf("unknown subscription mode %q (want %s or %s)", via, ViaChat, ViaPersonal)
}

func (w *World) subscribe(ctx context.Context, connected, conc int, personal bool) error {
	started := time.Now()
	if w.chatIndex == nil {
		w.chatIndex = make(map[int64]int, len(w.Chats))
		for i, c := range w.Chats {
			w.chatIndex[c.ID] = i
		}
	}
	users := len(w.Users)
	if connected > 0 && connected < users {
		users = connected
	}
	chatsOf := make([][]int, len(w.Users))
	for ci, c := range w.Chats {
		for _, m := range c.Members {
			chatsOf[m] = append(chatsOf[m], ci)
		}
	}
	w.clients = make([]*centrifuge.Client, users)
	var mu sync.Mutex
	err := parallel(ctx, users, conc, func(ctx context.Context, ui int) error {
		u := w.Users[ui]
		rc, err := w.API.Realtime(ctx, u.Token)
		if err != nil {
			return err
		}
		cl := centrifuge.NewProtobufClient(rc.URL, centrifuge.Config{
			Token: rc.Token,
			GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
				_, t, err := w.API.RealtimeToken(context.Background(), u.Token)
				return t, err
			},
		})
		w.clients[ui] = cl
		if err := cl.Connect(); err != nil {
			return fmt.Errorf("connect user %d: %w", u.ID, err)
		}
		channels := []string{rc.PersonalChannel}
		if !personal {
			channels = channels[:0]
			for _, ci := range chatsOf[ui] {
				channels = append(channels, w.Chats[ci].Channel)
			}
		}
		for k, ch := range channels {
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
			if personal {
				sub.OnPublication(func(e centrifuge.PublicationEvent) {
					now := time.Now()
					if t := w.cur.Load(); t != nil {
						t.deliverPersonal(ui, w.chatIndex, e.Data, now)
					}
				})
			} else {
				ci := chatsOf[ui][k]
				sub.OnPublication(func(e centrifuge.PublicationEvent) {
					now := time.Now()
					if t := w.cur.Load(); t != nil {
						t.deliver(ui, ci, e.Data, now)
					}
				})
			}
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
		}
		mu.Lock()
		for _, ci := range chatsOf[ui] {
			w.Chats[ci].Subscribers++
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	mode := "chat channels"
	if personal {
		mode = "personal channels"
	}
	w.Log("connected %d realtime subscribers (%s) in %.1fs", users, mode, time.Since(started).Seconds())
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
