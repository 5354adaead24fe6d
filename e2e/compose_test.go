package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/logchat/e2e/harness"
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
		migrate := name == "migrate" || name == "migrate-cluster" // the cluster profile's, with the shards
		if dsn, ok := svc.Environment["MIGRATE_MYSQL_DSN"]; ok != migrate || (ok && !strings.HasPrefix(dsn, "logchat_migrate:")) {
			t.Errorf("service %s: MIGRATE_MYSQL_DSN %v: only the migrate jobs have it, as logchat_migrate", name, ok)
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
	"NATS_ADMIN_PASSWORD", "NATS_GATEWAY_PASSWORD", "NATS_PERSISTER_PASSWORD", "NATS_CACHEWARM_PASSWORD", "NATS_NOTIFIER_PASSWORD", "NATS_SEARCHER_PASSWORD",
	"MYSQL_APP_PASSWORD", "MYSQL_MIGRATE_PASSWORD", "MYSQL_ROOT_PASSWORD", "REDIS_PASSWORD",
	"REDIS_CLUSTER_ADMIN_PASSWORD",
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The `cluster` profile mirrors the deployment beyond one machine: 3 NATS
// nodes in one cluster with the stream replicated on all 3, 2 Centrifugo
// nodes on the Redis engine, HAProxy in front of 2 gateways and the 2
// Centrifugo nodes, 2 instances of each worker. Validated like the main
// file, with the profile enabled, and its configuration files checked by
// their own tools (haproxy -c) or against the code (ingest nats-config).
func TestComposeClusterProfile(t *testing.T) {
	root := testkit.RepoRoot(t)
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed; `make test` installs Debian's docker-compose package")
	}
	var env []string
	for _, kv := range os.Environ() {
		if !slices.Contains(composeSecrets, strings.SplitN(kv, "=", 2)[0]) {
			env = append(env, kv)
		}
	}
	for _, name := range composeSecrets {
		env = append(env, name+"="+testkit.RandomID()+testkit.RandomID())
	}
	cmd := exec.Command(bin, "-f", filepath.Join(root, "docker-compose.yml"), "--profile", "cluster", "config")
	cmd.Env = append(env, "DOCKER_HOST=unix:///nonexistent.sock")
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose --profile cluster config: %v\n%s", err, out)
	}
	type service = composeService
	var resolved struct {
		Services map[string]service `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &resolved); err != nil {
		t.Fatalf("resolved config is not YAML: %v", err)
	}
	svcs := resolved.Services
	var cluster []string
	for name, s := range svcs {
		if slices.Contains(s.Profiles, "cluster") {
			cluster = append(cluster, name)
		}
	}
	slices.Sort(cluster)
	mounts := func(s service) string { b, _ := yaml.Marshal(s.Volumes); return string(b) }
	numbered := func(prefix string) []string {
		var out []string
		for _, n := range cluster {
			if rest, ok := strings.CutPrefix(n, prefix+"-"); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
				out = append(out, n)
			}
		}
		return out
	}

	// NATS: 3 nodes, each named, each on the cluster configuration.
	nodes := numbered("nats")
	if len(nodes) != 3 {
		t.Fatalf("NATS nodes %v, want 3", nodes)
	}
	names := map[string]bool{}
	for _, n := range nodes {
		s := svcs[n]
		names[s.Environment["NATS_SERVER_NAME"]] = true
		if !strings.Contains(mounts(s), "deploy/nats/cluster") || s.Healthcheck == nil {
			t.Errorf("%s: not on deploy/nats/cluster, or no health check", n)
		}
	}
	if len(names) != 3 || names[""] {
		t.Errorf("the NATS nodes' server names are not 3 distinct ones: %v", names)
	}
	conf := readFile(t, filepath.Join(root, "deploy/nats/cluster/nats.conf"))
	for _, n := range nodes {
		if !strings.Contains(conf, "nats://"+n+":6222") {
			t.Errorf("deploy/nats/cluster/nats.conf has no route to %s", n)
		}
	}
	if !strings.Contains(conf, "sync_interval: always") {
		t.Error("the cluster's NATS must fsync before acknowledging (sync_interval: always)")
	}
	allNodes := "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222"

	// The stream: created by the admin, replicated on all 3 nodes.
	prov := svcs["provision-cluster"]
	if prov.Environment["STREAM_REPLICAS"] != "3" || prov.Environment["NATS_USER"] != "admin" || prov.Environment["NATS_URL"] != allNodes {
		t.Errorf("provision-cluster: %v", prov.Environment)
	}
	partitions := prov.Environment["STREAM_PARTITIONS"]

	// The users' permissions are those of ingest/access for those partitions.
	nc := exec.Command(filepath.Join(harness.Build(t).Dir, "ingest"), "nats-config")
	nc.Env = append(os.Environ(), "STREAM_PARTITIONS="+partitions)
	want, err := nc.Output()
	if err != nil {
		t.Fatalf("ingest nats-config: %v", err)
	}
	if readFile(t, filepath.Join(root, "deploy/nats/cluster/auth.conf")) != string(want) {
		t.Errorf("deploy/nats/cluster/auth.conf is stale: STREAM_PARTITIONS=%s go run ./ingest/cmd/ingest nats-config > deploy/nats/cluster/auth.conf", partitions)
	}

	// Centrifugo: 2 nodes on the Redis engine.
	cents := numbered("centrifugo")
	if len(cents) < 2 {
		t.Errorf("Centrifugo nodes %v, want 2 or more", cents)
	}
	for _, n := range cents {
		if e := svcs[n].Environment; e["CENTRIFUGO_ENGINE_TYPE"] != "redis" || !strings.Contains(e["CENTRIFUGO_ENGINE_REDIS_ADDRESS"], "@redis:6379") {
			t.Errorf("%s is not on the Redis engine: %v", n, e)
		}
	}

	// 2 gateways and 2 instances of each worker, on the cluster's log.
	var instances []string
	for _, p := range []string{"gateway", "persister", "cachewarm", "notifier", "searcher"} {
		got := numbered(p)
		if len(got) < 2 {
			t.Errorf("%s: instances %v, want 2 or more", p, got)
		}
		n, _ := strconv.Atoi(partitions)
		if p != "gateway" && len(got) > n {
			t.Errorf("%s: %d instances for %d partitions", p, len(got), n)
		}
		for _, name := range got {
			instances = append(instances, name)
			s := svcs[name]
			e := s.Environment
			if e["NATS_URL"] != allNodes || e["STREAM_PARTITIONS"] != partitions || e["STREAM_REPLICAS"] != "3" {
				t.Errorf("%s is not on the cluster's log: %s %s %s", name, e["NATS_URL"], e["STREAM_PARTITIONS"], e["STREAM_REPLICAS"])
			}
			if e["NATS_USER"] != p || !strings.HasPrefix(e["MYSQL_DSN"], "logchat_app:") {
				t.Errorf("%s: NATS user %q, MySQL %q", name, e["NATS_USER"], strings.SplitN(e["MYSQL_DSN"], ":", 2)[0])
			}
			if s.Healthcheck == nil || s.DependsOn["migrate-cluster"].Condition != "service_completed_successfully" || s.DependsOn["provision-cluster"].Condition != "service_completed_successfully" {
				t.Errorf("%s: no health check, or starts before the schema and the stream", name)
			}
			if len(s.Ports) > 0 {
				t.Errorf("%s publishes ports: only the balancer does", name)
			}
		}
	}
	problems := checkComposeShards(svcs, numbered, instances)
	for _, p := range problems {
		t.Error(p)
	}

	// Nothing of the cluster leans on the single-node services.
	for _, name := range cluster {
		for dep := range svcs[name].DependsOn {
			if slices.Contains([]string{"nats", "provision", "centrifugo", "gateway", "migrate"}, dep) {
				t.Errorf("%s depends on the single-node %s", name, dep)
			}
		}
	}

	// The balancer: HAProxy's own check of its file, its backends are the
	// cluster's gateways and Centrifugo nodes, and `up lb` starts everything.
	lb := svcs["lb"]
	if !strings.Contains(mounts(lb), "deploy/haproxy/haproxy.cfg") || len(lb.Ports) != 1 {
		t.Fatalf("lb: %v %v", lb.Volumes, lb.Ports)
	}
	for _, cfg := range []string{"deploy/haproxy/haproxy.cfg", "deploy/haproxy/centrifugo-api.cfg"} {
		if out, err := exec.Command("haproxy", "-c", "-f", filepath.Join(root, cfg)).CombinedOutput(); err != nil {
			t.Errorf("haproxy -c %s: %v\n%s", cfg, err, out)
		}
	}
	hcfg := readFile(t, filepath.Join(root, "deploy/haproxy/haproxy.cfg"))
	var servers []string
	for _, line := range strings.Split(hcfg, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "server" {
			servers = append(servers, f[1])
			if !strings.HasPrefix(f[2], f[1]+":") {
				t.Errorf("haproxy.cfg: server %s at %s", f[1], f[2])
			}
		}
	}
	slices.Sort(servers)
	wantServers := append(numbered("gateway"), cents...)
	slices.Sort(wantServers)
	if !slices.Equal(servers, wantServers) {
		t.Errorf("haproxy.cfg balances %v, want the gateways and Centrifugo nodes %v", servers, wantServers)
	}
	if !strings.Contains(hcfg, "path_beg /connection") || !strings.Contains(hcfg, "timeout tunnel") {
		t.Error("haproxy.cfg: WebSocket connections (/connection) must go to Centrifugo, with a tunnel timeout")
	}
	for _, name := range append(instances, cents...) {
		if lb.DependsOn[name].Condition != "service_healthy" {
			t.Errorf("lb does not wait for %s: `up lb` would not start it", name)
		}
	}
}

// composeService is a service of the resolved file, the fields checked.
type composeService struct {
	Profiles    []string `yaml:"profiles"`
	Command     []string `yaml:"command"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Ports       []any             `yaml:"ports"`
	Volumes     []any             `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
}

// checkComposeShards: the cluster profile's chat shards and Redis Cluster,
// as `make cluster` has them (scripts/cluster.sh): every process with
// MYSQL_DSN has the same MYSQL_SHARDS, naming each shard server once with
// the app account; the migrate job the same servers with the migrate
// account; new chats go to the shards; the processes of the chat cache are
// on every node of the Redis Cluster and never on REDIS_ADDR beside it;
// the others get neither.
func checkComposeShards(svcs map[string]composeService, numbered func(string) []string, instances []string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	view := func(name string) composeService { return svcs[name] }

	shardServers := numbered("mysql-shard")
	if len(shardServers) < 2 {
		bad("MySQL shard servers %v, want 2 or more", shardServers)
	}
	for _, n := range shardServers {
		s := view(n)
		if s.Healthcheck == nil || len(s.Ports) > 0 || !strings.Contains(fmt.Sprint(s.Volumes), "deploy/mysql/initdb.sh") {
			bad("%s: needs a health check, the accounts of deploy/mysql/initdb.sh and no published port", n)
		}
	}
	// shardHosts parses a shard list: its servers, by name, for the account.
	shardHosts := func(who, list, account string) map[string]string {
		out := map[string]string{}
		for _, e := range strings.Fields(list) {
			name, dsn, ok := strings.Cut(e, "=")
			user, rest, _ := strings.Cut(dsn, ":")
			_, addr, _ := strings.Cut(rest, "@tcp(")
			host, _, _ := strings.Cut(addr, ":")
			if !ok || user != account || out[name] != "" {
				bad("%s: shard entry %q: want a unique name=%s:PASSWORD@tcp(host:3306)/logchat", who, strings.SplitN(e, ":", 2)[0], account)
				continue
			}
			out[name] = host
		}
		return out
	}
	var first string
	for _, name := range instances {
		e := view(name).Environment
		if e["MYSQL_DSN"] == "" {
			continue
		}
		if e["MYSQL_SHARDS"] == "" {
			bad("%s: MYSQL_DSN but no MYSQL_SHARDS (every process must have the same list)", name)
			continue
		}
		if first == "" {
			first = e["MYSQL_SHARDS"]
		} else if e["MYSQL_SHARDS"] != first {
			bad("%s: MYSQL_SHARDS differs from the other processes'", name)
		}
	}
	app := shardHosts("MYSQL_SHARDS", first, "logchat_app")
	var hosts []string
	for _, h := range app {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	if !slices.Equal(hosts, shardServers) {
		bad("MYSQL_SHARDS names the servers %v, want each shard server once: %v", hosts, shardServers)
	}
	mig := view("migrate-cluster")
	if m := shardHosts("MIGRATE_MYSQL_SHARDS", mig.Environment["MIGRATE_MYSQL_SHARDS"], "logchat_migrate"); fmt.Sprint(m) != fmt.Sprint(app) /* fmt sorts map keys */ {
		bad("migrate-cluster: MIGRATE_MYSQL_SHARDS has the shards %v, MYSQL_SHARDS %v", m, app)
	}
	for _, n := range shardServers {
		if mig.DependsOn[n].Condition != "service_healthy" {
			bad("migrate-cluster does not wait for %s", n)
		}
	}
	for _, g := range numbered("gateway") {
		for _, e := range strings.Fields(view(g).Environment["MYSQL_SHARD_WEIGHTS"]) {
			name, w, _ := strings.Cut(e, "=")
			if _, ok := app[name]; !ok && name != "main" {
				bad("%s: MYSQL_SHARD_WEIGHTS names %s, which is not a shard", g, name)
			}
			if name == "main" && w != "0" {
				bad("%s: new chats on the main database (main=%s): the cluster's chats belong on the shards", g, w)
			}
		}
		if view(g).Environment["MYSQL_SHARD_WEIGHTS"] == "" {
			bad("%s: no MYSQL_SHARD_WEIGHTS", g)
		}
	}

	nodes := numbered("redis-cluster")
	if len(nodes) < 3 {
		bad("Redis Cluster nodes %v, want 3 masters", nodes)
	}
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, n+":6379")
		if s := view(n); !strings.Contains(strings.Join(s.Command, " "), "--cluster-enabled yes") || s.Healthcheck == nil {
			bad("%s: not a cluster node with a health check", n)
		}
	}
	create := view("redis-cluster-create")
	for _, n := range nodes {
		if create.DependsOn[n].Condition != "service_healthy" {
			bad("redis-cluster-create does not wait for %s", n)
		}
	}
	for _, name := range instances {
		s := view(name)
		role := name[:strings.LastIndex(name, "-")]
		cache := slices.Contains([]string{"gateway", "cachewarm", "notifier"}, role)
		_, single := s.Environment["REDIS_ADDR"]
		_, cluster := s.Environment["REDIS_CLUSTER_ADDRS"]
		switch {
		case single && cluster:
			bad("%s: both REDIS_ADDR and REDIS_CLUSTER_ADDRS", name)
		case cache && (single || s.Environment["REDIS_CLUSTER_ADDRS"] != strings.Join(seeds, ",")):
			bad("%s: the chat cache must be on the Redis Cluster %v, not %q/%q", name, seeds, s.Environment["REDIS_ADDR"], s.Environment["REDIS_CLUSTER_ADDRS"])
		case cache && (s.Environment["REDIS_USERNAME"] != "logchat" || s.Environment["REDIS_PASSWORD"] == ""):
			bad("%s: does not log in to the Redis Cluster as logchat", name)
		case cache && s.DependsOn["redis-cluster-create"].Condition != "service_completed_successfully":
			bad("%s: starts before the Redis Cluster is formed", name)
		case !cache && (single || cluster):
			bad("%s: %s reads no Redis", name, role)
		}
	}
	return problems
}
