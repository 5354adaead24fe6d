package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logchat/bench/internal/procs"
)

// CurvePoint is one rate of the curve scenario.
type CurvePoint struct {
	Rate       float64            `json:"target_rate"`
	Accepted   float64            `json:"accepted_per_second"`
	StackPct   float64            `json:"stack_cpu_percent"` // of one core
	StackUs    float64            `json:"stack_cpu_us_per_msg"`
	AboveIdle  float64            `json:"stack_cpu_us_per_msg_above_idle"` // idle CPU of the same duration taken off
	ProcUs     map[string]float64 `json:"process_cpu_us_per_msg"`
	SendP50    float64            `json:"send_p50_ms"`
	SendP99    float64            `json:"send_p99_ms"`
	DelivP50   float64            `json:"delivery_p50_ms"`
	DelivP99   float64            `json:"delivery_p99_ms"`
	Lost       int64              `json:"lost"`
	Duplicated int64              `json:"duplicated"`
	OutOfOrder int64              `json:"out_of_order"`
	// LoadGenPct is the load generator's own CPU (it shares the machine), % of a core.
	LoadGenPct float64 `json:"load_generator_cpu_percent"`
}

// Curve is the CPU cost of a message across rates, after an idle measurement.
type Curve struct {
	Chats       int           `json:"chats"`
	Duration    string        `json:"duration_per_rate"`
	IdleSeconds float64       `json:"idle_seconds"`
	Idle        []procs.Usage `json:"idle_processes"`
	IdleStack   StackCPU      `json:"idle_stack"`
	Points      []CurvePoint  `json:"points"`
}

// ParseRates reads a comma-separated list of positive rates ("100,300,1e3").
func ParseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no rates in %q", s)
	}
	return out, nil
}

// NewCurvePoint summarizes one rate's scenario; idlePct is the stack's CPU %
// of a core with no traffic.
func NewCurvePoint(rate float64, s *Scenario, idlePct float64) CurvePoint {
	ApplyCPU(s)
	pt := CurvePoint{Rate: rate, Accepted: s.Rate, ProcUs: map[string]float64{},
		SendP50: s.Send.P50, SendP99: s.Send.P99, DelivP50: s.E2E.P50, DelivP99: s.E2E.P99,
		Lost: s.Delivery.Lost, Duplicated: s.Delivery.Duplicated, OutOfOrder: s.Delivery.OutOfOrder}
	if s.Stack != nil {
		pt.StackPct, pt.StackUs = s.Stack.Percent, s.Stack.MicrosPerMsg
		// The measurement lasts from the first send until every delivery:
		// its CPU seconds over that window, less what idling would have cost.
		if s.Stack.Percent > 0 {
			window := s.Stack.Seconds / (s.Stack.Percent / 100)
			pt.AboveIdle = MicrosPerMsg(max(0, s.Stack.Seconds-idlePct/100*window), s.Accepted)
		}
	}
	for _, u := range s.Procs {
		pt.ProcUs[u.Name] = u.CPUMicrosPerMsg
	}
	return pt
}

// CurveMarkdown renders the curve's tables and links its plot.
func CurveMarkdown(c *Curve, plotDir string) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("\n### curve (log design)\n\n")
	p("Open loop at each rate for %s over %d direct chats of 2 members (every member a live subscriber), "+
		"the workers' backlog back to 0 before each rate. Stack = every measured process (the load generator is not one; "+
		"mariadb and redis are machine-wide services, so other work on the machine shows in them). The window of each rate runs from its first send until every delivery arrived.\n\n", c.Duration, c.Chats)
	p("Idle (%.0f s, no traffic, world connected): stack CPU %.1f %% of a core (%.2f CPU s).\n\n", c.IdleSeconds, c.IdleStack.Percent, c.IdleStack.Seconds)
	p("| target msg/s | accepted msg/s | stack CPU %% of a core | stack CPU µs / msg | µs / msg above idle | send p50 / p99 ms | delivery p50 / p99 ms | lost / dup / out-of-order | load generator CPU %% of a core |\n")
	p("|---:|---:|---:|---:|---:|---|---|---|---:|\n")
	for _, pt := range c.Points {
		p("| %s | %s | %.0f | %s | %s | %s / %s | %s / %s | %d / %d / %d | %.0f |\n", num(pt.Rate), num(pt.Accepted), pt.StackPct, us(pt.StackUs), us(pt.AboveIdle),
			ms(pt.SendP50), ms(pt.SendP99), ms(pt.DelivP50), ms(pt.DelivP99), pt.Lost, pt.Duplicated, pt.OutOfOrder, pt.LoadGenPct)
	}
	p("\nCPU µs per accepted message, by process and rate:\n\n")
	b.WriteString(ProcRateTable(c))
	p("\n![curve](%scurve-cpu-latency.svg)\n", plotDir)
	return b.String()
}

// ProcRateTable is process × rate of CPU µs per message, the stack last.
func ProcRateTable(c *Curve) string {
	var b strings.Builder
	var names []string
	seen := map[string]bool{}
	for _, u := range c.Idle {
		if !seen[u.Name] {
			seen[u.Name] = true
			names = append(names, u.Name)
		}
	}
	for _, pt := range c.Points {
		for n := range pt.ProcUs {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	b.WriteString("| process |")
	for _, pt := range c.Points {
		fmt.Fprintf(&b, " %s/s |", num(pt.Rate))
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(c.Points)) + "\n")
	for _, n := range names {
		fmt.Fprintf(&b, "| %s |", n)
		for _, pt := range c.Points {
			fmt.Fprintf(&b, " %s |", us(pt.ProcUs[n]))
		}
		b.WriteString("\n")
	}
	b.WriteString("| **stack** |")
	for _, pt := range c.Points {
		fmt.Fprintf(&b, " %s |", us(pt.StackUs))
	}
	b.WriteString("\n")
	return b.String()
}

func writeCurvePlot(dir string, c *Curve) error {
	if len(c.Points) == 0 {
		return nil
	}
	var x, cpu, p99 []float64
	for _, pt := range c.Points {
		x = append(x, pt.Accepted)
		cpu = append(cpu, pt.StackUs)
		p99 = append(p99, pt.DelivP99)
	}
	svg := LineChart("curve: stack CPU per message and delivery p99 against rate", "accepted messages per second",
		"µs per message / ms (log scale)", []Line{{Name: "stack CPU µs / msg", X: x, Y: cpu}, {Name: "delivery p99 ms", X: x, Y: p99}}, true)
	return os.WriteFile(filepath.Join(dir, "curve-cpu-latency.svg"), []byte(svg), 0o644)
}
