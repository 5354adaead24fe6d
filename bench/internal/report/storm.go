package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/stats"
)

// Storm is the reconnect storm: Centrifugo restarted under every user's live connection.
type Storm struct {
	// Mode is the client: "chat" (1.0: the personal and every chat channel,
	// reloads) or "personal" (1.1: the personal channel, GET /updates).
	Mode          string  `json:"mode"`
	WorldSeconds  float64 `json:"world_seconds"` // users and chats, shared by the modes of one run
	Users         int     `json:"users"`
	ChatsPerUser  int     `json:"chats_per_user"`
	Chats         int     `json:"chats"`
	Layout        string  `json:"layout"`
	Subscriptions int     `json:"subscriptions"` // personal channels included
	SetupSeconds  float64 `json:"setup_seconds"` // users, chats, connections and first subscriptions
	SetupTokens   int64   `json:"setup_token_requests"`
	Rate          float64 `json:"send_rate"`

	DownSeconds      float64 `json:"down_seconds"`      // Centrifugo's health failing
	ReconnectSeconds float64 `json:"reconnect_seconds"` // from Centrifugo answering again until every subscription is back
	CaughtUpSeconds  float64 `json:"caught_up_seconds"` // from Centrifugo answering again until every reload is done too
	// AllDeliveredSeconds is from Centrifugo answering again until every
	// message accepted before then reached every member of its chat.
	AllDeliveredSeconds float64 `json:"all_delivered_seconds"`
	AllDelivered        bool    `json:"all_delivered"`
	AllBack             bool    `json:"all_back"`
	BackSubs            int     `json:"back_subscriptions"`
	ConnectedUsers      int     `json:"connected_users"`
	// PerUserBack is, per user, from Centrifugo up until all its channels were back (ms).
	PerUserBack stats.Summary `json:"per_user_back_ms"`

	ConnTokens   int64         `json:"connection_tokens"`
	SubTokens    int64         `json:"subscription_tokens"`
	TokenErrors  int64         `json:"token_errors"`
	TokenLatency stats.Summary `json:"token_latency"`

	Recovered     int64 `json:"recovered"`
	NotRecovered  int64 `json:"not_recovered"` // needed a reload
	Reloads       int64 `json:"reloads"`
	ReloadErrors  int64 `json:"reload_errors"`       // failed attempts
	ReloadsFailed int64 `json:"reloads_failed"`      // gave up after 3 attempts
	ViaReload     int64 `json:"messages_via_reload"` // or via GET /updates (1.1)
	CatchUps      int64 `json:"catch_ups"`           // 1.1: catch-ups from the last cursor
	UpdatesCalls  int64 `json:"updates_calls"`       // 1.1: GET /updates requests
	Gone          int64 `json:"gone_410"`
	Gaps          int64 `json:"live_gaps"` // 1.1: gaps in live updates filled by GET /updates

	SentBefore, SentDuring, SentAfter int64            `json:"-"`
	Sent                              map[string]int64 `json:"sent"`
	Failed                            int64            `json:"failed"`
	Check                             load.StormCheck  `json:"check"`
	SubscribeErrors                   map[string]int   `json:"subscribe_errors,omitempty"`
	SendErrors                        map[string]int   `json:"send_errors,omitempty"`

	Seconds float64       `json:"seconds"` // of the CPU measurement
	Procs   []procs.Usage `json:"processes"`
	Stack   StackCPU      `json:"stack_cpu"`
	Notes   []string      `json:"notes,omitempty"`
}

// Account is one user in many chats.
type Account struct {
	Chats        int     `json:"chats"`
	Setup        string  `json:"setup"`
	ChannelLimit int     `json:"centrifugo_channel_limit"`
	PageSize     int     `json:"page_size"`
	ListSeconds  float64 `json:"list_seconds"`
	ListPages    int     `json:"list_pages"`
	Listed       int     `json:"listed_chats"`

	ConnectSeconds   float64        `json:"connect_seconds"`
	SubscribeSeconds float64        `json:"subscribe_seconds"`
	Channels         int            `json:"channels"` // chats + the personal channel
	Subscribed       int            `json:"subscribed"`
	Ended            int            `json:"ended_with_error"`
	Unsettled        int            `json:"unsettled"`
	SubTokens        int64          `json:"subscription_tokens"`
	TokenErrors      int64          `json:"token_errors"`
	TokenLatency     stats.Summary  `json:"token_latency"`
	Errors           map[string]int `json:"errors,omitempty"`

	PersonalSubscribed bool     `json:"personal_subscribed"`
	OldestChatID       int64    `json:"oldest_chat_id"`
	OldestSubscribed   bool     `json:"oldest_subscribed"`
	Delivered          bool     `json:"delivered"`
	DeliveryMs         float64  `json:"delivery_ms"`
	Notes              []string `json:"notes,omitempty"`
}

