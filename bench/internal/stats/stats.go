// Package stats records latencies and counts over time and summarizes them:
// percentiles over a whole run and per-second series for the plots.
package stats

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Recorder keeps every sample of one measurement (a run is at most a few
// million samples, so exact percentiles are affordable).
type Recorder struct {
	mu    sync.Mutex
	start time.Time
	at    []float32 // seconds since start
	val   []float32 // milliseconds
}

// NewRecorder starts a recorder whose time axis begins at start.
func NewRecorder(start time.Time) *Recorder { return &Recorder{start: start} }

// Add records one latency observed at time at.
func (r *Recorder) Add(at time.Time, d time.Duration) {
	r.mu.Lock()
	r.at = append(r.at, float32(at.Sub(r.start).Seconds()))
	r.val = append(r.val, float32(d.Seconds()*1000))
	r.mu.Unlock()
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary of every sample, or of those in [from, to) seconds when to > 0.
func (r *Recorder) Summary(from, to float64) Summary {
	r.mu.Lock()
	vals := make([]float64, 0, len(r.val))
	for i, v := range r.val {
		if to > 0 && (float64(r.at[i]) < from || float64(r.at[i]) >= to) {
			continue
		}
		vals = append(vals, float64(v))
	}
	r.mu.Unlock()
	return Summarize(vals)
}

// Summarize computes the distribution of vals (milliseconds).
func Summarize(vals []float64) Summary {
	if len(vals) == 0 {
		return Summary{}
	}
	slices.Sort(vals)
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(vals)))) - 1
		return round(vals[max(0, min(i, len(vals)-1))])
	}
	return Summary{Count: len(vals), Mean: round(sum / float64(len(vals))), P50: q(0.50), P90: q(0.90),
		P99: q(0.99), P999: q(0.999), Max: round(vals[len(vals)-1])}
}

func round(v float64) float64 { return math.Round(v*100) / 100 }

// Point is one second of a series.
type Point struct {
	T     float64 `json:"t"`
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Series is the per-second count and latency percentiles.
func (r *Recorder) Series() []Point {
	r.mu.Lock()
	buckets := map[int][]float64{}
	last := 0
	for i, a := range r.at {
		b := int(a)
		buckets[b] = append(buckets[b], float64(r.val[i]))
		last = max(last, b)
	}
	r.mu.Unlock()
	out := make([]Point, 0, last+1)
	for b := 0; b <= last; b++ {
		s := Summarize(buckets[b])
		out = append(out, Point{T: float64(b), Count: s.Count, P50: s.P50, P99: s.P99, Max: s.Max})
	}
	return out
}

// Gauge is a value sampled over time (a backlog, a memory size).
type Gauge struct {
	mu    sync.Mutex
	start time.Time
	T     []float64
	V     []float64
}

// NewGauge starts a gauge whose time axis begins at start.
func NewGauge(start time.Time) *Gauge { return &Gauge{start: start} }

// Set records v now.
func (g *Gauge) Set(v float64) {
	g.mu.Lock()
	g.T = append(g.T, time.Since(g.start).Seconds())
	g.V = append(g.V, v)
	g.mu.Unlock()
}

// Points returns copies of the samples.
func (g *Gauge) Points() (t, v []float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.T), slices.Clone(g.V)
}
