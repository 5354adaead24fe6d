package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/report"
)

// account measures one user who is in many chats: the chat list, the
// connection, a subscription per chat and a message to the oldest chat.
func (b *bench) account(ctx context.Context) error {
	cfg := b.cfg
	n := cfg.AccountChats
	// User 0 creates a direct chat with each of users 1..n.
	layout := make([][]int, n)
	for i := range layout {
		layout[i] = []int{0, i + 1}
	}
	limit := cfg.AccountChannelLimit
	if limit == 0 {
		limit = channelLimit("deploy/centrifugo/config.template.json")
	}
	a := &report.Account{Chats: n, ChannelLimit: limit, PageSize: cfg.AccountPage,
		Setup: fmt.Sprintf("%d users; the first creates a direct chat with each of the %d others", n+1, n)}
	b.rep.Account = a
	w, err := load.BuildGroups(ctx, b.api, cfg.Prefix+"ac", n+1, layout, false, cfg.Setup, logf)
	if err != nil {
		return err
	}
	u := w.Users[0]
	b.waitIdle(60 * time.Second)

	// The chat list, page by page, as a client loads it.
	started := time.Now()
	var chats []load.ChatSummary
	cursor := ""
	for {
		page, next, err := b.api.ListChats(ctx, u.Token, cfg.AccountPage, cursor)
		if err != nil {
			return fmt.Errorf("list chats: %w", err)
		}
		a.ListPages++
		chats = append(chats, page...)
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	a.ListSeconds = float64(time.Since(started).Microseconds()) / 1e6
	a.Listed = len(chats)
	if len(chats) == 0 {
		return fmt.Errorf("the chat list is empty")
	}
	log.Printf("account: %d chats listed in %.2f s (%d pages)", len(chats), a.ListSeconds, a.ListPages)

	f := &load.Fleet{API: b.api}
	f.Tokens.Reset()
	defer f.Close()
	started = time.Now()
	m, personal, err := f.Connect(ctx, u, 30*time.Second)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	a.ConnectSeconds = float64(time.Since(started).Microseconds()) / 1e6

	// The personal channel, then every chat in list order (most recent
	// first): what the web client subscribes to once the list is loaded.
	channels, ids := []string{personal}, []int64{0}
	for _, c := range chats {
		channels = append(channels, c.Channel)
		ids = append(ids, c.ID)
	}
	f.Tokens.Reset()
	started = time.Now()
	if err := f.AddSubs(m, channels, ids); err != nil {
		return err
	}
	a.Subscribed, a.Ended = m.WaitSettled(ctx, 60*time.Second)
	a.SubscribeSeconds = float64(time.Since(started).Microseconds()) / 1e6
	a.Channels = len(channels)
	a.Unsettled = a.Channels - a.Subscribed - a.Ended
	a.SubTokens, a.TokenErrors, a.TokenLatency = f.Tokens.Sub.Load(), f.Tokens.Errors.Load(), f.Tokens.Latency()
	a.Errors = f.Errors()
	a.PersonalSubscribed = subscribedNow(m, personal)
	log.Printf("account: connected in %.3f s; %d channels: %d subscribed, %d refused, %d unsettled in %.2f s",
		a.ConnectSeconds, a.Channels, a.Subscribed, a.Ended, a.Unsettled, a.SubscribeSeconds)
	if a.ChannelLimit > 0 && a.Channels > a.ChannelLimit {
		a.Notes = append(a.Notes, fmt.Sprintf("%d channels on one connection exceed Centrifugo's client.channel_limit of %d: the subscriptions beyond it are refused (error 106 limit exceeded) and the client gets no realtime updates of those chats", a.Channels, a.ChannelLimit))
	}

	// One message to the oldest chat, from its other member.
	oldest := chats[len(chats)-1]
	a.OldestChatID = oldest.ID
	ci, ok := w.ChatOf[oldest.ID]
	if !ok {
		return fmt.Errorf("the oldest chat %d is not one of the scenario's", oldest.ID)
	}
	sub := m.Sub(oldest.Channel)
	if sub != nil {
		a.OldestSubscribed = subscribedNow(m, oldest.Channel)
	}
	other := w.Users[w.Chats[ci].Members[1]]
	sentAt := time.Now()
	id, err := b.api.Send(ctx, other.Token, oldest.ID, "hello from the oldest chat", fmt.Sprintf("%sacc%d", cfg.Prefix, time.Now().UnixNano()%1e9))
	if err != nil {
		return fmt.Errorf("send to the oldest chat: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sub != nil && time.Now().Before(deadline) {
		if at := sub.ArrivedAt(id); !at.IsZero() {
			a.Delivered, a.DeliveryMs = true, float64(at.Sub(sentAt).Microseconds())/1000
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !a.Delivered {
		a.Notes = append(a.Notes, "the message to the oldest chat did not arrive over realtime within 10 s")
	}
	log.Printf("account: message to the oldest chat %d delivered %v (%.1f ms)", oldest.ID, a.Delivered, a.DeliveryMs)
	return nil
}

// channelLimit reads client.channel_limit of a Centrifugo config (0 if unknown).
func channelLimit(path string) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var c struct {
		Client struct {
			ChannelLimit int `json:"channel_limit"`
		} `json:"client"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return 0
	}
	return c.Client.ChannelLimit
}

func subscribedNow(m *load.Member, channel string) bool {
	s := m.Sub(channel)
	return s != nil && s.Subscribed()
}
