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
	AllBack          bool    `json:"all_back"`
	BackSubs         int     `json:"back_subscriptions"`
	ConnectedUsers   int     `json:"connected_users"`
	// PerUserBack is, per user, from Centrifugo up until all its channels were back (ms).
	PerUserBack stats.Summary `json:"per_user_back_ms"`

	ConnTokens   int64         `json:"connection_tokens"`
	SubTokens    int64         `json:"subscription_tokens"`
	TokenErrors  int64         `json:"token_errors"`
	TokenLatency stats.Summary `json:"token_latency"`

	Recovered     int64 `json:"recovered"`
	NotRecovered  int64 `json:"not_recovered"` // needed a reload
	Reloads       int64 `json:"reloads"`
	ReloadErrors  int64 `json:"reload_errors"`  // failed attempts
	ReloadsFailed int64 `json:"reloads_failed"` // gave up after 3 attempts
	ViaReload     int64 `json:"messages_via_reload"`

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

// StormMarkdown renders the reconnect storm.
func StormMarkdown(s *Storm) string {
	var b strings.Builder
	p := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	p("\n### storm (reconnect storm)\n\n")
	p("%d users, each in %d chats (%s): %d chats, %d subscriptions (chat channels and each user's personal channel), one Centrifugo connection per user, "+
		"recovery on, tokens from the gateway through the SDK's callbacks as the web client does. Set-up %.1f s (%d token requests). "+
		"Centrifugo restarted (`scripts/stack.sh restart-centrifugo`) while %.0f msg/s went into random storm chats.\n\n",
		s.Users, s.ChatsPerUser, s.Layout, s.Chats, s.Subscriptions, s.SetupSeconds, s.SetupTokens, s.Rate)
	p("| measure | value |\n|---|---|\n")
	p("| Centrifugo down (health failing) | %.1f s |\n", s.DownSeconds)
	back := fmt.Sprintf("%.1f s", s.ReconnectSeconds)
	if !s.AllBack {
		back = fmt.Sprintf("**not all back**: %d of %d subscriptions after %.1f s", s.BackSubs, s.Subscriptions, s.ReconnectSeconds)
	}
	p("| Centrifugo up → every user reconnected and re-subscribed to all its channels | %s |\n", back)
	p("| Centrifugo up → every user caught up (re-subscribed and every reload done) | %.1f s |\n", s.CaughtUpSeconds)
	p("| per user, Centrifugo up → all its channels back: p50 / p90 / p99 / max ms | %s / %s / %s / %s |\n", ms(s.PerUserBack.P50), ms(s.PerUserBack.P90), ms(s.PerUserBack.P99), ms(s.PerUserBack.Max))
	p("| token requests during the storm: connection / subscription / errors | %d / %d / %d |\n", s.ConnTokens, s.SubTokens, s.TokenErrors)
	p("| token request latency p50 / p99 / max ms | %s / %s / %s |\n", ms(s.TokenLatency.P50), ms(s.TokenLatency.P99), ms(s.TokenLatency.Max))
	p("| resubscriptions recovered / not recovered (reload from the HTTP API) | %d / %d |\n", s.Recovered, s.NotRecovered)
	p("| reloads done / failed attempts / given up / messages first seen in a reload | %d / %d / %d / %d |\n", s.Reloads, s.ReloadErrors, s.ReloadsFailed, s.ViaReload)
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
