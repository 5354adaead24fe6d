package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/logchat/testkit"
)

// docker-compose.yml cannot be run here (no Docker engine), so it is kept
// honest by validation: Debian's docker-compose parses and checks it without
// an engine, and every service the stack needs must be there with a health check.
func TestComposeFileIsValid(t *testing.T) {
	root := testkit.RepoRoot(t)
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed; `make test` installs Debian's docker-compose package")
	}
	compose := func(secrets []string) ([]byte, error) {
		cmd := exec.Command(bin, "-f", filepath.Join(root, "docker-compose.yml"), "config")
		var env []string
		for _, kv := range os.Environ() { // the test's secrets alone, not the caller's
			if !slices.Contains(composeSecrets, strings.SplitN(kv, "=", 2)[0]) {
				env = append(env, kv)
			}
		}
		cmd.Env = append(append(env, "DOCKER_HOST=unix:///nonexistent.sock"), secrets...)
		// A .env beside the file would be read too: the test decides alone.
		cmd.Dir = t.TempDir()
		return cmd.Output()
	}
	// Every secret is required: with one missing or empty, nothing starts.
	var secrets []string
	for _, name := range composeSecrets {
		secrets = append(secrets, name+"="+testkit.RandomID()+testkit.RandomID())
	}
	for i, name := range composeSecrets {
		others := append(append([]string{}, secrets[:i]...), secrets[i+1:]...)
		if out, err := compose(others); err == nil {
			t.Fatalf("docker-compose config accepted the file without %s:\n%s", name, out)
		}
	}
	if out, err := compose(append(secrets[1:], composeSecrets[0]+"=")); err == nil {
		t.Fatalf("docker-compose config accepted an empty %s:\n%s", composeSecrets[0], out)
	}
	out, err := compose(secrets)
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	var resolved struct {
		Services map[string]struct {
			Healthcheck *struct {
				Test any `yaml:"test"`
			} `yaml:"healthcheck"`
			DependsOn map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Ports       []any             `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &resolved); err != nil {
		t.Fatalf("resolved config is not YAML: %v", err)
	}
	for _, svc := range []string{"mysql", "redis", "nats", "centrifugo", "gateway", "persister", "cachewarm", "notifier"} {
		s, ok := resolved.Services[svc]
		if !ok {
			t.Errorf("service %s missing from the resolved config", svc)
			continue
		}
		if s.Healthcheck == nil || s.Healthcheck.Test == nil {
			t.Errorf("service %s has no health check", svc)
		}
	}
	// The schema has one owner: every service that uses MySQL starts after
	// the migrate job has finished.
	if _, ok := resolved.Services["migrate"]; !ok {
		t.Error("service migrate missing: nothing would create the schema")
	}
	for _, svc := range []string{"gateway", "persister", "cachewarm"} {
		if resolved.Services[svc].DependsOn["migrate"].Condition != "service_completed_successfully" {
			t.Errorf("service %s does not wait for the migrate job to complete", svc)
		}
	}
	// The streams are the NATS admin's to create: every service that uses
	// them starts after the provision job has finished.
	for _, svc := range []string{"gateway", "persister", "cachewarm", "notifier"} {
		if resolved.Services[svc].DependsOn["provision"].Condition != "service_completed_successfully" {
			t.Errorf("service %s does not wait for the provision job to complete", svc)
		}
	}
	// The bus is reachable from this host only.
	for _, p := range resolved.Services["nats"].Ports {
		if b, _ := yaml.Marshal(p); !strings.Contains(string(b), "127.0.0.1") {
			t.Errorf("nats publishes a port beyond this host: %s", b)
		}
	}
	// MySQL: the migrate job alone has the schema's account; the services
	// use the app account (rows only). Neither MySQL nor Redis is published.
	for name, svc := range resolved.Services {
		if dsn, ok := svc.Environment["MIGRATE_MYSQL_DSN"]; ok != (name == "migrate") || (ok && !strings.HasPrefix(dsn, "logchat_migrate:")) {
			t.Errorf("service %s: MIGRATE_MYSQL_DSN %v: only the migrate job has it, as logchat_migrate", name, ok)
		}
		if dsn, ok := svc.Environment["MYSQL_DSN"]; ok && !strings.HasPrefix(dsn, "logchat_app:") {
			t.Errorf("service %s logs in to MySQL as %q, want logchat_app", name, strings.SplitN(dsn, ":", 2)[0])
		}
	}
	for _, svc := range []string{"gateway", "persister", "cachewarm"} {
		if _, ok := resolved.Services[svc].Environment["MYSQL_DSN"]; !ok {
			t.Errorf("service %s has no MYSQL_DSN", svc)
		}
	}
	for _, svc := range []string{"gateway", "cachewarm"} {
		if env := resolved.Services[svc].Environment; env["REDIS_USERNAME"] != "logchat" || env["REDIS_PASSWORD"] == "" {
			t.Errorf("service %s does not log in to Redis as logchat", svc)
		}
	}
	for _, svc := range []string{"mysql", "redis"} {
		if p := resolved.Services[svc].Ports; len(p) > 0 {
			t.Errorf("%s publishes ports %v", svc, p)
		}
	}
	// Centrifugo: clients on 8000, the server API on the internal 9000,
	// which is not published and is where the notifier publishes.
	for _, p := range resolved.Services["centrifugo"].Ports {
		if b, _ := yaml.Marshal(p); strings.Contains(string(b), "9000") {
			t.Errorf("centrifugo publishes its internal port: %s", b)
		}
	}
	if env := resolved.Services["centrifugo"].Environment; env["CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT"] != "9000" {
		t.Errorf("centrifugo's internal port: %q, want 9000", env["CENTRIFUGO_HTTP_SERVER_INTERNAL_PORT"])
	}
	// The gateway: the API on 8080, published; /metrics on the internal
	// listener, 9100, not published.
	if env := resolved.Services["gateway"].Environment; env["GATEWAY_INTERNAL_ADDR"] != "0.0.0.0:9100" {
		t.Errorf("the gateway's internal listener: %q, want 0.0.0.0:9100 inside the network", env["GATEWAY_INTERNAL_ADDR"])
	}
	for _, p := range resolved.Services["gateway"].Ports {
		if b, _ := yaml.Marshal(p); strings.Contains(string(b), "9100") {
			t.Errorf("the gateway publishes its internal listener: %s", b)
		}
	}
	if u := resolved.Services["notifier"].Environment["CENTRIFUGO_API_URL"]; u != "http://centrifugo:9000/api" {
		t.Errorf("the notifier publishes through %q, want the internal port", u)
	}
	cfg := string(out)
	for _, dev := range []string{"dev-jwt-secret-change-me", "dev-centrifugo-hmac-secret-change-me", "dev-centrifugo-api-key-change-me", "logchat:logchat@"} {
		if strings.Contains(cfg, dev) {
			t.Errorf("the resolved file holds the development secret %s", dev)
		}
	}
	if !strings.Contains(cfg, "sync_interval") && !strings.Contains(readFile(t, filepath.Join(root, "deploy/nats/nats.conf")), "sync_interval: always") {
		t.Error("NATS must fsync before acknowledging (sync_interval: always)")
	}
}

// composeSecrets are the variables docker-compose.yml requires.
var composeSecrets = []string{
	"JWT_SECRET", "CENTRIFUGO_HMAC_SECRET", "CENTRIFUGO_API_KEY",
	"NATS_ADMIN_PASSWORD", "NATS_GATEWAY_PASSWORD", "NATS_PERSISTER_PASSWORD", "NATS_CACHEWARM_PASSWORD", "NATS_NOTIFIER_PASSWORD",
	"MYSQL_APP_PASSWORD", "MYSQL_MIGRATE_PASSWORD", "MYSQL_ROOT_PASSWORD", "REDIS_PASSWORD",
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
