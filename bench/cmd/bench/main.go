// Command bench drives a running logchat stack through its real HTTP API and
// real Centrifugo connections and reports throughput, latency, correctness and
// the resources of every process of the stack. `bench --help` lists the
// scenarios and settings; scripts/bench.sh (`make bench`) starts a stack of its
// own, runs every scenario and writes docs/performance.md.
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/logchat/ingest/bus"
)

func main() {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	cfg.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `bench: load and correctness benchmark of a running logchat stack.

Usage: bench [flags]

Scenarios (--scenarios, comma-separated, or "all" = %s):
  smoke     a few seconds of steady sending at a low rate; exits 1 on any lost,
            duplicated or out-of-order delivery or history mismatch (CI)
  steady    open-loop fixed rate over chats of 2 members with live subscribers;
            with --mix edits=10,deletes=2 run again in the same sitting with
            that share of the operations editing or deleting earlier messages
            (per-operation latency, stack CPU per operation, ratios)
  max       closed-loop ramp of concurrent senders to the highest rate whose
            worker backlog stays bounded, then held
  fanout    one group, every member (or --fanout-connected of them) a live
            subscriber, fixed rate; once per --fanout-via: subscribed to its
            personal channel only ("fanout personal", API 1.1) and to the
            group's channel ("fanout"); CPU per delivery (message × member)
  baseline  steady and max against the synchronous design (replaces the
            stack's gateway with bench/cmd/baseline, then back)
  drain     stop the workers, accept N messages, start each worker alone and
            measure its catch-up rate
  limits    each component's own ceiling: JetStream (fsync always and lazy),
            MySQL multi-row INSERT, Redis pipelines, Centrifugo piped publish
  broadcast one ~300-byte payload to N personal-style channels (namespace
            user, with history; --broadcast-channels): a pipe of N publish
            commands against one broadcast command; wall time per call and
            Centrifugo's CPU per channel
  curve     the stack idle, then steady at several rates in one sitting: CPU
            per accepted message (per process and the stack) against rate
  storm     reconnect storm: every user live, Centrifugo restarted
            (stack.sh restart-centrifugo) while messages flow; once per
            --storm-via on the same users and chats: the v1 client (personal
            and every chat channel, reloads what was not recovered) and the
            1.1 client (personal channel only, catches up with GET /updates
            from its cursor); time until all re-subscribed and until every
            message is in, token load, reloads and GET /updates calls, every
            message to every member exactly once
  account   one user in many chats: chat list paging, connect, subscribe to
            every chat (Centrifugo's channel limit), a message to the oldest
  presence  (not in "all") what presence costs: --presence-users connect as 1.1
            clients, idle --presence-idle, disconnect; CPU of every process
            per phase, sweeps and presence.updated publications (the gateway's
            counters), and one sweep's channels call alone

Flags:
`, strings.Join(allScenarios, ","))
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	// The load generator shares the 2 cores with the stack it measures, and
	// thousands of subscribers' goroutines make each GC cycle expensive:
	// trading memory for fewer cycles leaves more CPU to the stack.
	debug.SetGCPercent(400)
	if cfg.CPUProfile != "" {
		// The load generator shares the machine with the stack; its own cost
		// is worth knowing (and keeping low).
		f, err := os.Create(cfg.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Fatalf("cpu profile: %v", err)
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	ok, err := run(ctx, cfg, strings.Join(os.Args, " "))
	pprof.StopCPUProfile()
	if err != nil {
		log.Printf("error: %v", err)
		os.Exit(2)
	}
	if !ok {
		log.Printf("FAILED: lost, duplicated or out-of-order messages (see the report)")
		os.Exit(1)
	}
}

// allScenarios is "all" (13.4 minutes on 2 cores in docs/performance.md's
// issue 17 section, up to 25 on a slow day; fanout measures two modes and
// storm two clients since issue 17; storm and account build thousands of
// users and connections of their own, last).
var allScenarios = []string{"steady", "max", "fanout", "baseline", "drain", "limits", "broadcast", "curve", "storm", "account"}

type config struct {
	Scenarios   string
	API         string
	NATS        string
	Partitions  int
	StackDir    string
	StackScript string
	MySQLDSN    string
	Redis       string
	CentAPI     string
	CentKey     string // $CENTRIFUGO_API_KEY: a secret stays off the command line
	NATSUser    string // $NATS_USER (default admin) and $NATS_PASSWORD: the stack's NATS login
	NATSPass    string
	NATSServer  string
	Out         string
	Prefix      string
	TextLen     int
	Setup       int
	CPUProfile  string

	SteadyRate     float64
	SteadyChats    int
	SteadyDuration time.Duration
	PersistSamples float64
	// Mix, when set, runs steady a second time with edits and deletes of
	// earlier messages mixed into the sends (load.ParseMix).
	Mix string

	MaxSenders string
	MaxStep    time.Duration
	MaxHold    time.Duration

	FanoutMembers   int
	FanoutConnected int
	FanoutVia       string
	FanoutRate      float64
	FanoutDuration  time.Duration

	DrainMessages int64
	DrainSenders  int

	LimitsDuration time.Duration

	SmokeRate     float64
	SmokeChats    int
	SmokeDuration time.Duration

	CurveRates    string
	CurveDuration time.Duration
	CurveChats    int
	CurveIdle     time.Duration

	StormUsers   int
	StormChats   int
	StormGroup   int
	StormRate    float64
	StormBefore  time.Duration
	StormAfter   time.Duration
	StormTimeout time.Duration
	StormVia     string

	BroadcastChannels string
	BroadcastCalls    int
	BroadcastBytes    int

	AccountChats        int
	AccountPage         int
	AccountChannelLimit int

	PresenceUsers    int
	PresenceIdle     time.Duration
	PresenceTimeout  time.Duration
	PresenceInterval string // the stack's PRESENCE_SWEEP_INTERVAL, for the report
}

func defaultConfig() config {
	stackDir := os.Getenv("STACK_DIR")
	if stackDir == "" {
		stackDir = ".run/stack"
	}
	return config{
		Scenarios: "smoke", API: "http://127.0.0.1:8080", NATS: "nats://127.0.0.1:4233", Partitions: bus.DefaultTopology().Partitions,
		StackDir: stackDir, StackScript: "scripts/stack.sh",
		// Secrets come from the environment, never the command line.
		MySQLDSN: os.Getenv("MIGRATE_MYSQL_DSN"), Redis: "127.0.0.1:6379",
		CentAPI: "http://127.0.0.1:8001/api", CentKey: os.Getenv("CENTRIFUGO_API_KEY"),
		NATSUser: cmp.Or(os.Getenv("NATS_USER"), "admin"), NATSPass: os.Getenv("NATS_PASSWORD"),
		NATSServer: ".bin/nats-server", Out: "bench-out", TextLen: 100, Setup: 32,
		SteadyRate: 2000, SteadyChats: 1000, SteadyDuration: 60 * time.Second, PersistSamples: 20,
		// Up to 2,048 senders: a closed loop is latency-bound, and a ramp that
		// stops short of the CPU's limit measures the latency, not the limit
		// (the plateau rule ends the ramp where more senders stop helping).
		MaxSenders: "8,16,32,64,128,256,512,1024,2048", MaxStep: 8 * time.Second, MaxHold: 30 * time.Second,
		FanoutMembers: 1000, FanoutVia: "personal,chat", FanoutRate: 20, FanoutDuration: 30 * time.Second,
		// 512 senders: at least as many sends in flight as the atomic-batch
		// ceiling of limits has (4 batches of 100), or drain measures latency.
		DrainMessages: 500000, DrainSenders: 512, LimitsDuration: 4 * time.Second,
		SmokeRate: 50, SmokeChats: 20, SmokeDuration: 5 * time.Second,
		CurveRates: "100,300,600,1000,2000", CurveDuration: 30 * time.Second, CurveChats: 100, CurveIdle: 10 * time.Second,
		StormUsers: 2000, StormChats: 20, StormGroup: 10, StormRate: 50, StormBefore: 3 * time.Second, StormAfter: 3 * time.Second, StormTimeout: 120 * time.Second, StormVia: "chat,personal",
		BroadcastChannels: "1000,10000", BroadcastCalls: 50, BroadcastBytes: 300,
		AccountChats: 1000, AccountPage: 50,
		PresenceUsers: 1000, PresenceIdle: time.Minute, PresenceTimeout: 2 * time.Minute,
		PresenceInterval: cmp.Or(os.Getenv("PRESENCE_SWEEP_INTERVAL"), "2s"),
	}
}

func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Scenarios, "scenarios", c.Scenarios, `comma-separated scenarios, or "all"`)
	fs.StringVar(&c.API, "api", c.API, "the gateway's base URL")
	fs.StringVar(&c.NATS, "nats", c.NATS, "the stack's NATS (worker backlog; limits with fsync always)")
	fs.IntVar(&c.Partitions, "partitions", c.Partitions, "STREAM_PARTITIONS of the stack")
	fs.StringVar(&c.StackDir, "stack-dir", c.StackDir, "the stack's STACK_DIR (pid files of its processes under pids/)")
	fs.StringVar(&c.StackScript, "stack-script", c.StackScript, "scripts/stack.sh, for stop-worker/start-worker (drain, baseline; the baseline needs .bin/baseline); run with this process's environment")
	fs.StringVar(&c.MySQLDSN, "mysql", c.MySQLDSN, "the stack's MySQL DSN for limits, which creates a scratch table: the migrate account's (default $MIGRATE_MYSQL_DSN)")
	fs.StringVar(&c.Redis, "redis", c.Redis, "Redis address (limits)")
	fs.StringVar(&c.CentAPI, "centrifugo-api", c.CentAPI, "Centrifugo's server API URL, on its internal port (limits)")
	fs.StringVar(&c.NATSServer, "nats-server", c.NATSServer, "nats-server binary, started with lazy fsync for limits")
	fs.StringVar(&c.Out, "out", c.Out, "output folder: report.json, report.md, SVG plots")
	fs.StringVar(&c.Prefix, "prefix", c.Prefix, "user name prefix (default: unique per run)")
	fs.IntVar(&c.TextLen, "text-len", c.TextLen, "characters per message")
	fs.StringVar(&c.CPUProfile, "cpuprofile", c.CPUProfile, "write the load generator's own CPU profile to this file")
	fs.IntVar(&c.Setup, "setup-concurrency", c.Setup, "concurrent requests while creating users, chats and subscribers")
	fs.Float64Var(&c.SteadyRate, "steady-rate", c.SteadyRate, "steady: messages per second (open loop)")
	fs.IntVar(&c.SteadyChats, "steady-chats", c.SteadyChats, "steady, max, baseline, drain: chats of 2 members")
	fs.DurationVar(&c.SteadyDuration, "steady-duration", c.SteadyDuration, "steady: how long to send")
	fs.StringVar(&c.Mix, "mix", c.Mix, "steady: run it again, in the same sitting, with edits and deletes (for everyone) of earlier messages mixed into the sends, in percent of operations, e.g. edits=10,deletes=2; the report compares the two runs")
	fs.Float64Var(&c.PersistSamples, "persist-samples", c.PersistSamples, "persist-lag samples per second (history polled until the message is there)")
	fs.StringVar(&c.MaxSenders, "max-senders", c.MaxSenders, "max: the ramp of concurrent closed-loop senders")
	fs.DurationVar(&c.MaxStep, "max-step", c.MaxStep, "max: duration of each ramp step")
	fs.DurationVar(&c.MaxHold, "max-hold", c.MaxHold, "max: how long the best step is held")
	fs.IntVar(&c.FanoutMembers, "fanout-members", c.FanoutMembers, "fanout: members of the group")
	fs.IntVar(&c.FanoutConnected, "fanout-connected", c.FanoutConnected, "fanout: members with a live connection (the first ones; 0: all)")
	fs.StringVar(&c.FanoutVia, "fanout-via", c.FanoutVia, `fanout: "personal" (each member subscribes to its personal channel only, API 1.1), "chat" (to the group's channel), or both, comma-separated, one after the other on the same group`)
	fs.Float64Var(&c.FanoutRate, "fanout-rate", c.FanoutRate, "fanout: messages per second")
	fs.DurationVar(&c.FanoutDuration, "fanout-duration", c.FanoutDuration, "fanout: how long to send")
	fs.Int64Var(&c.DrainMessages, "drain-messages", c.DrainMessages, "drain: messages accepted while the workers are stopped")
	fs.IntVar(&c.DrainSenders, "drain-senders", c.DrainSenders, "drain: concurrent senders")
	fs.DurationVar(&c.LimitsDuration, "limits-duration", c.LimitsDuration, "limits: duration of each measurement")
	fs.Float64Var(&c.SmokeRate, "smoke-rate", c.SmokeRate, "smoke: messages per second")
	fs.IntVar(&c.SmokeChats, "smoke-chats", c.SmokeChats, "smoke: chats of 2 members")
	fs.DurationVar(&c.SmokeDuration, "smoke-duration", c.SmokeDuration, "smoke: how long to send")
	fs.StringVar(&c.CurveRates, "curve-rates", c.CurveRates, "curve: comma-separated rates, messages per second (open loop)")
	fs.DurationVar(&c.CurveDuration, "curve-duration", c.CurveDuration, "curve: how long each rate is sent")
	fs.IntVar(&c.CurveChats, "curve-chats", c.CurveChats, "curve: chats of 2 members, each member a live subscriber")
	fs.DurationVar(&c.CurveIdle, "curve-idle", c.CurveIdle, "curve: the stack's CPU with no traffic is measured this long first")
	fs.IntVar(&c.StormUsers, "storm-users", c.StormUsers, "storm: users, each with one live Centrifugo connection")
	fs.IntVar(&c.StormChats, "storm-chats", c.StormChats, "storm: chats (groups) each user is a member of")
	fs.IntVar(&c.StormGroup, "storm-group", c.StormGroup, "storm: members per group (2 makes direct chats)")
	fs.Float64Var(&c.StormRate, "storm-rate", c.StormRate, "storm: messages per second into random storm chats, before, during and after the restart")
	fs.DurationVar(&c.StormBefore, "storm-before", c.StormBefore, "storm: sending before Centrifugo is restarted")
	fs.DurationVar(&c.StormAfter, "storm-after", c.StormAfter, "storm: sending after every subscription is back")
	fs.DurationVar(&c.StormTimeout, "storm-timeout", c.StormTimeout, "storm: longest wait for every subscription to come back")
	fs.StringVar(&c.BroadcastChannels, "broadcast-channels", c.BroadcastChannels, "broadcast: comma-separated channel counts N")
	fs.IntVar(&c.BroadcastCalls, "broadcast-calls", c.BroadcastCalls, "broadcast: measured calls per method and N")
	fs.IntVar(&c.BroadcastBytes, "broadcast-bytes", c.BroadcastBytes, "broadcast: payload size in bytes")
	fs.StringVar(&c.StormVia, "storm-via", c.StormVia, `storm: the clients, one storm each on the same users and chats, comma-separated: "chat" (the 1.0 client: personal and every chat channel, reloads) and "personal" (the 1.1 client: personal channel only, GET /updates)`)
	fs.IntVar(&c.AccountChats, "account-chats", c.AccountChats, "account: chats of the one user (direct chats it creates)")
	fs.IntVar(&c.AccountPage, "account-page", c.AccountPage, "account: GET /chats limit per page")
	fs.IntVar(&c.AccountChannelLimit, "account-channel-limit", c.AccountChannelLimit, "account: the stack's Centrifugo client.channel_limit, for the report (0: read from deploy/centrifugo/config.template.json)")
	fs.IntVar(&c.PresenceUsers, "presence-users", c.PresenceUsers, "presence: connected users")
	fs.DurationVar(&c.PresenceIdle, "presence-idle", c.PresenceIdle, "presence: each idle phase (nobody connected, everyone connected)")
	fs.DurationVar(&c.PresenceTimeout, "presence-timeout", c.PresenceTimeout, "presence: how long to wait for the gateway to count every change of a phase")
	fs.StringVar(&c.PresenceInterval, "presence-interval", c.PresenceInterval, "presence: the stack's PRESENCE_SWEEP_INTERVAL, for the report (default $PRESENCE_SWEEP_INTERVAL or 2s)")
}

// natsLogin is how the load generator logs in to the stack's NATS.
func (c *config) natsLogin() []nats.Option {
	return []nats.Option{nats.UserInfo(c.NATSUser, c.NATSPass)}
}
