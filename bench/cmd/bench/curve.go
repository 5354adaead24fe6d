package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/report"
)

// curve measures the stack idle, then steady at each rate of --curve-rates
// over a world of its own, and reports the CPU per accepted message.
func (b *bench) curve(ctx context.Context) error {
	rates, err := report.ParseRates(b.cfg.CurveRates)
	if err != nil {
		return err
	}
	w, err := load.Build(ctx, b.api, load.Spec{Prefix: b.cfg.Prefix + "c", Chats: b.cfg.CurveChats, Members: 2, Subscribe: true, Concurrency: b.cfg.Setup}, logf)
	if err != nil {
		return err
	}
	defer w.Close()
	c := &report.Curve{Chats: b.cfg.CurveChats, Duration: b.cfg.CurveDuration.String()}
	b.rep.Curve = c

	b.waitIdle(120 * time.Second)
	log.Printf("curve: idle for %s", b.cfg.CurveIdle)
	meter := procs.Start(procs.Find(filepath.Join(b.cfg.StackDir, "pids")))
	started := time.Now()
	select {
	case <-time.After(b.cfg.CurveIdle):
	case <-ctx.Done():
	}
	c.Idle = meter.Stop()
	c.IdleSeconds = round1(time.Since(started).Seconds())
	c.IdleStack = report.SumCPU(c.Idle, 0)
	log.Printf("curve: idle stack CPU %.1f %% of a core", c.IdleStack.Percent)

	for _, rate := range rates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Settle: the workers caught up with the previous rate.
		b.waitIdle(120 * time.Second)
		s := &report.Scenario{Name: fmt.Sprintf("curve %g msg per s", rate), Design: "log",
			Params: map[string]any{"rate": rate, "chats": b.cfg.CurveChats, "members": 2, "duration": b.cfg.CurveDuration.String(), "mode": "open loop"}}
		self0, _ := procs.CPUSeconds(os.Getpid())
		t0 := time.Now()
		if _, err := b.measured(ctx, w, s, false, func(p *load.Phase) {
			p.OpenLoop(ctx, rate, b.cfg.CurveDuration, w.RandomChat)
		}); err != nil {
			return err
		}
		self1, _ := procs.CPUSeconds(os.Getpid())
		selfPct := round1(100 * (self1 - self0) / time.Since(t0).Seconds())
		if s.Backlog != nil {
			s.Backlog.Bounded = s.Backlog.End <= max(1000, rate)
		}
		// The curve's own plot sums the rates up; a plot per rate would bury it.
		s.SendSeries, s.E2ESeries, s.BacklogT, s.BacklogV = nil, nil, nil, nil
		pt := report.NewCurvePoint(rate, s, c.IdleStack.Percent)
		pt.LoadGenPct = selfPct
		c.Points = append(c.Points, pt)
		log.Printf("curve %g/s: accepted %.0f/s, stack CPU %.0f %% of a core, %.1f µs/msg (%.1f above idle), delivery p99 %.1f ms",
			rate, pt.Accepted, pt.StackPct, pt.StackUs, pt.AboveIdle, pt.DelivP99)
	}
	return nil
}
