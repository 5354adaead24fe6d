package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/testkit"
)

// `PROMETHEUS=1 scripts/stack.sh start` (what `PROMETHEUS=1 make up` runs)
// starts Debian's Prometheus beside a stack of its own; through Prometheus's
// HTTP API: every process of the stack is a target and up, the lag metrics of
// every worker and the recording rules are there after a message went
// through, and every metric the rules and the dashboard name is one the stack
// really exports (or a recording rule).
func TestPrometheusScrapesTheStack(t *testing.T) {
	root := testkit.RepoRoot(t)
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatal("prometheus is not installed; `make test` installs Debian's prometheus package")
	}
	base := freePortBlock(t, 100)
	stackDir := filepath.Join(root, ".run", "prom-e2e-stack")
	env := append(os.Environ(),
		"STACK_DIR="+stackDir,
		"GATEWAY_PORT="+strconv.Itoa(base+80), "CENTRIFUGO_PORT="+strconv.Itoa(base),
		"NATS_PORT="+strconv.Itoa(base+33), "NATS_HTTP_PORT="+strconv.Itoa(base+34),
		"HEALTH_PORT_BASE="+strconv.Itoa(base+10), "PROMETHEUS_PORT="+strconv.Itoa(base+90),
		"MYSQL_DB=logchat_e2e_prom", fmt.Sprintf("REDIS_PREFIX=e2e%d:", time.Now().Unix()),
		"PROMETHEUS=1", "LOGCHAT_SKIP_WEB_BUILD=1")
	stack := func(args ...string) (string, error) {
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts/stack.sh")}, args...)...)
		cmd.Env, cmd.Dir = env, root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	lib := func(script string) {
		cmd := exec.Command("bash", "-c", "source scripts/lib.sh; "+script)
		cmd.Env, cmd.Dir = env, root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("%s: %v\n%s", script, err, out)
		}
	}
	_, _ = stack("stop")
	_ = os.RemoveAll(filepath.Join(stackDir, "nats"))
	_ = os.RemoveAll(filepath.Join(stackDir, "prometheus"))
	lib("mysql_root -e 'DROP DATABASE IF EXISTS logchat_e2e_prom'")
	t.Cleanup(func() {
		if out, err := stack("stop"); err != nil {
			t.Logf("stack stop: %v\n%s", err, out)
		}
		lib(`drop_redis_prefix "$REDIS_PREFIX"; mysql_root -e 'DROP DATABASE IF EXISTS logchat_e2e_prom'`)
	})
	out, err := stack("start")
	if err != nil {
		t.Fatalf("PROMETHEUS=1 scripts/stack.sh start: %v\n%s", err, out)
	}
	promURL := fmt.Sprintf("http://127.0.0.1:%d", base+90)
	if !strings.Contains(out, promURL) {
		t.Fatalf("the start does not print Prometheus's URL %s:\n%s", promURL, out)
	}

	// One message through the whole stack: the HTTP metrics and every
	// worker's counters get their series.
	api := fmt.Sprintf("http://127.0.0.1:%d", base+80)
	alice, bob := harness.Register(t, api, "alice"), harness.Register(t, api, "bob")
	chat := alice.DirectChat(bob.User.ID)
	if _, err := alice.Send(chat.ID, "hello, Prometheus", "prom-1"); err != nil {
		t.Fatal(err)
	}

	// The processes the stack runs (its pid files), less NATS (no
	// Prometheus format) and Prometheus itself, which scrapes itself.
	pids, err := filepath.Glob(filepath.Join(stackDir, "pids", "*.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range pids {
		if name := strings.TrimSuffix(filepath.Base(p), ".pid"); name != "nats" {
			want = append(want, name)
		}
	}
	slices.Sort(want)
	for _, must := range []string{"cachewarm", "centrifugo", "gateway", "notifier", "persister", "prometheus"} {
		if !slices.Contains(want, must) {
			t.Fatalf("the stack runs %v, without %s", want, must)
		}
	}
	var targets struct {
		ActiveTargets []struct {
			Labels    map[string]string `json:"labels"`
			Health    string            `json:"health"`
			LastError string            `json:"lastError"`
		} `json:"activeTargets"`
	}
	var state string
	poll(t, 90*time.Second, "every target up", func() bool {
		promGet(t, promURL, "/api/v1/targets", nil, &targets)
		var up []string
		state = ""
		for _, tg := range targets.ActiveTargets {
			state += fmt.Sprintf("%s=%s %s; ", tg.Labels["job"], tg.Health, tg.LastError)
			if tg.Health == "up" {
				up = append(up, tg.Labels["job"])
			}
		}
		slices.Sort(up)
		return slices.Equal(up, want) && len(targets.ActiveTargets) == len(want)
	}, func() string { return state })

	// Lag of every worker, per partition, and the recording rules over it.
	for _, q := range []string{"logchat_consumer_pending_events", "logchat_consumer_lag_seconds", "logchat:consumer_lag_events"} {
		var res queryResult
		poll(t, 60*time.Second, q+" for every worker", func() bool {
			res = query(t, promURL, q)
			workers := map[string]bool{}
			for _, s := range res.Result {
				if s.Metric["partition"] != "" {
					workers[s.Metric["worker"]] = true
				}
			}
			return workers["persister"] && workers["cachewarm"] && workers["notifier"]
		}, func() string { return fmt.Sprint(res.Result) })
	}
	// The message was applied: the worker counters say so.
	var res queryResult
	poll(t, 60*time.Second, "events applied by every worker", func() bool {
		res = query(t, promURL, `sum by (worker) (logchat_events_processed_total)`)
		n := 0
		for _, s := range res.Result {
			if v, _ := strconv.ParseFloat(s.Value[1].(string), 64); v >= 1 {
				n++
			}
		}
		return n >= 3
	}, func() string { return fmt.Sprint(res.Result) })

	// Every metric name the rules and the dashboard use exists in this stack
	// (Centrifugo's included), or is a recording rule.
	var names struct {
		Data []string `json:"data"`
	}
	var missing []string
	recorded, ruleExprs := promRules(t)
	dash := dashboardExprs(t)
	poll(t, 60*time.Second, "every metric of the rules and the dashboard exported", func() bool {
		promGetRaw(t, promURL, "/api/v1/label/__name__/values", &names)
		missing = nil
		for _, set := range []map[string]string{ruleExprs, dash} {
			for where, expr := range set {
				for _, n := range metricNames(t, where, expr) {
					if !recorded[n] && !slices.Contains(names.Data, n) {
						missing = append(missing, where+": "+n)
					}
				}
			}
		}
		return len(missing) == 0
	}, func() string { return strings.Join(missing, "\n") })
}

type queryResult struct {
	Result []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
	} `json:"result"`
}

func query(t *testing.T, promURL, q string) queryResult {
	t.Helper()
	var r queryResult
	promGet(t, promURL, "/api/v1/query", url.Values{"query": {q}}, &r)
	return r
}

// promGet reads a Prometheus API answer's data into out.
func promGet(t *testing.T, promURL, path string, q url.Values, out any) {
	t.Helper()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	u := promURL + path
	if q != nil {
		u += "?" + q.Encode()
	}
	promGetRaw(t, u, "", &env)
	if env.Status != "success" {
		t.Fatalf("%s: %s %s", u, env.Status, env.Error)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}

func promGetRaw(t *testing.T, base, path string, out any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", base+path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v: %s", base+path, err, body)
	}
}

func poll(t *testing.T, within time.Duration, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen:\n%s", within, what, state())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
