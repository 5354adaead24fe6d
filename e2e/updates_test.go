package e2e

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/shared/domain"
)

// Issue 17, on real processes: one update stream per user (API.md,
// "Per-user updates").
func TestPerUserUpdates(t *testing.T) {
	// UPDATES_KEEP at its smallest, so that the window can be passed here.
	sys := harness.Start(t, harness.Options{Env: []string{"UPDATES_KEEP=100"}})

	// A user in 1,000 chats: a message in the oldest one reaches their
	// personal channel, and the chat comes first in their list with its
	// unread count, though they subscribed to no chat channel.
	t.Run("a message in the oldest of 1,000 chats reaches the personal channel and the top of the list", func(t *testing.T) {
		owner := harness.Register(t, sys.GatewayURL, "own")
		u := harness.Register(t, sys.GatewayURL, "many")
		chats := make([]harness.Chat, 1000)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range chats {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				chats[i] = owner.GroupChat(fmt.Sprint("g", i), u.User.ID)
			}()
		}
		wg.Wait()
		oldest := slices.MinFunc(chats, func(a, b harness.Chat) int { return int(a.ID - b.ID) })
		// Every chat is in the list before the message, so that "first" means moved.
		harness.Eventually(t, 60*time.Second, "1,000 chats in the list", func() (bool, string) {
			byID, err := u.ChatsByID(200)
			return err == nil && len(byID) == 200, fmt.Sprint(len(byID), err)
		})
		// The client's start: a cursor (once the 1,000 chat.added are in the
		// stream, so that the message is the next update), then the list.
		var start harness.UpdatesPage
		harness.Eventually(t, 60*time.Second, "1,000 chat.added in the stream", func() (bool, string) {
			var err error
			start, _, err = u.Updates("", 1)
			return err == nil && harness.CursorN(t, start.Cursor) == 1000, fmt.Sprint(start.Cursor, err)
		})
		stream := harness.NewUpdateStream(start.Cursor)
		rt := u.Connect()
		rt.Subscribe(domain.PersonalChannel(u.User.ID))
		m, err := owner.Send(oldest.ID, "to the oldest chat", "oldest-1")
		if err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 10*time.Second, "the message on the personal channel", func() (bool, string) {
			live := rt.Publications(domain.PersonalChannel(u.User.ID), "message.created")
			for _, p := range live {
				stream.Offer(t, p.Raw)
			}
			return slices.Contains(stream.MessageIDs(oldest.ID), m.ID), fmt.Sprint(len(stream.Applied))
		})
		harness.Eventually(t, 10*time.Second, "the oldest chat first in the list, 1 unread", func() (bool, string) {
			list, err := u.ChatList(1)
			if err != nil || len(list) != 1 {
				return false, fmt.Sprint(list, err)
			}
			return list[0].ID == oldest.ID && list[0].UnreadCount == 1, fmt.Sprintf("%d unread %d", list[0].ID, list[0].UnreadCount)
		})
		if len(stream.Applied) != 1 || stream.Applied[0].N != 1001 {
			t.Fatalf("the stream after the cursor holds %d updates, want the message alone as update 1001", len(stream.Applied))
		}
	})

	// A client away while Centrifugo lost its history (a restart: no
	// recovery is possible) catches up through GET /updates from its last
	// cursor: every message once, in order.
	t.Run("a gap Centrifugo cannot recover is filled from GET /updates", func(t *testing.T) {
		alice := harness.Register(t, sys.GatewayURL, "alice")
		bob := harness.Register(t, sys.GatewayURL, "bob")
		start, _, err := bob.Updates("", 1)
		if err != nil {
			t.Fatal(err)
		}
		chat := alice.DirectChat(bob.User.ID)
		group := alice.GroupChat("team", bob.User.ID)
		personal := domain.PersonalChannel(bob.User.ID)
		rt := bob.Connect()
		rt.Subscribe(personal)
		stream := harness.NewUpdateStream(start.Cursor)
		// The first subscription: what was published before it (the two
		// chat.added) comes from GET /updates, as the web client does it.
		if st := stream.CatchUp(t, bob); st != 200 {
			t.Fatalf("first catch-up: %d", st)
		}
		var sent []int64
		send := func(chatID int64, n int) {
			for range n {
				m, err := alice.Send(chatID, fmt.Sprint("m", len(sent)), fmt.Sprint("gap-", len(sent)))
				if err != nil {
					t.Fatal(err)
				}
				sent = append(sent, m.ID)
			}
		}
		// Live publications in cursor order; a gap (a live update ahead of
		// one not received) is filled from GET /updates, as a client does.
		offerLive := func() {
			for _, p := range rt.Publications(personal, "") {
				stream.Offer(t, p.Raw)
			}
			if stream.Waiting() > 0 {
				if st := stream.CatchUp(t, bob); st != 200 {
					t.Fatalf("catch-up answered %d", st)
				}
			}
		}
		send(chat.ID, 5)
		harness.Eventually(t, 10*time.Second, "5 messages live", func() (bool, string) {
			offerLive()
			return len(stream.MessageIDs(chat.ID)) == 5, fmt.Sprint(len(stream.MessageIDs(chat.ID)))
		})
		if err := rt.Disconnect(); err != nil {
			t.Fatal(err)
		}
		send(chat.ID, 20)
		send(group.ID, 20)
		harness.Eventually(t, 20*time.Second, "bob's stream holds all of them", func() (bool, string) {
			p, _, err := bob.Updates("", 1)
			return err == nil && harness.CursorN(t, p.Cursor) >= 2+45, fmt.Sprint(p.Cursor, err)
		})
		sys.Centrifugo.Stop()
		sys.Centrifugo.Start(t)
		if err := rt.Reconnect(); err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 20*time.Second, "resubscribed without recovery", func() (bool, string) {
			resub, failed := rt.Counts(personal)
			return resub >= 1 && failed >= 1, fmt.Sprint(resub, failed)
		})
		send(group.ID, 5) // live again
		harness.Eventually(t, 20*time.Second, "every message", func() (bool, string) {
			offerLive()
			if st := stream.CatchUp(t, bob); st != 200 {
				t.Fatalf("catch-up answered %d", st)
			}
			return len(stream.MessageIDs(chat.ID))+len(stream.MessageIDs(group.ID)) == len(sent), fmt.Sprint(len(stream.Applied))
		})
		// sent holds the direct chat's 25, then the group's 25.
		got := append(stream.MessageIDs(chat.ID), stream.MessageIDs(group.ID)...)
		if !slices.Equal(got, sent) {
			t.Fatalf("bob's messages %v, want %v (each once, each chat in order)", got, sent)
		}
		types := map[string]int{}
		for _, up := range stream.Applied {
			types[up.Type]++
		}
		if types["chat.added"] != 2 || types["message.created"] != len(sent) {
			t.Fatalf("bob's updates by type: %v", types)
		}
	})

	// Beyond UPDATES_KEEP the oldest cursor is gone: 410, and a fresh cursor
	// works again.
	t.Run("a cursor older than the kept updates gets 410", func(t *testing.T) {
		alice := harness.Register(t, sys.GatewayURL, "alice")
		bob := harness.Register(t, sys.GatewayURL, "bob")
		start, _, err := bob.Updates("", 1)
		if err != nil {
			t.Fatal(err)
		}
		chat := alice.DirectChat(bob.User.ID)
		for i := range 120 {
			if _, err := alice.Send(chat.ID, fmt.Sprint("w", i), fmt.Sprint("w-", i)); err != nil {
				t.Fatal(err)
			}
		}
		harness.Eventually(t, 20*time.Second, "121 updates for bob", func() (bool, string) {
			p, _, err := bob.Updates("", 1)
			return err == nil && harness.CursorN(t, p.Cursor) == 121, fmt.Sprint(p.Cursor, err)
		})
		_, st, err := bob.Updates(start.Cursor, 100)
		if st != 410 {
			t.Fatalf("the first cursor after 121 updates with 100 kept: %d %v, want 410", st, err)
		}
		fresh, _, err := bob.Updates("", 1)
		if err != nil {
			t.Fatal(err)
		}
		if p, st, err := bob.Updates(fresh.Cursor, 100); st != 200 || len(p.Updates) != 0 {
			t.Fatalf("a fresh cursor: %d %v %+v", st, err, p)
		}
	})
}
