// Package harness starts the whole system as real processes for tests: the
// gateway and N instances of each worker built from this workspace, against an
// in-process NATS JetStream server, a fresh MariaDB database, a Redis key
// prefix and a Centrifugo process. Processes can be killed (SIGKILL) and
// restarted, which is what the whole-system tests are about.
package harness

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/verify"
	"github.com/logchat/testkit"
)

// Binaries are the built programs, shared by every test of a package run.
type Binaries struct {
	Dir string
}

var (
	buildOnce sync.Once
	built     Binaries
	buildErr  error
)

// Build compiles the gateway, the workers and the ingest CLI once per process.
func Build(t testing.TB) Binaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "logchat-bin-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/",
			"./gateway/cmd/gateway", "./persister/cmd/persister", "./cachewarm/cmd/cachewarm",
			"./notifier/cmd/notifier", "./searcher/cmd/searcher", "./ingest/cmd/ingest", "./storage/cmd/migrate")
		cmd.Dir = testkit.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built = Binaries{Dir: dir}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// Options shape a System.
type Options struct {
	Persisters, Cachewarms, Notifiers int // instances of each worker (default 1)
	Searchers                         int // default 1; -1: none
	Partitions                        int // default 4
	// OwnServices runs MariaDB and Redis as processes of the test's own, so
	// that a test may stop them without disturbing the machine's services.
	OwnServices bool
	// Env adds settings for every process.
	Env []string
}

// System is a running stack.
type System struct {
	t          testing.TB
	bins       Binaries
	NATS       *testkit.NATS
	MySQLDSN   string
	RedisAddr  string
	RedisPref  string
	Centrifugo *testkit.Centrifugo
	OwnMySQL   *testkit.OwnMariaDB // with Options.OwnServices
	OwnRedis   *testkit.OwnRedis   // with Options.OwnServices
	GatewayURL string
	// GatewayInternalURL is the gateway's internal listener
	// (GATEWAY_INTERNAL_ADDR): /healthz, /readyz and /metrics.
	GatewayInternalURL string
	partitions         int
	env                []string
	mu                 sync.Mutex
	procs              map[string][]*Proc
}

// Start builds (once) and starts a whole system for the test.
func Start(t testing.TB, o Options) *System {
	t.Helper()
	if o.Persisters == 0 {
		o.Persisters = 1
	}
	if o.Cachewarms == 0 {
		o.Cachewarms = 1
	}
	if o.Notifiers == 0 {
		o.Notifiers = 1
	}
	if o.Searchers == 0 {
		o.Searchers = 1
	}
	if o.Partitions == 0 {
		o.Partitions = 4
	}
	s := &System{t: t, bins: Build(t), procs: map[string][]*Proc{}, partitions: o.Partitions}
	s.NATS = testkit.StartNATS(t)
	if o.OwnServices {
		s.OwnMySQL = testkit.StartOwnMariaDB(t)
		s.MySQLDSN = s.OwnMySQL.Database(t, "logchat")
		s.OwnRedis = testkit.StartOwnRedis(t)
		s.RedisAddr, s.RedisPref = s.OwnRedis.Addr, "lc:"
	} else {
		s.MySQLDSN = testkit.MySQL(t)
		_, s.RedisPref = testkit.Redis(t)
		s.RedisAddr = testkit.RedisAddr()
	}
	s.Centrifugo = testkit.StartCentrifugo(t)
	port := testkit.FreePort(t)
	s.GatewayURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	internalPort := testkit.FreePort(t)
	s.GatewayInternalURL = fmt.Sprintf("http://127.0.0.1:%d", internalPort)
	s.env = append(os.Environ(),
		"MYSQL_DSN="+s.MySQLDSN,
		"REDIS_ADDR="+s.RedisAddr,
		"REDIS_PREFIX="+s.RedisPref,
		"CENTRIFUGO_API_URL="+s.Centrifugo.URL+"/api",
		"CENTRIFUGO_API_KEY="+s.Centrifugo.APIKey,
		"CENTRIFUGO_WS_URL="+s.Centrifugo.WSURL,
		"CENTRIFUGO_HMAC_SECRET="+s.Centrifugo.HMACSecret,
		"GATEWAY_ADDR=127.0.0.1:"+strconv.Itoa(port),
		"GATEWAY_INTERNAL_ADDR=127.0.0.1:"+strconv.Itoa(internalPort),
		"JWT_SECRET=e2e-"+testkit.RandomID(),
		"STREAM_PARTITIONS="+strconv.Itoa(o.Partitions),
		// Fast fail-over: a killed worker's events come back after 3 s.
		"CONSUMER_ACK_WAIT=3s",
		"CONSUMER_PINNED_TTL=3s",
		"WORKER_BACKOFF_MAX=1s",
		"LOG_LEVEL=info",
		// One test user sends thousands of messages a minute; the limiter
		// itself is tested in the gateway's own tests.
		"RATE_LIMIT_PER_MINUTE=0",
		"RATE_LIMIT_AUTH_PER_MINUTE=0",
		"RATE_LIMIT_ANON_PER_MINUTE=0",
	)
	s.env = append(s.env, o.Env...)
	// The schema's one owner runs first, as in make up; the others wait for it.
	s.Migrate()
	// Nobody but the admin may create the streams: provisioned first, with
	// the operator's tool, as scripts/stack.sh does.
	if out, err := s.Ingest("provision"); err != nil {
		t.Fatalf("ingest provision: %v\n%s", err, out)
	}
	s.StartProc("gateway")
	// On the internal listener, as an operator's probe would: waiting
	// spends nothing of the public address's allowance of requests without
	// a token (RATE_LIMIT_ANON_PER_MINUTE, when a test turns it on).
	s.WaitReady("gateway", s.GatewayInternalURL)
	for range o.Persisters {
		s.StartWorker("persister")
	}
	for range o.Cachewarms {
		s.StartWorker("cachewarm")
	}
	for range o.Notifiers {
		s.StartWorker("notifier")
	}
	for range max(o.Searchers, 0) {
		s.StartWorker("searcher")
	}
	return s
}

