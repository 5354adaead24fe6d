// Package report writes a benchmark run as JSON, as Markdown tables and as
// SVG plots of latency and throughput over time.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/logchat/bench/internal/limits"
	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/stats"
)

// Scenario is the outcome of one scenario.
type Scenario struct {
	Name    string         `json:"name"`
	Design  string         `json:"design"` // "log" (the architecture) or "sync" (the baseline)
	Params  map[string]any `json:"params"`
	Seconds float64        `json:"seconds"` // of sending

	Sent     int64   `json:"sent"`
	Accepted int64   `json:"accepted"`
	Failed   int64   `json:"failed"`
	Rate     float64 `json:"accepted_per_second"`
	// DeliveredRate is messages accepted and delivered to every subscriber, per second of sending.
	DeliveredRate float64 `json:"delivered_per_second"`

	Send    stats.Summary `json:"send_latency"`
	E2E     stats.Summary `json:"delivery_latency"`
	Persist stats.Summary `json:"persist_lag"`

	Delivery load.Delivery      `json:"delivery"`
	History  *load.HistoryCheck `json:"history,omitempty"`
	Backlog  *BacklogSummary    `json:"backlog,omitempty"`
	Procs    []procs.Usage      `json:"processes"`
	// Stack is the sum over Procs (the load generator is not one of them).
	Stack  *StackCPU      `json:"stack_cpu,omitempty"`
	Errors map[string]int `json:"errors,omitempty"`
	Extra  any            `json:"extra,omitempty"`
	Notes  []string       `json:"notes,omitempty"`

	SendSeries []stats.Point `json:"send_series,omitempty"`
	E2ESeries  []stats.Point `json:"delivery_series,omitempty"`
	BacklogT   []float64     `json:"backlog_t,omitempty"`
	BacklogV   []float64     `json:"backlog_v,omitempty"`
}

// BacklogSummary is the largest worker backlog seen during and at the end of sending.
type BacklogSummary struct {
	Max     float64 `json:"max"`
	End     float64 `json:"end"`
	Bounded bool    `json:"bounded"`
}

// StackCPU is the CPU of the whole stack (every measured process: gateway,
// workers, NATS, Centrifugo, MariaDB, Redis) over one measurement.
type StackCPU struct {
	Seconds float64 `json:"cpu_seconds"`
	Percent float64 `json:"cpu_percent"` // of one core
	// MicrosPerMsg is Seconds per accepted message, in µs (0: no messages).
	MicrosPerMsg float64 `json:"cpu_us_per_msg"`
}

// MicrosPerMsg is cpuSeconds spread over msgs messages, in µs (0 without messages).
func MicrosPerMsg(cpuSeconds float64, msgs int64) float64 {
	if msgs <= 0 {
		return 0
	}
	return math.Round(cpuSeconds*1e6/float64(msgs)*10) / 10
}

// SumCPU fills each process's µs per message and returns the stack's total.
func SumCPU(us []procs.Usage, msgs int64) StackCPU {
	var t StackCPU
	for i := range us {
		us[i].CPUMicrosPerMsg = MicrosPerMsg(us[i].CPUSeconds, msgs)
		t.Seconds += us[i].CPUSeconds
		t.Percent += us[i].CPUPercent
	}
	t.Seconds = math.Round(t.Seconds*100) / 100
	t.Percent = math.Round(t.Percent*10) / 10
	t.MicrosPerMsg = MicrosPerMsg(t.Seconds, msgs)
	return t
}

// ApplyCPU fills s.Stack and the processes' µs per accepted message.
func ApplyCPU(s *Scenario) {
	if len(s.Procs) == 0 {
		return
	}
	t := SumCPU(s.Procs, s.Accepted)
	s.Stack = &t
}