func sortedErrs(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("`%s` ×%d", k, m[k]))
	}
	return strings.Join(out, "; ")
}

// ModeName names a storm's client.
func (s *Storm) ModeName() string {
	if s.Mode == "personal" {
		return "personal channel (1.1 client)"
	}
	return "chat channels (v1 client)"
}

// StormsMarkdown renders the storms of a run: a comparison when there are
// several, then each.
func StormsMarkdown(ss []*Storm) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	if len(ss) > 1 {
		p("\n### storm: the clients compared (same users and chats, one Centrifugo restart each)\n\n| measure |")
		for _, s := range ss {
			p(" %s |", s.ModeName())
		}
		p("\n|---|")
		for range ss {
			p("---|")
		}
		p("\n")
		row := func(name string, f func(s *Storm) string) {
			p("| %s |", name)
			for _, s := range ss {
				p(" %s |", f(s))
			}
			p("\n")
		}
		row("subscriptions", func(s *Storm) string { return num(float64(s.Subscriptions)) })
		row("Centrifugo down (health failing)", func(s *Storm) string { return fmt.Sprintf("%.1f s", s.DownSeconds) })
		row("token requests to connect and subscribe from nothing (set-up: connection + subscription)", func(s *Storm) string { return num(float64(s.SetupTokens)) })
		row("token requests during the storm: connection + subscription (errors)", func(s *Storm) string {
			return fmt.Sprintf("%d + %d = %d (%d)", s.ConnTokens, s.SubTokens, s.ConnTokens+s.SubTokens, s.TokenErrors)
		})
		row("Centrifugo up → every subscription back", func(s *Storm) string {
			if !s.AllBack {
				return fmt.Sprintf("**not all**: %d of %d", s.BackSubs, s.Subscriptions)
			}
			return fmt.Sprintf("%.2f s", s.ReconnectSeconds)
		})
		row("Centrifugo up → every reload / catch-up done", func(s *Storm) string { return fmt.Sprintf("%.2f s", s.CaughtUpSeconds) })
		row("Centrifugo up → every message sent before it was up received by every member", func(s *Storm) string {
			if !s.AllDelivered {
				return fmt.Sprintf("**not all** after %.1f s", s.AllDeliveredSeconds)
			}
			return fmt.Sprintf("%.2f s", s.AllDeliveredSeconds)
		})
		row("resubscriptions recovered / not recovered", func(s *Storm) string { return fmt.Sprintf("%d / %d", s.Recovered, s.NotRecovered) })
		row("reloads (history, chat list)", func(s *Storm) string { return num(float64(s.Reloads)) })
		row("GET /updates calls (catch-ups; 410)", func(s *Storm) string { return fmt.Sprintf("%d (%d; %d)", s.UpdatesCalls, s.CatchUps, s.Gone) })
		row("failed request attempts / given up", func(s *Storm) string { return fmt.Sprintf("%d / %d", s.ReloadErrors, s.ReloadsFailed) })
		row("messages first seen in a reload or GET /updates", func(s *Storm) string { return num(float64(s.ViaReload)) })
		row("messages accepted before / during / after the outage", func(s *Storm) string {
			return fmt.Sprintf("%d / %d / %d", s.Sent["before"], s.Sent["during"], s.Sent["after"])
		})
		row("deliveries expected / lost / duplicated", func(s *Storm) string {
			return fmt.Sprintf("%d / %d / %d", s.Check.Expected, s.Check.Lost, s.Check.Duplicated)
		})
		row("stack CPU s during the storm (µs per message)", func(s *Storm) string { return fmt.Sprintf("%.1f (%s)", s.Stack.Seconds, us(s.Stack.MicrosPerMsg)) })
	}
	for _, s := range ss {
		b.WriteString(StormMarkdown(s))
	}
	return b.String()
}