// Verify runs the convergence check (ingest/verify, what `ingest verify`
// does) against the system: its log rebuilt into a scratch database and
// Redis prefix, compared with its live MySQL and Redis. An error is a check
// that could not be made.
func (s *System) Verify(ctx context.Context, o verify.Options) (*verify.Report, error) {
	s.t.Helper()
	nc, js := s.NATS.Connect(s.t)
	defer nc.Close()
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr})
	defer rdb.Close()
	o.JS, o.Redis, o.RedisPrefix, o.MySQLDSN = js, rdb, s.RedisPref, s.MySQLDSN
	o.Topology = bus.DefaultTopology()
	o.Topology.Partitions = s.partitions
	return verify.Run(ctx, o)
}

// Proc is one running program.
type Proc struct {
	Name      string
	HealthURL string
	cmd       *exec.Cmd
	done      chan struct{}
}

// StartWorker starts one more instance of a worker and waits until it is ready.
func (s *System) StartWorker(name string) *Proc {
	s.t.Helper()
	port := testkit.FreePort(s.t)
	p := s.startProc(name, "HEALTH_ADDR=127.0.0.1:"+strconv.Itoa(port))
	p.HealthURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.WaitReady(name, p.HealthURL)
	return p
}

// StartProc starts a program without waiting.
func (s *System) StartProc(name string) *Proc { return s.startProc(name) }

// Migrate runs the migrate command against the system's MySQL and waits for it.
func (s *System) Migrate() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bins.Dir, "migrate"), "up")
	// The test account may do both; a deployment gives the migrate command
	// an account of its own (docs/security.md).
	cmd.Env = append(append([]string{}, s.env...), "MIGRATE_MYSQL_DSN="+s.MySQLDSN)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("migrate: %v\n%s", err, out)
	}
}

func (s *System) startProc(name string, extraEnv ...string) *Proc {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bins.Dir, name))
	// Each program logs in to NATS as its own user (ingest/access).
	cmd.Env = append(append(append([]string{}, s.env...), s.NATS.Env(name)...), extraEnv...)
	logFile, err := os.CreateTemp("", "logchat-"+name+"-*.log")
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.done) }()
	s.mu.Lock()
	s.procs[name] = append(s.procs[name], p)
	s.mu.Unlock()
	s.t.Cleanup(func() {
		p.Terminate(5 * time.Second)
		if s.t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				tail := b
				if len(tail) > 4000 {
					tail = tail[len(tail)-4000:]
				}
				s.t.Logf("--- last log lines of %s ---\n%s", name, tail)
			}
		}
		os.Remove(logFile.Name())
	})
	return p
}

// Ingest runs the operator's CLI (ingest) as the admin and returns its output.
func (s *System) Ingest(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(s.bins.Dir, "ingest"), args...)
	cmd.Env = append(append([]string{}, s.env...), s.NATS.Env("admin")...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Procs lists the running instances of a program.
func (s *System) Procs(name string) []*Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Proc
	for _, p := range s.procs[name] {
		if p.Alive() {
			out = append(out, p)
		}
	}
	return out
}

// WaitReady polls base+/readyz until it answers 200.
func (s *System) WaitReady(name, base string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("%s not ready at %s within 60s", name, base)
}

// Alive reports whether the process still runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL: no drain, no ack — a crash.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM and waits, then SIGKILL after the grace period.
func (p *Proc) Terminate(grace time.Duration) {
	if !p.Alive() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Eventually polls cond until it is true or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
