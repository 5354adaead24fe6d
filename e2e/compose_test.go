package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
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
	cmd := exec.Command(bin, "-f", filepath.Join(root, "docker-compose.yml"), "config")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///nonexistent.sock")
	out, err := cmd.CombinedOutput()
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
	cfg := string(out)
	if !strings.Contains(cfg, "sync_interval") && !strings.Contains(readFile(t, filepath.Join(root, "deploy/nats/nats.conf")), "sync_interval: always") {
		t.Error("NATS must fsync before acknowledging (sync_interval: always)")
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