// StormMarkdown renders the reconnect storm.
func StormMarkdown(s *Storm) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("\n### storm (reconnect storm), %s\n\n", s.ModeName())
	what := "chat channels and each user's personal channel"
	if s.Mode == "personal" {
		what = "each user's personal channel only"
	}
	p("%d users, each in %d chats (%s): %d chats, %d subscriptions (%s), one Centrifugo connection per user, "+
		"recovery on, tokens from the gateway through the SDK's callbacks as the web client does. Set-up %.1f s (%d token requests). "+
		"Centrifugo restarted (`scripts/stack.sh restart-centrifugo`) while %.0f msg/s went into random storm chats.\n\n",
		s.Users, s.ChatsPerUser, s.Layout, s.Chats, s.Subscriptions, what, s.SetupSeconds, s.SetupTokens, s.Rate)
	p("| measure | value |\n|---|---|\n")
	p("| Centrifugo down (health failing) | %.1f s |\n", s.DownSeconds)
	back := fmt.Sprintf("%.1f s", s.ReconnectSeconds)
	if !s.AllBack {
		back = fmt.Sprintf("**not all back**: %d of %d subscriptions after %.1f s", s.BackSubs, s.Subscriptions, s.ReconnectSeconds)
	}
	p("| Centrifugo up → every user reconnected and re-subscribed to all its channels | %s |\n", back)
	p("| Centrifugo up → every user caught up (re-subscribed and every reload or catch-up done) | %.1f s |\n", s.CaughtUpSeconds)
	p("| Centrifugo up → every message accepted before it was up received by every member | %.1f s (all: %v) |\n", s.AllDeliveredSeconds, s.AllDelivered)
	p("| per user, Centrifugo up → all its channels back: p50 / p90 / p99 / max ms | %s / %s / %s / %s |\n", ms(s.PerUserBack.P50), ms(s.PerUserBack.P90), ms(s.PerUserBack.P99), ms(s.PerUserBack.Max))
	p("| token requests during the storm: connection / subscription / errors | %d / %d / %d |\n", s.ConnTokens, s.SubTokens, s.TokenErrors)
	p("| token request latency p50 / p99 / max ms | %s / %s / %s |\n", ms(s.TokenLatency.P50), ms(s.TokenLatency.P99), ms(s.TokenLatency.Max))
	p("| resubscriptions recovered / not recovered (reload from the HTTP API) | %d / %d |\n", s.Recovered, s.NotRecovered)
	p("| reloads done / failed attempts / given up / messages first seen in a reload or GET /updates | %d / %d / %d / %d |\n", s.Reloads, s.ReloadErrors, s.ReloadsFailed, s.ViaReload)
	if s.Mode == "personal" {
		p("| GET /updates calls / catch-ups / live gaps filled / 410 | %d / %d / %d / %d |\n", s.UpdatesCalls, s.CatchUps, s.Gaps, s.Gone)
	}
	p("| messages accepted before / during / after the outage (failed) | %d / %d / %d (%d) |\n", s.Sent["before"], s.Sent["during"], s.Sent["after"], s.Failed)
	p("| deliveries expected / delivered / lost / duplicated over realtime | %d / %d / %d / %d |\n", s.Check.Expected, s.Check.Delivered, s.Check.Lost, s.Check.Duplicated)
	p("\n")
	for _, n := range s.Notes {
		p("- %s\n", n)
	}
	if len(s.SubscribeErrors) > 0 {
		p("- subscription and reload errors: %s\n", sortedErrs(s.SubscribeErrors))
	}
	if len(s.SendErrors) > 0 {
		p("- send errors: %s\n", sortedErrs(s.SendErrors))
	}
	p("\nStack during the storm (%.1f s, from the restart until every message was checked; CPU µs per message over the %d messages accepted in that window):\n\n", s.Seconds, s.Sent["during"]+s.Sent["after"])
	st := s.Stack
	b.WriteString(ProcTable(s.Procs, &st))
	return b.String()
}

// AccountMarkdown renders the large account.
func AccountMarkdown(a *Account) string {
	var b strings.Builder
	p := func(f string, x ...any) { fmt.Fprintf(&b, f, x...) }
	p("\n### account (one user in %d chats)\n\n", a.Chats)
	p("Set-up: %s. Centrifugo's `client.channel_limit` (per connection): %d.\n\n", a.Setup, a.ChannelLimit)
	p("| step | result |\n|---|---|\n")
	p("| chat list through `GET /chats` paging (limit %d) | %.2f s, %d pages, %d chats |\n", a.PageSize, a.ListSeconds, a.ListPages, a.Listed)
	p("| connect to Centrifugo (connection token included) | %.3f s |\n", a.ConnectSeconds)
	p("| subscribe to %d channels (subscription tokens included) | %.2f s: %d subscribed, %d refused, %d unsettled |\n", a.Channels, a.SubscribeSeconds, a.Subscribed, a.Ended, a.Unsettled)
	p("| personal channel subscribed | %v |\n", a.PersonalSubscribed)
	p("| subscription token requests / errors / p50 / p99 ms | %d / %d / %s / %s |\n", a.SubTokens, a.TokenErrors, ms(a.TokenLatency.P50), ms(a.TokenLatency.P99))
	deliv := "**not delivered**"
	if a.Delivered {
		deliv = fmt.Sprintf("delivered in %.1f ms", a.DeliveryMs)
	}
	p("| one message to the oldest chat (%d, subscribed: %v) | %s |\n", a.OldestChatID, a.OldestSubscribed, deliv)
	p("\n")
	if len(a.Errors) > 0 {
		p("- subscription errors: %s\n", sortedErrs(a.Errors))
	}
	for _, n := range a.Notes {
		p("- %s\n", n)
	}
	return b.String()
}
