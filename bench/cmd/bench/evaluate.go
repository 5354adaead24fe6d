package main

import (
	"fmt"
	"strings"

	"github.com/logchat/bench/internal/report"
)

func (b *bench) scenario(name string) *report.Scenario {
	for _, s := range b.rep.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (b *bench) limit(component, modePrefix string) float64 {
	for _, l := range b.rep.Limits {
		if l.Component == component && strings.HasPrefix(l.Mode, modePrefix) && l.Err == "" {
			return l.PerSecond
		}
	}
	return 0
}

func (b *bench) catchUpRate(worker string) float64 {
	s := b.scenario("drain")
	if s == nil {
		return 0
	}
	if cs, ok := s.Extra.([]catchUp); ok {
		for _, c := range cs {
			if c.Worker == worker {
				return c.Rate
			}
		}
	}
	return 0
}

func pct(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f %%", 100*a/b)
}

func times(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// evaluate computes the ratios and checks the targets against what
// this run measured.
func (b *bench) evaluate() {
	var ratios, targets []report.Target
	ratio := func(what, measured string) { ratios = append(ratios, report.Target{What: what, Measured: measured}) }
	target := func(what, goal, measured string, met bool) {
		targets = append(targets, report.Target{What: what, Goal: goal, Measured: measured, Met: met})
	}
	jsBatch := b.limit("jetstream", "atomic batch of 100, 4 concurrent, fsync always")
	mysqlCeil := b.limit("mysql", "")
	redisCeil := b.limit("redis", "")
	centCeil := b.limit("centrifugo", "")

	mx, bmx := b.scenario("max"), b.scenario("baseline max")
	st, bst := b.scenario("steady"), b.scenario("baseline steady")
	dr := b.scenario("drain")
	if mx != nil {
		bounded := mx.Backlog == nil || mx.Backlog.Bounded
		target("max: end to end", "≥ 10,000 msg/s, backlog bounded",
			fmt.Sprintf("%.0f msg/s delivered (%.0f accepted), backlog bounded: %v", mx.DeliveredRate, mx.Rate, bounded),
			mx.DeliveredRate >= 10000 && bounded)
		if bmx != nil {
			target("max vs the synchronous design", "≥ 4×", fmt.Sprintf("%.0f / %.0f = %s", mx.DeliveredRate, bmx.DeliveredRate, times(mx.DeliveredRate, bmx.DeliveredRate)),
				bmx.DeliveredRate > 0 && mx.DeliveredRate >= 4*bmx.DeliveredRate)
		}
		if jsBatch > 0 {
			ratio("max accepted / JetStream atomic-batch ceiling (fsync always)", pct(mx.Rate, jsBatch))
		}
		if mysqlCeil > 0 {
			ratio("max delivered / MySQL multi-row INSERT ceiling", pct(mx.DeliveredRate, mysqlCeil))
		}
		if centCeil > 0 {
			ratio("max delivered / Centrifugo piped publish ceiling (2 subscribers per message)", pct(mx.DeliveredRate, centCeil))
		}
	}
	if jsBatch > 0 {
		send := 0.0
		what := ""
		if dr != nil && dr.Rate > send {
			send, what = dr.Rate, "drain (workers stopped)"
		}
		if mx != nil && mx.Rate > send {
			send, what = mx.Rate, "max"
		}
		if send > 0 {
			target("gateway send path vs JetStream atomic-batch ceiling", "≥ 70 %",
				fmt.Sprintf("%.0f msg/s in %s / %.0f = %s", send, what, jsBatch, pct(send, jsBatch)), send >= 0.7*jsBatch)
		}
	}
	if st != nil {
		d := st.Delivery
		target("steady: send p99", "≤ 10 ms", fmt.Sprintf("%.1f ms", st.Send.P99), st.Send.P99 <= 10)
		target("steady: delivery p99", "≤ 50 ms", fmt.Sprintf("%.1f ms", st.E2E.P99), st.E2E.P99 <= 50)
		target("steady: persist lag p99", "≤ 100 ms", fmt.Sprintf("%.1f ms", st.Persist.P99), st.Persist.P99 <= 100)
		hist := int64(0)
		if st.History != nil {
			hist = st.History.Missing + st.History.Duplicated + st.History.WrongID
		}
		target("steady: lost / duplicated / out of order", "0 / 0 / 0",
			fmt.Sprintf("%d / %d / %d (history problems %d)", d.Lost, d.Duplicated, d.OutOfOrder, hist), d.Lost+d.Duplicated+d.OutOfOrder+hist == 0)
		for _, u := range st.Procs {
			limit := 0.0
			switch u.Name {
			case "gateway":
				limit = 200
			case "persister", "cachewarm", "notifier":
				limit = 100
			}
			if limit > 0 {
				target("steady: "+u.Name+" memory", fmt.Sprintf("≤ %.0f MB RSS", limit),
					fmt.Sprintf("peak %.0f MiB, steady %.0f MiB", u.PeakRSSMiB, u.SteadyRSSMiB), u.PeakRSSMiB*1.048576 <= limit)
			}
		}
		if bst != nil {
			ratio("steady send p99: log design / synchronous design", fmt.Sprintf("%.1f / %.1f ms", st.Send.P99, bst.Send.P99))
			ratio("steady delivery p99: log design / synchronous design", fmt.Sprintf("%.1f / %.1f ms", st.E2E.P99, bst.E2E.P99))
		}
	}
	if st != nil {
		for _, sc := range b.rep.Scenarios {
			mr, ok := sc.Extra.(MixResult)
			if !ok {
				continue
			}
			plain := report.SumCPU(append(st.Procs[:0:0], st.Procs...), st.Accepted)
			ratio("steady with "+mr.Mix+" / without: stack CPU per operation",
				fmt.Sprintf("%.0f / %.0f µs = %.2f", mr.CPUMicrosPerOp, plain.MicrosPerMsg, safeDiv(mr.CPUMicrosPerOp, plain.MicrosPerMsg)))
			ratio("steady with "+mr.Mix+" / without: send p50, p99",
				fmt.Sprintf("%.1f / %.1f ms = %.2f, %.1f / %.1f ms = %.2f", mr.Send.P50, st.Send.P50, safeDiv(mr.Send.P50, st.Send.P50),
					mr.Send.P99, st.Send.P99, safeDiv(mr.Send.P99, st.Send.P99)))
			ratio("steady with "+mr.Mix+": edit p50, p99 / the same run's send",
				fmt.Sprintf("%.1f / %.1f ms = %.2f, %.1f / %.1f ms = %.2f (%d edits)", mr.Edit.P50, mr.Send.P50, safeDiv(mr.Edit.P50, mr.Send.P50),
					mr.Edit.P99, mr.Send.P99, safeDiv(mr.Edit.P99, mr.Send.P99), mr.Edits))
			ratio("steady with "+mr.Mix+": delete p50, p99 / the same run's send",
				fmt.Sprintf("%.1f / %.1f ms = %.2f, %.1f / %.1f ms = %.2f (%d deletes)", mr.Delete.P50, mr.Send.P50, safeDiv(mr.Delete.P50, mr.Send.P50),
					mr.Delete.P99, mr.Send.P99, safeDiv(mr.Delete.P99, mr.Send.P99), mr.Deletes))
			ratio("steady with "+mr.Mix+" / without: delivery p99",
				fmt.Sprintf("%.1f / %.1f ms = %.2f", sc.E2E.P99, st.E2E.P99, safeDiv(sc.E2E.P99, st.E2E.P99)))
		}
	}
	if f := b.scenario("fanout"); f != nil {
		target("fanout: delivery p99 to every subscriber", "≤ 150 ms", fmt.Sprintf("%.1f ms over %d deliveries", f.E2E.P99, f.E2E.Count), f.E2E.P99 > 0 && f.E2E.P99 <= 150)
	}
	if f := b.scenario("fanout personal"); f != nil {
		target("fanout: delivery p99 to every subscriber, through personal channels (1.1)", "≤ 150 ms", fmt.Sprintf("%.1f ms over %d deliveries", f.E2E.P99, f.E2E.Count), f.E2E.P99 > 0 && f.E2E.P99 <= 150)
	}
	if dr != nil {
		if r := b.catchUpRate("persister"); mysqlCeil > 0 {
			target("drain: persister vs MySQL multi-row INSERT ceiling", "≥ 65 %", fmt.Sprintf("%.0f / %.0f = %s", r, mysqlCeil, pct(r, mysqlCeil)), r >= 0.65*mysqlCeil)
		}
		r := b.catchUpRate("cachewarm")
		target("drain: cachewarm", "≥ 30,000 events/s", fmt.Sprintf("%.0f events/s (%s of the Redis pipeline ceiling)", r, pct(r, redisCeil)), r >= 30000)
		r = b.catchUpRate("notifier")
		target("drain: notifier", "≥ 30,000 events/s", fmt.Sprintf("%.0f events/s (%s of the Centrifugo piped publish ceiling)", r, pct(r, centCeil)), r >= 30000)
	}
	if c := b.rep.Curve; c != nil && len(c.Points) > 0 {
		lo, hi := c.Points[0], c.Points[len(c.Points)-1]
		ratio("curve: stack CPU per accepted message, lowest / highest rate",
			fmt.Sprintf("%.0f µs at %.0f msg/s / %.0f µs at %.0f msg/s (idle: %.1f %% of a core)", lo.StackUs, lo.Accepted, hi.StackUs, hi.Accepted, c.IdleStack.Percent))
	}
	b.rep.Ratios, b.rep.Targets = ratios, targets
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
