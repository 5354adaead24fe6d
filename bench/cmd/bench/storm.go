package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/report"
	"github.com/logchat/bench/internal/stats"
)

// centHealth is Centrifugo's health URL on its internal port (beside its server API).
func (b *bench) centHealth() string {
	return strings.TrimSuffix(b.cfg.CentAPI, "/api") + "/health"
}

func healthy(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// storm builds a world of groups once and, for each client of --storm-via,
// connects every user, restarts Centrifugo while messages flow and measures
// the way back.
func (b *bench) storm(ctx context.Context) error {
	cfg := b.cfg
	if cfg.StormGroup < 2 || cfg.StormUsers < cfg.StormGroup {
		return fmt.Errorf("--storm-group must be at least 2 and at most --storm-users")
	}
	modes, err := viaModes("--storm-via", cfg.StormVia)
	if err != nil {
		return err
	}
	layout := load.GroupLayout(cfg.StormUsers, cfg.StormChats, cfg.StormGroup, uint64(time.Now().UnixNano()))
	setup := time.Now()
	w, err := load.BuildGroups(ctx, b.api, b.cfg.Prefix+"st", cfg.StormUsers, layout, cfg.StormGroup > 2, cfg.Setup, logf)
	if err != nil {
		return err
	}
	built := time.Since(setup)
	for _, via := range modes {
		st := &report.Storm{Mode: via, Users: cfg.StormUsers, ChatsPerUser: cfg.StormChats, Chats: len(layout), Rate: cfg.StormRate, WorldSeconds: round1(built.Seconds())}
		if cfg.StormGroup == 2 {
			st.Layout = "direct chats: each round pairs the users at random"
		} else {
			st.Layout = fmt.Sprintf("groups of %d: %d rounds, each a random partition of the users into groups", cfg.StormGroup, cfg.StormChats)
		}
		b.rep.Storms = append(b.rep.Storms, st)
		if err := b.stormOnce(ctx, w, st); err != nil {
			return fmt.Errorf("%s client: %w", via, err)
		}
		b.waitIdle(120 * time.Second)
	}
	return nil
}

// stormOnce is one storm with one kind of client (st.Mode): the 1.0 client
// subscribed to its personal channel and every chat's, reloading from the
// HTTP API what Centrifugo could not recover, or the 1.1 client subscribed
// to its personal channel only, catching up with GET /updates.
func (b *bench) stormOnce(ctx context.Context, w *load.GroupWorld, st *report.Storm) error {
	cfg := b.cfg
	personal := st.Mode == load.ViaPersonal
	setup := time.Now()
	chatsOf := make([][]int, cfg.StormUsers)
	for ci, c := range w.Chats {
		for _, u := range c.Members {
			chatsOf[u] = append(chatsOf[u], ci)
		}
	}
	// The users' own HTTP clients (tokens, reloads), apart from the sender's.
	f := &load.Fleet{API: load.NewAPI(cfg.API)}
	f.Tokens.Reset()
	defer f.Close()
	members := make([]*load.Member, cfg.StormUsers)
	var mu sync.Mutex
	var notAll []string
	err := parallelDo(ctx, cfg.StormUsers, cfg.Setup, func(ctx context.Context, ui int) error {
		m, personalChannel, err := f.Connect(ctx, w.Users[ui], 30*time.Second)
		if err != nil {
			return err
		}
		members[ui] = m
		want := 1
		if personal {
			if err := f.AddPersonal(ctx, m, personalChannel); err != nil {
				return err
			}
		} else {
			channels, ids := []string{personalChannel}, []int64{0}
			for _, ci := range chatsOf[ui] {
				channels = append(channels, w.Chats[ci].Channel)
				ids = append(ids, w.Chats[ci].ID)
			}
			if err := f.AddSubs(m, channels, ids); err != nil {
				return err
			}
			want = len(channels)
		}
		if n, _ := m.WaitSettled(ctx, 60*time.Second); n != want {
			mu.Lock()
			notAll = append(notAll, fmt.Sprintf("user %d: %d of %d", m.User.ID, n, want))
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if len(notAll) > 0 {
		return fmt.Errorf("%d users not subscribed to all their channels (%s)", len(notAll), strings.Join(notAll[:min(5, len(notAll))], "; "))
	}
	_, total, _ := f.Resubscribed(time.Time{})
	st.Subscriptions = total
	st.SetupSeconds = round1(time.Since(setup).Seconds())
	st.SetupTokens = f.Tokens.Conn.Load() + f.Tokens.Sub.Load()
	log.Printf("storm (%s client): %d users, %d chats, %d subscriptions live after %.1f s", st.Mode, cfg.StormUsers, len(w.Chats), total, st.SetupSeconds)
	b.waitIdle(120 * time.Second)
	f.UpdatesCalls.Store(0)

	sender := w.StartSender(b.api, cfg.StormRate, cfg.TextLen)
	sleepCtx(ctx, cfg.StormBefore)

	// The restart, watched from outside through Centrifugo's health.
	f.Tokens.Reset()
	meter := procs.Start(procs.Find(filepath.Join(cfg.StackDir, "pids")))
	meterStart := time.Now()
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	var downAt, upAt time.Time
	watchDone := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			ok := healthy(hc, b.centHealth())
			now := time.Now()
			if !ok && downAt.IsZero() {
				downAt = now
			}
			if ok && !downAt.IsZero() {
				upAt = now
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	restartAt := time.Now()
	log.Printf("storm: restarting Centrifugo")
	restartErr := b.stack(nil, "restart-centrifugo")
	restartDone := time.Now()
	select {
	case <-watchDone:
	case <-time.After(5 * time.Second):
		close(stopWatch)
		<-watchDone
	}
	if restartErr != nil {
		sender.Stop()
		return fmt.Errorf("restart-centrifugo: %w", restartErr)
	}
	if downAt.IsZero() {
		downAt = restartAt // too quick for the watcher
	}
	if upAt.IsZero() {
		upAt = restartDone
	}
	st.DownSeconds = round1(upAt.Sub(downAt).Seconds())
	log.Printf("storm: Centrifugo down for %.1f s", st.DownSeconds)

	// Every subscription subscribed again since Centrifugo went down.
	deadline := upAt.Add(cfg.StormTimeout)
	var done, connected int
	for {
		done, _, connected = f.Resubscribed(downAt)
		if done == total || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	backAt := time.Now()
	st.AllBack, st.BackSubs, st.ConnectedUsers = done == total, done, connected
	st.PerUserBack = stats.Summarize(f.BackTimes(downAt, upAt))
	st.ReconnectSeconds = float64(int64(backAt.Sub(upAt).Seconds()*100+0.5)) / 100
	log.Printf("storm: %d of %d subscriptions back %.2f s after Centrifugo answered (%d users connected)", done, total, st.ReconnectSeconds, connected)
	// Caught up: every subscription back and every reload it needed done.
	f.WaitReloads()
	st.CaughtUpSeconds = float64(int64(time.Since(upAt).Seconds()*100+0.5)) / 100
	log.Printf("storm: every user caught up (reloads done) %.2f s after Centrifugo answered", st.CaughtUpSeconds)
	// Delivered: every message accepted before Centrifugo answered again
	// (before and during the outage) reached every member of its chat.
	var early []load.SentMsg
	for _, m := range sender.Snapshot() {
		if m.At.Before(upAt) {
			early = append(early, m)
		}
	}
	for {
		missing := load.Missing(w, members, early)
		if missing == 0 || time.Since(upAt) > cfg.StormTimeout || ctx.Err() != nil {
			st.AllDelivered = missing == 0
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.AllDeliveredSeconds = float64(int64(time.Since(upAt).Seconds()*100+0.5)) / 100
	log.Printf("storm: every message accepted before Centrifugo answered delivered to every member (%v) %.2f s after it answered", st.AllDelivered, st.AllDeliveredSeconds)

	sleepCtx(ctx, cfg.StormAfter)
	sender.Stop()
	check := f.Check(w, members, sender.Accepted, 30*time.Second)
	st.Procs = meter.Stop()
	st.Seconds = round1(time.Since(meterStart).Seconds())
	// The restarted Centrifugo is another process: its CPU is all of its life.
	b.fixRestarted(st.Procs, "centrifugo", meterStart)

	st.ConnTokens, st.SubTokens, st.TokenErrors = f.Tokens.Conn.Load(), f.Tokens.Sub.Load(), f.Tokens.Errors.Load()
	st.TokenLatency = f.Tokens.Latency()
	st.Recovered, st.NotRecovered = f.Recovered.Load(), f.NotRecovered.Load()
	st.Reloads, st.ReloadErrors, st.ReloadsFailed, st.ViaReload = f.Reloads.Load(), f.ReloadErrors.Load(), f.ReloadsFailed.Load(), f.ViaReload.Load()
	st.CatchUps, st.UpdatesCalls, st.Gone, st.Gaps = f.CatchUps.Load(), f.UpdatesCalls.Load(), f.Gone.Load(), f.Gaps.Load()
	st.Sent = map[string]int64{}
	for _, m := range sender.Accepted {
		switch {
		case m.At.Before(downAt):
			st.Sent["before"]++
		case m.At.Before(upAt):
			st.Sent["during"]++
		default:
			st.Sent["after"]++
		}
	}
	st.Failed = sender.Failed.Load()
	st.Check = check
	st.SubscribeErrors = f.Errors()
	st.SendErrors = sender.Errs
	st.Stack = report.SumCPU(st.Procs, st.Sent["during"]+st.Sent["after"])
	if personal {
		st.Notes = append(st.Notes,
			"the 1.1 client: one subscription, the personal channel, taken after a cursor from `GET /updates`; updates applied in cursor order (an early one held back 500 ms, then `GET /updates`); a resubscription Centrifugo could not recover (its in-memory history is gone after the restart) is caught up with `GET /updates?after=<last applied cursor>&limit=100`, page after page while `has_more`; a 410 would take a new cursor and reload the chat list; each user has at most 6 requests in flight and retries a failed request after a back-off (1 s doubling to 10 s, with jitter) for up to 2 minutes")
	} else {
		st.Notes = append(st.Notes,
			"the 1.0 client: Centrifugo runs with its in-memory engine: a restart loses channel history and epochs, so a resubscription cannot be recovered and the client reloads from the HTTP API (messages after the newest it had; the chat list for the personal channel), as web/src/composables/useRealtime.ts did before 1.1; each user has at most 6 requests in flight (a browser's connections per host) and tries a failed reload again after a back-off (1 s doubling to 10 s, with jitter) for up to 2 minutes")
	}
	st.Notes = append(st.Notes,
		"reconnect delays as the web client's SDK settings: 500 ms minimum, 10 s maximum, exponential with jitter; a client that failed to reconnect while Centrifugo was down waits its back-off after Centrifugo is up, which is most of the time until every user is back",
		"tokens: the SDK reuses a connection or subscription token it still holds; the gateway is asked again only when one expired or was refused",
		"the old Centrifugo's CPU between the start of the measurement and its stop is not counted; the new one's is all of its life")
	if check.Lost+check.Duplicated > 0 || !st.AllBack || !st.AllDelivered {
		b.ok = false
	}
	log.Printf("storm (%s client): tokens conn %d sub %d err %d p99 %.1f ms; recovered %d, not recovered %d; GET /updates %d; expected %d delivered %d lost %d dup %d",
		st.Mode, st.ConnTokens, st.SubTokens, st.TokenErrors, st.TokenLatency.P99, st.Recovered, st.NotRecovered, st.UpdatesCalls, check.Expected, check.Delivered, check.Lost, check.Duplicated)
	return nil
}

// fixRestarted replaces name's usage (its pid died during the measurement)
// with the CPU of the process now in its pid file, started after from.
func (b *bench) fixRestarted(us []procs.Usage, name string, from time.Time) {
	for _, p := range procs.Find(filepath.Join(b.cfg.StackDir, "pids")) {
		if p.Name != name {
			continue
		}
		for i := range us {
			if us[i].Name == name && us[i].PID != p.PID {
				cpu, err := procs.CPUSeconds(p.PID)
				if err != nil {
					return
				}
				rss, hwm, _ := procs.Memory(p.PID)
				el := time.Since(from).Seconds()
				us[i] = procs.Usage{Name: name, PID: p.PID, CPUSeconds: float64(int64(cpu*100+0.5)) / 100, CPUPercent: round1(100 * cpu / el), PeakRSSMiB: round1(hwm), SteadyRSSMiB: round1(rss)}
			}
		}
	}
}

// parallelDo runs f(0..n-1), at most conc at once, without retries; the first error stops it.
func parallelDo(ctx context.Context, n, conc int, f func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(conc, 1))
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return f(gctx, i) })
	}
	return g.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