// Target is one goal of issue 5 and whether the run met it.
type Target struct {
	What     string `json:"what"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Report is a whole run.
type Report struct {
	Started   string          `json:"started"`
	Command   string          `json:"command"`
	Machine   map[string]any  `json:"machine"`
	Scenarios []*Scenario     `json:"scenarios"`
	Limits    []limits.Result `json:"limits,omitempty"`
	Ratios    []Target        `json:"ratios,omitempty"`
	Targets   []Target        `json:"targets,omitempty"`
	Curve     *Curve          `json:"curve,omitempty"`
	Broadcast []BroadcastRow  `json:"broadcast,omitempty"`
	Storms    []*Storm        `json:"storms,omitempty"`
	Account   *Account        `json:"account,omitempty"`
	Presence  *Presence       `json:"presence,omitempty"`
	Notes     []string        `json:"notes,omitempty"`
}

// Write puts report.json, report.md and the plots into dir.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range r.Scenarios {
		ApplyCPU(s)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), raw, 0o644); err != nil {
		return err
	}
	for _, s := range r.Scenarios {
		if err := writePlots(dir, s); err != nil {
			return err
		}
	}
	if r.Curve != nil {
		if err := writeCurvePlot(dir, r.Curve); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(Markdown(r, "")), 0o644)
}

func slug(s *Scenario) string { return strings.ReplaceAll(s.Name, " ", "-") }

func writePlots(dir string, s *Scenario) error {
	if len(s.SendSeries) == 0 && len(s.E2ESeries) == 0 {
		return nil
	}
	xs := func(ps []stats.Point, f func(stats.Point) float64) ([]float64, []float64) {
		var x, y []float64
		for _, p := range ps {
			x = append(x, p.T)
			y = append(y, f(p))
		}
		return x, y
	}
	var lat, thr []Line
	add := func(dst *[]Line, name string, ps []stats.Point, f func(stats.Point) float64) {
		if len(ps) == 0 {
			return
		}
		x, y := xs(ps, f)
		*dst = append(*dst, Line{Name: name, X: x, Y: y})
	}
	add(&lat, "send p50", s.SendSeries, func(p stats.Point) float64 { return p.P50 })
	add(&lat, "send p99", s.SendSeries, func(p stats.Point) float64 { return p.P99 })
	add(&lat, "delivery p50", s.E2ESeries, func(p stats.Point) float64 { return p.P50 })
	add(&lat, "delivery p99", s.E2ESeries, func(p stats.Point) float64 { return p.P99 })
	add(&thr, "accepted/s", s.SendSeries, func(p stats.Point) float64 { return float64(p.Count) })
	add(&thr, "deliveries/s", s.E2ESeries, func(p stats.Point) float64 { return float64(p.Count) })
	if len(s.BacklogT) > 0 {
		thr = append(thr, Line{Name: "worker backlog", X: s.BacklogT, Y: s.BacklogV})
	}
	title := fmt.Sprintf("%s (%s design)", s.Name, s.Design)
	if err := os.WriteFile(filepath.Join(dir, slug(s)+"-latency.svg"),
		[]byte(LineChart(title+": latency per second", "seconds", "milliseconds (log scale)", lat, true)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, slug(s)+"-throughput.svg"),
		[]byte(LineChart(title+": throughput per second", "seconds", "per second / events", thr, false)), 0o644)
}

func ms(v float64) string {
	if v == 0 {
		return "–"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// us renders µs per message ("–" when there were no messages).
func us(v float64) string {
	if v == 0 {
		return "–"
	}
	if v >= 100 {
		return num(v)
	}
	return fmt.Sprintf("%.1f", v)
}

// ProcTable is a scenario's process table with the stack's total row.
func ProcTable(ps []procs.Usage, stack *StackCPU) string {
	var b strings.Builder
	b.WriteString("| process | CPU s | CPU % of a core | CPU µs / msg | peak RSS MiB | steady RSS MiB |\n|---|---:|---:|---:|---:|---:|\n")
	for _, u := range ps {
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %s | %.0f | %.0f |\n", u.Name, u.CPUSeconds, u.CPUPercent, us(u.CPUMicrosPerMsg), u.PeakRSSMiB, u.SteadyRSSMiB)
	}
	if stack != nil {
		fmt.Fprintf(&b, "| **stack** | %.2f | %.0f | %s | | |\n", stack.Seconds, stack.Percent, us(stack.MicrosPerMsg))
	}
	return b.String()
}

func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// Markdown renders the report; plotDir prefixes plot links (relative to the Markdown file).
func Markdown(r *Report, plotDir string) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("Run started %s with `%s`.\n\n", r.Started, r.Command)
	p("### Machine\n\n")
	keys := make([]string, 0, len(r.Machine))
	for k := range r.Machine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p("- %s: %v\n", k, r.Machine[k])
	}
	p("\n### Results\n\n")
	p("| scenario | design | accepted msg/s | delivered msg/s | send p50 / p90 / p99 / p99.9 / max ms | delivery p50 / p90 / p99 / p99.9 / max ms | persist lag p50 / p99 / max ms | lost / dup / out-of-order | history missing / dup | stack CPU %% of a core | stack CPU µs / msg |\n")
	p("|---|---|---:|---:|---|---|---|---|---|---:|---:|\n")
	for _, s := range r.Scenarios {
		if s.Sent == 0 {
			continue
		}
		hist := "–"
		if s.History != nil {
			hist = fmt.Sprintf("%d / %d", s.History.Missing, s.History.Duplicated+s.History.WrongID)
		}
		stackPct, stackUs := "–", "–"
		if s.Stack != nil {
			stackPct, stackUs = fmt.Sprintf("%.0f", s.Stack.Percent), us(s.Stack.MicrosPerMsg)
		}
		p("| %s | %s | %s | %s | %s / %s / %s / %s / %s | %s / %s / %s / %s / %s | %s / %s / %s | %d / %d / %d | %s | %s | %s |\n",
			s.Name, s.Design, num(s.Rate), num(s.DeliveredRate),
			ms(s.Send.P50), ms(s.Send.P90), ms(s.Send.P99), ms(s.Send.P999), ms(s.Send.Max),
			ms(s.E2E.P50), ms(s.E2E.P90), ms(s.E2E.P99), ms(s.E2E.P999), ms(s.E2E.Max),
			ms(s.Persist.P50), ms(s.Persist.P99), ms(s.Persist.Max),
			s.Delivery.Lost, s.Delivery.Duplicated, s.Delivery.OutOfOrder, hist, stackPct, stackUs)
	}
	if len(r.Ratios) > 0 {
		p("\n### Ratios\n\n| what | measured |\n|---|---|\n")
		for _, t := range r.Ratios {
			p("| %s | %s |\n", t.What, t.Measured)
		}
	}
	if len(r.Targets) > 0 {
		p("\n### Targets (issue 5)\n\n| target | goal | measured | met |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			met := "**missed**"
			if t.Met {
				met = "yes"
			}
			p("| %s | %s | %s | %s |\n", t.What, t.Goal, t.Measured, met)
		}
	}
	if len(r.Limits) > 0 {
		p("\n### Each component alone on this machine (`limits`)\n\n| component | mode | ceiling |\n|---|---|---:|\n")
		for _, l := range r.Limits {
			v := num(l.PerSecond) + " " + l.Unit
			if l.Err != "" {
				v = "error: " + l.Err
			}
			p("| %s | %s | %s |\n", l.Component, l.Mode, v)
		}
	}
	for _, s := range r.Scenarios {
		p("\n### %s (%s design)\n\n", s.Name, s.Design)
		if len(s.Params) > 0 {
			keys := make([]string, 0, len(s.Params))
			for k := range s.Params {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var ps []string
			for _, k := range keys {
				ps = append(ps, fmt.Sprintf("%s=%v", k, s.Params[k]))
			}
			p("Parameters: %s. Sent %d, accepted %d, failed %d over %.1f s.\n\n", strings.Join(ps, ", "), s.Sent, s.Accepted, s.Failed, s.Seconds)
		}
		if s.Backlog != nil {
			p("Worker backlog: max %s events, %s at the end of sending (bounded: %v).\n\n", num(s.Backlog.Max), num(s.Backlog.End), s.Backlog.Bounded)
		}
		for _, n := range s.Notes {
			p("- %s\n", n)
		}
		if len(s.Notes) > 0 {
			p("\n")
		}
		if len(s.Errors) > 0 {
			p("Send errors: ")
			for k, v := range s.Errors {
				p("`%s` ×%d; ", k, v)
			}
			p("\n\n")
		}
		if len(s.Procs) > 0 {
			b.WriteString(ProcTable(s.Procs, s.Stack))
			p("\n")
		}
		if len(s.SendSeries) > 0 || len(s.E2ESeries) > 0 {
			p("![%s latency](%s%s-latency.svg)\n![%s throughput](%s%s-throughput.svg)\n", s.Name, plotDir, slug(s), s.Name, plotDir, slug(s))
		}
	}
	if r.Curve != nil {
		b.WriteString(CurveMarkdown(r.Curve, plotDir))
	}
	if len(r.Broadcast) > 0 {
		b.WriteString(BroadcastMarkdown(r.Broadcast, "user"))
	}
	if len(r.Storms) > 0 {
		b.WriteString(StormsMarkdown(r.Storms))
	}
	if r.Account != nil {
		b.WriteString(AccountMarkdown(r.Account))
	}
	if r.Presence != nil {
		b.WriteString(PresenceMarkdown(r.Presence))
	}
	for _, n := range r.Notes {
		p("\n- %s", n)
	}
	p("\n")
	return b.String()
}
