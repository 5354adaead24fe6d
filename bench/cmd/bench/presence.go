package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/centrifugal/gocent/v3"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/report"
	"github.com/logchat/bench/internal/stats"
)

// presence measures what presence costs (issue 14): N users, each in two
// direct chats (a ring), connect as a 1.1 client does (connection token,
// connect, subscription token, personal channel), stay connected, and
// disconnect; each phase ends when the gateway has counted every change
// (logchat_presence_changes_total on its /metrics), and the CPU of every
// process of the stack is measured over it. Then the sweep's one question to
// Centrifugo is timed alone.
func (b *bench) presence(ctx context.Context) error {
	cfg := b.cfg
	n := cfg.PresenceUsers
	layout := make([][]int, n)
	for i := range layout {
		layout[i] = []int{i, (i + 1) % n}
	}
	p := &report.Presence{Users: n, Interval: cfg.PresenceInterval,
		Setup: fmt.Sprintf("%d users, each in two direct chats (a ring of %d chats); each user one centrifuge-go connection subscribed to its personal channel", n, n)}
	b.rep.Presence = p
	w, err := load.BuildGroups(ctx, b.api, cfg.Prefix+"pr", n, layout, false, cfg.Setup, logf)
	if err != nil {
		return err
	}
	b.waitIdle(60 * time.Second)
	stack := procs.Find(filepath.Join(cfg.StackDir, "pids"))
	metrics := strings.TrimSuffix(cfg.API, "/") + "/metrics"

	measure := func(name, per string, units float64, work func() (requests int, err error), settle func(before map[string]float64) bool) error {
		before, err := presenceCounters(ctx, metrics)
		if err != nil {
			return err
		}
		m := procs.Start(stack)
		started := time.Now()
		reqs, err := work()
		if err != nil {
			m.Stop()
			return fmt.Errorf("%s: %w", name, err)
		}
		deadline := time.Now().Add(cfg.PresenceTimeout)
		for settle != nil && !settle(before) {
			if time.Now().After(deadline) {
				p.Notes = append(p.Notes, fmt.Sprintf("%s: the gateway had not counted every change after %s", name, cfg.PresenceTimeout))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		usage := m.Stop()
		after, err := presenceCounters(ctx, metrics)
		if err != nil {
			return err
		}
		ph := report.PresencePhase{Name: name, Seconds: time.Since(started).Seconds(), Requests: reqs, Usage: usage, Per: per, PerUnits: units,
			Changes:      after["logchat_presence_changes_total"] - before["logchat_presence_changes_total"],
			Sweeps:       after["logchat_presence_sweeps_total"] - before["logchat_presence_sweeps_total"],
			Publications: after["logchat_presence_publications_total"] - before["logchat_presence_publications_total"]}
		p.Phases = append(p.Phases, ph)
		log.Printf("presence: %s in %.1f s: %.0f changes, %.0f sweeps, %.0f publications", name, ph.Seconds, ph.Changes, ph.Sweeps, ph.Publications)
		return nil
	}
	changed := func(want float64) func(map[string]float64) bool {
		return func(before map[string]float64) bool {
			now, err := presenceCounters(ctx, metrics)
			return err == nil && now["logchat_presence_changes_total"]-before["logchat_presence_changes_total"] >= want
		}
	}
	idle := func() (int, error) {
		select {
		case <-time.After(cfg.PresenceIdle):
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	idleMinutes := cfg.PresenceIdle.Minutes()

	if err := measure("idle, nobody connected", "minute", idleMinutes, idle, nil); err != nil {
		return err
	}
	var clients []*centrifuge.Client
	var mu sync.Mutex
	var requests atomic.Int64
	connect := func() (int, error) {
		err := parallelDo(ctx, n, cfg.Setup, func(ctx context.Context, i int) error {
			u := w.Users[i]
			url, tok, err := b.api.RealtimeToken(ctx, u.Token)
			if err != nil {
				return err
			}
			requests.Add(1)
			c := centrifuge.NewJsonClient(url, centrifuge.Config{Token: tok})
			connected := make(chan struct{})
			var once sync.Once
			c.OnConnected(func(centrifuge.ConnectedEvent) { once.Do(func() { close(connected) }) })
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
			if err := c.Connect(); err != nil {
				return err
			}
			select {
			case <-connected:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("user %d did not connect", u.ID)
			case <-ctx.Done():
				return ctx.Err()
			}
			personal := fmt.Sprintf("user:%d", u.ID)
			stok, err := b.api.SubscriptionToken(ctx, u.Token, personal)
			if err != nil {
				return err
			}
			requests.Add(1)
			sub, err := c.NewSubscription(personal, centrifuge.SubscriptionConfig{Token: stok, Recoverable: true, Positioned: true})
			if err != nil {
				return err
			}
			return sub.Subscribe()
		})
		return int(requests.Load()), err
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	if err := measure(fmt.Sprintf("%d connect", n), fmt.Sprintf("%d connects", n), 1, connect, changed(float64(n))); err != nil {
		return err
	}
	if err := measure(fmt.Sprintf("idle, %d connected", n), "minute", idleMinutes, idle, nil); err != nil {
		return err
	}

	// One sweep's question, alone, with everyone subscribed.
	if err := b.presenceChannelsCall(ctx, p, stack); err != nil {
		return err
	}

	disconnect := func() (int, error) {
		for _, c := range clients {
			c.Close()
		}
		clients = nil
		return 0, nil
	}
	return measure(fmt.Sprintf("%d disconnect", n), fmt.Sprintf("%d disconnects", n), 1, disconnect, changed(float64(n)))
}

// presenceChannelsCall times the channels API call a sweep makes.
func (b *bench) presenceChannelsCall(ctx context.Context, p *report.Presence, stack []procs.Proc) error {
	var pid int
	for _, pr := range stack {
		if pr.Name == "centrifugo" {
			pid = pr.PID
		}
	}
	c := gocent.New(gocent.Config{Addr: b.cfg.CentAPI, Key: b.cfg.CentKey, HTTPClient: &http.Client{Timeout: 30 * time.Second}})
	const calls = 200
	cpu0, _ := procs.CPUSeconds(pid)
	var walls []float64
	for range calls {
		t0 := time.Now()
		res, err := c.Channels(ctx, gocent.WithPattern("user:*"))
		if err != nil {
			return fmt.Errorf("channels: %w", err)
		}
		walls = append(walls, float64(time.Since(t0).Microseconds())/1000)
		p.ChannelsUsersFound = len(res.Channels)
	}
	cpu1, _ := procs.CPUSeconds(pid)
	p.ChannelsCalls = calls
	p.ChannelsMsP50 = stats.Summarize(walls).P50
	p.ChannelsCentCPUUs = (cpu1 - cpu0) * 1e6 / calls
	return nil
}

// presenceCounters reads the gateway's presence counters from its /metrics.
func presenceCounters(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gateway metrics: %w", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "logchat_presence_") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	if _, ok := out["logchat_presence_sweeps_total"]; !ok {
		return nil, fmt.Errorf("no presence counters at %s: is the gateway tracking presence?", url)
	}
	return out, sc.Err()
}
