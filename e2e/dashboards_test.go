package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/logchat/testkit"
)

// promRules reads deploy/prometheus/rules: the recording rules' names and
// every expression, recording and alerting.
func promRules(t *testing.T) (recorded map[string]bool, exprs map[string]string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testkit.RepoRoot(t), "deploy/prometheus/rules/*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files (%v)", err)
	}
	recorded, exprs = map[string]bool{}, map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
					Alert  string `yaml:"alert"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
				exprs[filepath.Base(f)+": "+r.Record+r.Alert] = r.Expr
			}
		}
	}
	return recorded, exprs
}

// dashboardExprs reads every query of deploy/grafana/*.json, panels inside
// rows included, by panel title.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testkit.RepoRoot(t), "deploy/grafana/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	out := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			UID    string  `json:"uid"`
			Title  string  `json:"title"`
			Panels []panel `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("%s is not JSON: %v", f, err)
		}
		if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
			t.Fatalf("%s: a dashboard needs a uid, a title and panels", f)
		}
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for i, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" {
						t.Fatalf("%s: panel %q target %d has no expression", f, p.Title, i)
					}
					out[filepath.Base(f)+": "+p.Title+"#"+string(rune('A'+i))] = tg.Expr
				}
				if p.Type != "row" && len(p.Targets) == 0 {
					t.Fatalf("%s: panel %q queries nothing", f, p.Title)
				}
				var nested []panel
				for _, r := range p.Panels {
					var np panel
					if err := json.Unmarshal(r, &np); err != nil {
						t.Fatal(err)
					}
					nested = append(nested, np)
				}
				walk(nested)
			}
		}
		walk(dash.Panels)
	}
	return out
}

// metricNames parses a PromQL expression (failing the test on a syntax
// error) and returns the metric names it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %q does not parse: %v", where, expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Fatalf("%s: %q selects without a metric name", where, expr)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// codeMetrics is every logchat_* metric name written in the Go code
// (prometheus.*Opts Name fields and NewDesc), tests left out.
func codeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	root := testkit.RepoRoot(t)
	lit := regexp.MustCompile(`"(logchat_[a-z0-9_]+)"`)
	out := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "web" || d.Name() == ".run" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(src), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// known says whether name is a metric the rules or the code define (a
// histogram's series by its base name), Prometheus's own `up`, or one of
// Centrifugo's (which TestPrometheusScrapesTheStack finds in a live scrape).
func known(name string, recorded, code map[string]bool) bool {
	if recorded[name] || code[name] || name == "up" || strings.HasPrefix(name, "centrifugo_") {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && code[base] {
			return true
		}
	}
	return false
}

// The Grafana dashboard and the rules parse, and use only metrics that exist:
// recording rules, names the code registers, Prometheus's `up`.
func TestDashboardAndRulesUseKnownMetrics(t *testing.T) {
	recorded, ruleExprs := promRules(t)
	code := codeMetrics(t)
	for _, want := range []string{"logchat_consumer_pending_events", "logchat_ready", "logchat_publish_failures_total", "logchat_http_request_seconds"} {
		if !code[want] {
			t.Fatalf("the scan of the code missed %s (found %d names)", want, len(code))
		}
	}
	dash := dashboardExprs(t)
	if len(dash) < 20 {
		t.Fatalf("dashboard has %d queries, want the overview and a row per worker", len(dash))
	}
	usedRecorded := map[string]bool{}
	for _, set := range []map[string]string{ruleExprs, dash} {
		for where, expr := range set {
			for _, name := range metricNames(t, where, expr) {
				if !known(name, recorded, code) {
					t.Errorf("%s: %q uses %s, which neither the rules nor the code define", where, expr, name)
				}
				if recorded[name] {
					usedRecorded[name] = true
				}
			}
		}
	}
	// Every worker has its row.
	titles := strings.Join(slices.Sorted(func(yield func(string) bool) {
		for k := range dash {
			if !yield(k) {
				return
			}
		}
	}), "\n")
	for _, w := range []string{"persister", "cachewarm", "notifier"} {
		if !strings.Contains(titles, w+": lag per partition") {
			t.Errorf("no lag panel for %s in the dashboard", w)
		}
	}
	for name := range recorded {
		if !usedRecorded[name] {
			t.Errorf("recording rule %s is used by no alert and no panel", name)
		}
	}
}
