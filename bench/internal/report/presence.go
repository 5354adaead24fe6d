package report

import (
	"fmt"
	"strings"

	"github.com/logchat/bench/internal/procs"
)

// Presence is the cost of presence (issue 14): N users connecting, idling
// and disconnecting, and what each phase cost the stack's processes.
type Presence struct {
	Users    int             `json:"users"`
	Setup    string          `json:"setup"`
	Interval string          `json:"sweep_interval,omitempty"`
	Phases   []PresencePhase `json:"phases"`
	// ChannelsCall is Centrifugo's answer to one sweep's question (the
	// channels API with every user subscribed), asked ChannelsCalls times.
	ChannelsCalls      int      `json:"channels_calls"`
	ChannelsMsP50      float64  `json:"channels_ms_p50"`
	ChannelsCentCPUUs  float64  `json:"channels_centrifugo_cpu_us_per_call"`
	ChannelsUsersFound int      `json:"channels_users_found"`
	Notes              []string `json:"notes,omitempty"`
}

// PresencePhase is one phase: its wall time, every process's CPU, and the
// presence work the gateway counted in it.
type PresencePhase struct {
	Name         string        `json:"name"`
	Seconds      float64       `json:"seconds"`
	Changes      float64       `json:"changes"`      // users found coming or going
	Sweeps       float64       `json:"sweeps"`       // sweeps made (each: one channels call, one SMEMBERS)
	Publications float64       `json:"publications"` // presence.updated published
	Requests     int           `json:"requests"`     // HTTP requests the clients made (tokens)
	Usage        []procs.Usage `json:"usage"`
	// Per is what the phase's CPU figures are divided by ("1,000 connects",
	// "minute") and PerUnits the number of such units.
	Per      string  `json:"per"`
	PerUnits float64 `json:"per_units"`
}

// PresenceMarkdown renders the presence cost.
func PresenceMarkdown(p *Presence) string {
	var b strings.Builder
	w := func(f string, x ...any) { fmt.Fprintf(&b, f, x...) }
	w("\n### presence (%d connected users)\n\n", p.Users)
	w("Set-up: %s. Presence sweep interval: %s.\n\n", p.Setup, p.Interval)
	names := []string{}
	if len(p.Phases) > 0 {
		for _, u := range p.Phases[0].Usage {
			names = append(names, u.Name)
		}
	}
	w("| phase | wall s | changes | sweeps | presence.updated | client HTTP requests |")
	for _, n := range names {
		w(" %s CPU s |", n)
	}
	w(" unit |\n|---|---|---|---|---|---|")
	for range names {
		w("---|")
	}
	w("---|\n")
	for _, ph := range p.Phases {
		w("| %s | %.1f | %.0f | %.0f | %.0f | %d |", ph.Name, ph.Seconds, ph.Changes, ph.Sweeps, ph.Publications, ph.Requests)
		for _, u := range ph.Usage {
			w(" %.2f |", u.CPUSeconds)
		}
		w(" %s |\n", ph.Per)
	}
	w("\nCPU seconds per unit (the phase's CPU divided by its units):\n\n| phase | unit |")
	for _, n := range names {
		w(" %s |", n)
	}
	w("\n|---|---|")
	for range names {
		w("---|")
	}
	w("\n")
	for _, ph := range p.Phases {
		if ph.PerUnits <= 0 {
			continue
		}
		w("| %s | %s |", ph.Name, ph.Per)
		for _, u := range ph.Usage {
			w(" %.3f |", u.CPUSeconds/ph.PerUnits)
		}
		w("\n")
	}
	w("\nOne sweep's question to Centrifugo (`channels` with pattern `user:*`, %d users subscribed), asked %d times: %.2f ms p50, %.0f µs of Centrifugo CPU per call; %d users found.\n",
		p.ChannelsUsersFound, p.ChannelsCalls, p.ChannelsMsP50, p.ChannelsCentCPUUs, p.ChannelsUsersFound)
	for _, n := range p.Notes {
		w("\n- %s", n)
	}
	w("\n")
	return b.String()
}
