package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/logchat/testkit"
)

// ecsFields are the ECS fields the processes' log lines carry (shared/obs);
// the index template maps each and the Kibana objects use them.
var ecsFields = []string{
	"@timestamp", "log.level", "message", "service.name", "event.dataset", "trace.id", "span.id",
	"error.message", "http.request.method", "url.path", "http.response.status_code", "event.duration",
	"labels.chat_id", "labels.user_id", "labels.message_id",
}

// templateFields flattens an index template's mappings into dotted field
// names and their types.
func templateFields(props map[string]any, prefix string, out map[string]string) {
	for name, v := range props {
		m, _ := v.(map[string]any)
		if sub, ok := m["properties"].(map[string]any); ok {
			templateFields(sub, prefix+name+".", out)
			continue
		}
		typ, _ := m["type"].(string)
		out[prefix+name] = typ
	}
}

// deploy/elk: Filebeat's configuration ships every process's log as ECS,
// the index template maps every ECS field the processes write, and the
// Kibana saved objects parse, hang together (every reference resolves) and
// query only mapped fields, with the five views of the dashboard.
func TestELKFilesParseAndUseTheECSFields(t *testing.T) {
	dir := filepath.Join(testkit.RepoRoot(t), "deploy/elk")

	// Filebeat: YAML, both inputs decode JSON into the event's root, and the
	// stack's input reads every process's log of scripts/stack.sh.
	var fb struct {
		Inputs []struct {
			Type    string           `yaml:"type"`
			Paths   []string         `yaml:"paths"`
			Parsers []map[string]any `yaml:"parsers"`
		} `yaml:"filebeat.inputs"`
		Output map[string]any `yaml:"output.elasticsearch"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(dir, "filebeat.yml"))), &fb); err != nil {
		t.Fatalf("filebeat.yml: %v", err)
	}
	if len(fb.Inputs) != 2 || fb.Output["index"] == nil {
		t.Fatalf("filebeat.yml: want a stack input, a container input and an index, got %+v", fb)
	}
	paths := strings.Join(fb.Inputs[0].Paths, " ")
	for _, p := range []string{"gateway", "persister", "cachewarm", "notifier", "searcher"} {
		if !strings.Contains(paths, "/"+p+".log") {
			t.Errorf("filebeat.yml does not read %s.log", p)
		}
	}
	for _, in := range fb.Inputs {
		if len(in.Parsers) == 0 || in.Parsers[0]["ndjson"] == nil {
			t.Errorf("filebeat input %s does not decode JSON lines", in.Type)
		}
	}
	if fb.Inputs[1].Type != "container" {
		t.Errorf("the second input is %q, want the container logs of compose", fb.Inputs[1].Type)
	}

	// The index template.
	var tmpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Properties map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "index-template.json"))), &tmpl); err != nil {
		t.Fatalf("index-template.json: %v", err)
	}
	mapped := map[string]string{}
	templateFields(tmpl.Template.Mappings.Properties, "", mapped)
	for _, f := range ecsFields {
		if mapped[f] == "" {
			t.Errorf("index-template.json does not map %s", f)
		}
	}
	for f, typ := range map[string]string{"@timestamp": "date", "event.duration": "long", "http.response.status_code": "long", "trace.id": "keyword", "labels.chat_id": "keyword"} {
		if mapped[f] != typ {
			t.Errorf("index-template.json maps %s as %q, want %s", f, mapped[f], typ)
		}
	}
	index, _ := fb.Output["index"].(string)
	if len(tmpl.IndexPatterns) != 1 || !strings.HasPrefix(index, strings.TrimSuffix(tmpl.IndexPatterns[0], "*")) {
		t.Errorf("filebeat writes to %q, which the template's patterns %v do not cover", index, tmpl.IndexPatterns)
	}

	// The Kibana saved objects, one JSON object a line.
	type ref struct{ Name, Type, ID string }
	type object struct {
		Type       string         `json:"type"`
		ID         string         `json:"id"`
		Attributes map[string]any `json:"attributes"`
		References []ref          `json:"references"`
	}
	var objects []object
	sc := bufio.NewScanner(bytes.NewReader([]byte(readFile(t, filepath.Join(dir, "kibana-dashboard.ndjson")))))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o object
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("kibana-dashboard.ndjson line %d: %v", len(objects)+1, err)
		}
		objects = append(objects, o)
	}
	ids := map[string]string{}
	for _, o := range objects {
		ids[o.Type+"/"+o.ID] = o.Attributes["title"].(string)
	}
	// Field names in KQL queries ("field:value", "field > n"), columns and
	// aggregations.
	fieldRe := regexp.MustCompile(`([A-Za-z@][A-Za-z0-9_.@]*)\s*(?::|>|<)`)
	used := map[string]bool{}
	var dashboards []object
	for _, o := range objects {
		for _, r := range o.References {
			if _, ok := ids[r.Type+"/"+r.ID]; !ok {
				t.Errorf("%s %s refers to %s %s, which the file does not hold", o.Type, o.ID, r.Type, r.ID)
			}
		}
		if o.Type == "dashboard" {
			dashboards = append(dashboards, o)
		}
		if o.Type == "index-pattern" && (o.Attributes["title"] != "logchat-*" || o.Attributes["timeFieldName"] != "@timestamp") {
			t.Errorf("the data view is %v on %v, want logchat-* on @timestamp", o.Attributes["title"], o.Attributes["timeFieldName"])
		}
		if cols, ok := o.Attributes["columns"].([]any); ok {
			for _, c := range cols {
				used[c.(string)] = true
			}
		}
		if meta, ok := o.Attributes["kibanaSavedObjectMeta"].(map[string]any); ok {
			var ss struct {
				Query struct {
					Query string `json:"query"`
				} `json:"query"`
			}
			if err := json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &ss); err != nil {
				t.Fatalf("%s %s: searchSourceJSON: %v", o.Type, o.ID, err)
			}
			for _, m := range fieldRe.FindAllStringSubmatch(ss.Query.Query, -1) {
				used[m[1]] = true
			}
		}
		if vs, ok := o.Attributes["visState"].(string); ok {
			var v struct {
				Aggs []struct {
					Params map[string]any `json:"params"`
				} `json:"aggs"`
			}
			if err := json.Unmarshal([]byte(vs), &v); err != nil {
				t.Fatalf("visualization %s: visState: %v", o.ID, err)
			}
			for _, a := range v.Aggs {
				if f, ok := a.Params["field"].(string); ok {
					used[f] = true
				}
			}
		}
	}
	for f := range used {
		if mapped[f] == "" {
			t.Errorf("the Kibana objects use %s, which the index template does not map", f)
		}
	}
	for _, f := range []string{"trace.id", "service.name", "log.level", "event.duration", "url.path", "http.request.method", "message"} {
		if !used[f] {
			t.Errorf("no Kibana object uses %s", f)
		}
	}
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(dashboards))
	}
	var titles []string
	for _, r := range dashboards[0].References {
		titles = append(titles, ids[r.Type+"/"+r.ID])
	}
	all := strings.ToLower(strings.Join(titles, " | "))
	for _, view := range []string{"messages sent per second", "errors by service", "slow requests", "dead letters", "journey"} {
		if !strings.Contains(all, view) {
			t.Errorf("the dashboard has no %q panel (panels: %s)", view, all)
		}
	}
}

// The compose profile elk validates like the main file, adds Elasticsearch,
// Kibana, Filebeat and the one-shot setup only under that profile, publishes
// on this host only, and mounts the files of deploy/elk.
func TestComposeELKProfile(t *testing.T) {
	root := testkit.RepoRoot(t)
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed; `make test` installs Debian's docker-compose package")
	}
	cmd := exec.Command(bin, "-f", filepath.Join(root, "docker-compose.yml"), "--profile", "elk", "config")
	env := []string{"DOCKER_HOST=unix:///nonexistent.sock", "PATH=" + os.Getenv("PATH")}
	for _, name := range composeSecrets {
		env = append(env, name+"="+testkit.RandomID()+testkit.RandomID())
	}
	cmd.Env, cmd.Dir = env, t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose --profile elk config: %v\n%s", err, stderr.String())
	}
	var resolved struct {
		Services map[string]struct {
			Profiles    []string `yaml:"profiles"`
			Ports       []any    `yaml:"ports"`
			Volumes     []any    `yaml:"volumes"`
			Healthcheck *struct {
				Test any `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &resolved); err != nil {
		t.Fatal(err)
	}
	for name, s := range resolved.Services {
		elk := slices.Contains([]string{"elasticsearch", "kibana", "filebeat", "elk-setup"}, name)
		if elk != slices.Contains(s.Profiles, "elk") {
			t.Errorf("service %s: profiles %v (only the ELK services belong to profile elk)", name, s.Profiles)
		}
		if !elk {
			continue
		}
		for _, p := range s.Ports {
			if b, _ := yaml.Marshal(p); !strings.Contains(string(b), "127.0.0.1") {
				t.Errorf("%s publishes a port beyond this host: %s", name, b)
			}
		}
		if name != "elk-setup" && (s.Healthcheck == nil || s.Healthcheck.Test == nil) {
			t.Errorf("%s has no health check", name)
		}
	}
	for _, name := range []string{"elasticsearch", "kibana", "filebeat", "elk-setup"} {
		if _, ok := resolved.Services[name]; !ok {
			t.Errorf("the elk profile lacks %s", name)
		}
	}
	mounts := func(name string) string {
		b, _ := yaml.Marshal(resolved.Services[name].Volumes)
		return string(b)
	}
	if !strings.Contains(mounts("filebeat"), "deploy/elk/filebeat.yml") {
		t.Errorf("filebeat does not mount deploy/elk/filebeat.yml: %s", mounts("filebeat"))
	}
	if !strings.Contains(mounts("elk-setup"), "deploy/elk") {
		t.Errorf("elk-setup does not mount deploy/elk: %s", mounts("elk-setup"))
	}
	if !strings.Contains(string(out), "index-template.json") || !strings.Contains(string(out), "kibana-dashboard.ndjson") {
		t.Error("elk-setup loads neither the index template nor the Kibana objects")
	}
	if resolved.Services["filebeat"].DependsOn["elk-setup"].Condition != "service_completed_successfully" {
		t.Error("filebeat starts before the index template is in place")
	}
}
