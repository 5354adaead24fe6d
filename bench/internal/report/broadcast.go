package report

import (
	"fmt"
	"strings"
)

// BroadcastRow is one way of sending one payload to many personal-style
// channels, measured over Calls calls.
type BroadcastRow struct {
	Method   string  `json:"method"` // "pipe" (N publish commands in one request) or "broadcast" (one command)
	Channels int     `json:"channels"`
	Calls    int     `json:"calls"`
	Bytes    int     `json:"payload_bytes"`
	WallP50  float64 `json:"wall_ms_p50"`
	WallMean float64 `json:"wall_ms_mean"`
	WallMax  float64 `json:"wall_ms_max"`
	// CentrifugoMicros is Centrifugo's CPU per channel published to (µs).
	CentrifugoMicros float64 `json:"centrifugo_cpu_us_per_channel"`
	// ClientMicros is the load generator's CPU per channel (µs): building
	// and encoding the request with gocent, what the notifier would spend.
	ClientMicros float64 `json:"client_cpu_us_per_channel"`
	Errors       int     `json:"errors"`
	Err          string  `json:"error,omitempty"`
}

// BroadcastMarkdown renders the broadcast measurement.
func BroadcastMarkdown(rows []BroadcastRow, namespace string) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("\n### broadcast (one payload to many personal channels: a pipe of publishes or one broadcast)\n\n")
	if len(rows) > 0 {
		p("One %d-byte payload published to N channels of the `%s` namespace (history on, as personal channels) through Centrifugo's HTTP server API, "+
			"either as one request holding N `publish` commands (gocent pipe; what the notifier does) or as one `broadcast` command; no subscribers. "+
			"Each row is %d calls after one unmeasured call; Centrifugo's CPU from /proc/<pid>/stat over them.\n\n", rows[0].Bytes, namespace, rows[0].Calls)
	}
	p("| channels | method | calls | wall ms per call p50 / mean / max | Centrifugo CPU µs per channel | client CPU µs per channel | errors |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		errs := fmt.Sprint(r.Errors)
		if r.Err != "" {
			errs += " (" + r.Err + ")"
		}
		p("| %s | %s | %d | %.1f / %.1f / %.1f | %.1f | %.1f | %s |\n", num(float64(r.Channels)), r.Method, r.Calls, r.WallP50, r.WallMean, r.WallMax, r.CentrifugoMicros, r.ClientMicros, errs)
	}
	return b.String()
}
