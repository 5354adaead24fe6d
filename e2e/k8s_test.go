package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/config"
	"github.com/logchat/testkit"
)

// No Kubernetes cluster runs here, so deploy/k8s is kept honest the way
// docker-compose.yml is: every overlay is rendered with kustomize's own
// library (what `kubectl apply -k` runs), every object is decoded strictly
// into the Kubernetes API types (an unknown or misspelt field fails), and
// the cross-references a cluster would only reveal at run time are checked:
// selectors, ports, Secrets and ConfigMaps and their keys, the variables each
// program really reads (its describe-config), probes, the network policies
// against what each program talks to, KEDA's triggers against the log's
// partitions, and the Helm values of NATS and Centrifugo against the
// manifests and the code. A table of broken variants proves each check can
// fail.

var updateK8s = flag.Bool("update-k8s", false, "rewrite the generated NATS users of deploy/k8s/helm/nats-values.yaml")

const k8sRoot = "deploy/k8s"

var k8sOverlays = []string{"dev", "prod", "sharded"}

func TestKubernetesManifests(t *testing.T) {
	root := testkit.RepoRoot(t)
	tree := readK8sTree(t, root)
	// The programs the other e2e tests build too are built once (harness).
	progs := &programVars{root: root, dir: t.TempDir(), prebuilt: harness.Build(t).Dir, vars: map[string]map[string]config.Var{}}

	natsUsers := generatedNATSUsers(t, tree)
	if *updateK8s {
		p := filepath.Join(root, k8sRoot, "helm/nats-values.yaml")
		out, err := replaceUsersBlock(tree["helm/nats-values.yaml"], natsUsers)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		tree["helm/nats-values.yaml"] = out
	}

	for _, overlay := range k8sOverlays {
		t.Run(overlay, func(t *testing.T) {
			problems, err := checkK8s(tree, overlay, progs, natsUsers)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
		})
	}

	// Each broken variant must be refused, for the reason it was broken.
	for _, v := range brokenK8sVariants {
		t.Run("broken/"+v.name, func(t *testing.T) {
			broken := maps(tree)
			for file, edit := range v.edits {
				old, ok := broken[file]
				if !ok {
					t.Fatalf("no file %s", file)
				}
				if edit.old == "" { // delete the file
					delete(broken, file)
					continue
				}
				if !strings.Contains(old, edit.old) {
					t.Fatalf("%s does not contain %q: the variant is stale", file, edit.old)
				}
				broken[file] = strings.Replace(old, edit.old, edit.new, edit.count())
			}
			problems, err := checkK8s(broken, v.overlay(), progs, natsUsers)
			all := strings.Join(problems, "\n")
			if err != nil {
				all += "\n" + err.Error()
			}
			if all == "" {
				t.Fatalf("accepted")
			}
			if !strings.Contains(all, v.want) {
				t.Fatalf("refused, but not for %q:\n%s", v.want, all)
			}
		})
	}
}

type k8sEdit struct {
	old, new string
	all      bool
}

func (e k8sEdit) count() int {
	if e.all {
		return -1
	}
	return 1
}

type brokenK8sVariant struct {
	name  string
	on    string // overlay, default prod
	edits map[string]k8sEdit
	want  string
}

func (v brokenK8sVariant) overlay() string {
	if v.on == "" {
		return "prod"
	}
	return v.on
}

var brokenK8sVariants = []brokenK8sVariant{
	{name: "unknown field", edits: map[string]k8sEdit{"base/gateway.yaml": {old: "  revisionHistoryLimit: 5", new: "  revisionHistoryLimits: 5"}},
		want: `unknown field "revisionHistoryLimits"`},
	{name: "misspelt kind field in a probe", edits: map[string]k8sEdit{"base/persister.yaml": {old: "            periodSeconds: 10\n            timeoutSeconds: 3\n            failureThreshold: 3\n          readinessProbe", new: "            periodSecond: 10\n            timeoutSeconds: 3\n            failureThreshold: 3\n          readinessProbe"}},
		want: `unknown field "periodSecond"`},
	{name: "service target port", edits: map[string]k8sEdit{"base/gateway.yaml": {old: "{name: http, port: 8080, targetPort: http}", new: "{name: http, port: 8080, targetPort: htp}"}},
		want: `Service gateway: targetPort "htp"`},
	{name: "secret key", edits: map[string]k8sEdit{"base/persister.yaml": {old: "key: NATS_PERSISTER_PASSWORD", new: "key: NATS_PERSISTR_PASSWORD"}},
		want: `Secret logchat-nats has no key NATS_PERSISTR_PASSWORD`},
	{name: "undefined secret", edits: map[string]k8sEdit{"base/cachewarm.yaml": {old: "{name: logchat-app, key: REDIS_ADDR}", new: "{name: logchat-redis, key: REDIS_ADDR}"}},
		want: `no Secret logchat-redis`},
	{name: "missing secrets file", edits: map[string]k8sEdit{"overlays/prod/secrets/nats.env": {}},
		want: `nats.env`},
	{name: "empty secret", edits: map[string]k8sEdit{"overlays/dev/secrets/app.env": {old: "JWT_SECRET=", new: "JWT_SECRET=\nUNUSED="}}, on: "dev",
		want: `Secret logchat-app: JWT_SECRET is empty`},
	{name: "variable the program does not read", edits: map[string]k8sEdit{"base/kustomization.yaml": {old: "      - GATEWAY_PUBLIC_METRICS=false", new: "      - GATEWAY_PUBLIC_METRICS=false\n      - GATEWAY_PORT=8080"}},
		want: `gateway does not read GATEWAY_PORT`},
	{name: "required variable missing", edits: map[string]k8sEdit{"base/gateway.yaml": {old: "            - name: JWT_SECRET\n              valueFrom: {secretKeyRef: {name: logchat-app, key: JWT_SECRET}}\n", new: ""}},
		want: `gateway: JWT_SECRET is required`},
	{name: "probe on an undeclared port", edits: map[string]k8sEdit{"base/gateway.yaml": {old: "httpGet: {path: /readyz, port: internal}", new: "httpGet: {path: /readyz, port: metrics}"}},
		want: `probe port "metrics" is not a container port`},
	{name: "probe off the health listener", edits: map[string]k8sEdit{"base/kustomization.yaml": {old: "  - name: logchat-cachewarm\n    literals:\n      - HEALTH_ADDR=0.0.0.0:9100", new: "  - name: logchat-cachewarm\n    literals:\n      - HEALTH_ADDR=0.0.0.0:9200"}},
		want: `cachewarm: probe on port 9100, but HEALTH_ADDR listens on 9200`},
	{name: "health listener on loopback", edits: map[string]k8sEdit{"base/kustomization.yaml": {old: "      - GATEWAY_INTERNAL_ADDR=0.0.0.0:9100", new: "      - GATEWAY_INTERNAL_ADDR=127.0.0.1:9100"}},
		want: `GATEWAY_INTERNAL_ADDR listens on 127.0.0.1`},
	{name: "writable root filesystem", edits: map[string]k8sEdit{"base/notifier.yaml": {old: "readOnlyRootFilesystem: true", new: "readOnlyRootFilesystem: false"}},
		want: `notifier: root filesystem not read-only`},
	{name: "root user", edits: map[string]k8sEdit{"base/jobs.yaml": {old: "runAsNonRoot: true", new: "runAsNonRoot: false"}},
		want: `Job migrate: not runAsNonRoot`},
	{name: "pdb selects nothing", edits: map[string]k8sEdit{"base/notifier.yaml": {old: "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: notifier", new: "  maxUnavailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: notifer"}},
		want: `PodDisruptionBudget notifier: selects no pod`},
	{name: "network policy selects nothing", edits: map[string]k8sEdit{"base/networkpolicies.yaml": {old: "matchLabels: {logchat.io/egress-centrifugo-api: \"true\"}\n  policyTypes", new: "matchLabels: {logchat.io/egress-centrifugo: \"true\"}\n  policyTypes"}},
		want: `NetworkPolicy egress-centrifugo-api: selects no pod`},
	{name: "redis unreachable for a program that uses it", edits: map[string]k8sEdit{"base/cachewarm.yaml": {old: "        logchat.io/egress-redis: \"true\"\n", new: ""}},
		want: `cachewarm: uses Redis (REDIS_ADDR) but no NetworkPolicy lets it reach Redis`},
	{name: "mysql reachable for a program that does not use it", edits: map[string]k8sEdit{"base/jobs.yaml": {old: "        app.kubernetes.io/name: provision\n", new: "        app.kubernetes.io/name: provision\n        logchat.io/egress-mysql: \"true\"\n"}},
		want: `Job provision: ingest: may reach MySQL but has no MySQL DSN`},
	{name: "shard list from a missing key", on: "sharded", edits: map[string]k8sEdit{"components/sharded/shards.yaml": {old: "key: MYSQL_SHARDS}", new: "key: MYSQL_SHARD}"}},
		want: `Secret logchat-sharded has no key MYSQL_SHARD`},
	{name: "shard list in a ConfigMap", on: "sharded", edits: map[string]k8sEdit{"base/kustomization.yaml": {old: "  - name: logchat-persister\n    literals:\n", new: "  - name: logchat-persister\n    literals:\n      - MYSQL_SHARDS=s1=app:pw@tcp(10.20.2.1:3306)/logchat\n"}},
		want: `persister: MYSQL_SHARDS is a secret, set from ConfigMap logchat-persister`},
	{name: "a process without the shards", on: "sharded", edits: map[string]k8sEdit{"components/sharded/kustomization.yaml": {old: "    target: {kind: Deployment}\n", new: "    target: {kind: Deployment, name: \"^(gateway|cachewarm|notifier|searcher)$\"}\n"}},
		want: `Deployment persister: persister has MYSQL_DSN but no MYSQL_SHARDS`},
	{name: "migrate without the shards", on: "sharded", edits: map[string]k8sEdit{"components/sharded/kustomization.yaml": {old: "  - path: migrate.yaml\n    target: {kind: Job, name: migrate}\n", new: ""}},
		want: `Job migrate: migrate has no MIGRATE_MYSQL_SHARDS`},
	{name: "shard weights without shards", edits: map[string]k8sEdit{"overlays/prod/kustomization.yaml": {old: "      - TRUSTED_PROXIES=10.244.0.0/16\n", new: "      - TRUSTED_PROXIES=10.244.0.0/16\n      - MYSQL_SHARD_WEIGHTS=main=1\n"}},
		want: `gateway has MYSQL_SHARD_WEIGHTS without MYSQL_SHARDS`},
	{name: "both redis addresses", on: "sharded", edits: map[string]k8sEdit{"components/sharded/redis-cluster.yaml": {old: "- op: replace\n  path: /spec/template/spec/containers/0/env/3\n", new: "- op: add\n  path: /spec/template/spec/containers/0/env/3\n"}},
		want: `sets both REDIS_ADDR and REDIS_CLUSTER_ADDRS`},
	{name: "redis cluster unreachable", on: "sharded", edits: map[string]k8sEdit{"components/sharded/networkpolicies.yaml": {old: "        - {protocol: TCP, port: 6379}", new: "        - {protocol: TCP, port: 16379}"}},
		want: `cachewarm: uses Redis Cluster (REDIS_CLUSTER_ADDRS) but no NetworkPolicy lets it reach Redis Cluster`},
	{name: "shards reachable without a shard list", on: "sharded", edits: map[string]k8sEdit{"base/jobs.yaml": {old: "        app.kubernetes.io/name: provision\n", new: "        app.kubernetes.io/name: provision\n        logchat.io/egress-mysql-shards: \"true\"\n"}},
		want: `Job provision: ingest: may reach the chat shards but has no MYSQL_SHARDS`},
	{name: "single redis still reachable with the cluster", on: "sharded", edits: map[string]k8sEdit{"components/sharded/redis-cluster.yaml": {old: "- op: remove\n  path: /spec/template/metadata/labels/logchat.io~1egress-redis\n", new: ""}},
		want: `gateway: may reach Redis but has no REDIS_ADDR`},
	{name: "open to every namespace", edits: map[string]k8sEdit{"base/networkpolicies.yaml": {old: "            matchLabels: {kubernetes.io/metadata.name: keda}", new: "            matchLabels: {}"}},
		want: `NetworkPolicy nats-ingress: admits pods of any namespace`},
	{name: "scaled beyond the partitions", edits: map[string]k8sEdit{"base/scaledobjects.yaml": {old: "  maxReplicaCount: 8", new: "  maxReplicaCount: 9"}},
		want: `ScaledObject persister: maxReplicaCount 9 > STREAM_PARTITIONS 8`},
	{name: "scaled object without target", edits: map[string]k8sEdit{"base/scaledobjects.yaml": {old: "    name: cachewarm\n", new: "    name: cachewarmer\n"}},
		want: `ScaledObject cachewarm: no Deployment cachewarmer`},
	{name: "keda metadata misspelt", edits: map[string]k8sEdit{"base/scaledobjects.yaml": {old: "        lagThreshold: \"1000\"", new: "        lagTreshold: \"1000\""}},
		want: `unknown metadata lagTreshold`},
	{name: "keda consumer of another worker", edits: map[string]k8sEdit{"base/scaledobjects.yaml": {old: "consumer: notifier_p03", new: "consumer: persister_p03"}},
		want: `ScaledObject notifier: triggers on consumers`},
	{name: "keda triggers beyond the partitions", on: "dev", edits: map[string]k8sEdit{"overlays/dev/kustomization.yaml": {old: "      - op: remove\n        path: /spec/triggers/2\n", new: ""}},
		want: `ScaledObject persister: triggers on consumers`},
	{name: "ingress to an unknown port", edits: map[string]k8sEdit{"base/ingress.yaml": {old: "service: {name: gateway, port: {name: http}}", new: "service: {name: gateway, port: {name: web}}"}},
		want: `Ingress logchat: Service gateway has no port "web"`},
	{name: "ingress to an internal service", edits: map[string]k8sEdit{"base/ingress.yaml": {old: "service: {name: centrifugo, port: {number: 8000}}", new: "service: {name: centrifugo, port: {number: 9000}}"}},
		want: `Ingress logchat: routes to centrifugo:9000`},
	{name: "nats user unknown to the server", edits: map[string]k8sEdit{"base/persister.yaml": {old: "              value: persister", new: "              value: cachewarm"}},
		want: `persister: NATS_USER cachewarm with the password of NATS_PERSISTER_PASSWORD`},
	{name: "nats permissions edited", edits: map[string]k8sEdit{"helm/nats-values.yaml": {old: "\"dlq.persister\"", new: "\"dlq.>\""}},
		want: `nats-values.yaml: the users differ from ingest/access`},
	{name: "nats without fsync", edits: map[string]k8sEdit{"helm/nats-values.yaml": {old: "sync_interval: always", new: "sync_interval: 2m"}},
		want: `sync_interval`},
	{name: "nats password from nowhere", edits: map[string]k8sEdit{"helm/nats-values.yaml": {old: "key: NATS_NOTIFIER_PASSWORD", new: "key: NATS_NOTIFY_PASSWORD"}},
		want: `nats-values.yaml: NATS_NOTIFIER_PASSWORD from Secret logchat-nats key NATS_NOTIFY_PASSWORD, which it does not have`},
	{name: "nats values key unknown to the chart", edits: map[string]k8sEdit{"helm/nats-values.yaml": {old: "  cluster:\n    enabled: true", new: "  cluster:\n    enable: true"}},
		want: `unknown field "enable"`},
	{name: "centrifugo on one node", edits: map[string]k8sEdit{"helm/centrifugo-values.yaml": {old: "replicaCount: 2", new: "replicaCount: 1"}},
		want: `centrifugo-values.yaml: replicaCount 1`},
	{name: "centrifugo without history across nodes", edits: map[string]k8sEdit{"helm/centrifugo-values.yaml": {old: "    type: redis", new: "    type: nats"}},
		want: `centrifugo-values.yaml: engine nats`},
	{name: "centrifugo namespaces drift", edits: map[string]k8sEdit{"helm/centrifugo-values.yaml": {old: "name: user, history_size: 300", new: "name: user, history_size: 30"}},
		want: `centrifugo-values.yaml: channel namespaces differ from deploy/centrifugo/config.template.json`},
}

// readK8sTree reads deploy/k8s, plus deploy/centrifugo's template, into
// memory, with a Secret env file per overlay made from the example, each
// value random (the test's own, as compose_test.go gives compose its own).
func readK8sTree(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	base := filepath.Join(root, k8sRoot)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if strings.Contains(rel, "/secrets/") { // a developer's real secrets are not the test's
			return nil
		}
		b, err := os.ReadFile(p)
		tree[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := os.ReadFile(filepath.Join(root, "deploy/centrifugo/config.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	tree["../centrifugo/config.template.json"] = string(tpl)
	for _, overlay := range k8sOverlays {
		for name, example := range tree {
			if !strings.HasPrefix(name, "secrets.example/") {
				continue
			}
			var b strings.Builder
			for _, line := range strings.Split(example, "\n") {
				if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
					fmt.Fprintf(&b, "%s=%s\n", k, testkit.RandomID()+testkit.RandomID())
				}
			}
			tree["overlays/"+overlay+"/secrets/"+path.Base(name)] = b.String()
		}
	}
	return tree
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// programVars is what each program reads: `<program> describe-config`,
// built once per test run.
type programVars struct {
	root, dir string
	prebuilt  string // harness.Build's binaries
	mu        sync.Mutex
	vars      map[string]map[string]config.Var
}

func (p *programVars) get(prog string) (map[string]config.Var, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.vars[prog]; ok {
		return v, nil
	}
	pkg := "./" + prog + "/cmd/" + prog
	switch prog {
	case "migrate":
		pkg = "./storage/cmd/migrate"
	}
	if _, err := os.Stat(filepath.Join(p.root, pkg)); err != nil {
		return nil, fmt.Errorf("a container runs %s, but there is no program %s in this repository", prog, pkg)
	}
	bin := filepath.Join(p.prebuilt, prog)
	if _, err := os.Stat(bin); err != nil {
		bin = filepath.Join(p.dir, prog)
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Dir = p.root
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	out, err := exec.Command(bin, config.DescribeCommand).Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", prog, config.DescribeCommand, err)
	}
	vars := map[string]config.Var{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var v config.Var
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %q: %v", prog, sc.Text(), err)
		}
		vars[v.Name] = v
	}
	p.vars[prog] = vars
	return vars, nil
}

// ---- rendering and strict decoding ----

type k8sObjects struct {
	deployments  []*appsv1.Deployment
	jobs         []*batchv1.Job
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pdbs         []*policyv1.PodDisruptionBudget
	netpols      []*networkingv1.NetworkPolicy
	ingresses    []*networkingv1.Ingress
	scaledObject []*scaledObject
	// bus is logchat-bus, whose name kustomize suffixes with a hash.
	bus *corev1.ConfigMap
}

// scaledObject is KEDA's ScaledObject (keda.sh/v1alpha1), the fields of
// its CRD this repository may use; anything else is refused.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Advanced        *struct {
			RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
			HorizontalPodAutoscalerConfig *struct {
				Name     string `json:"name,omitempty"`
				Behavior *struct {
					ScaleUp   *hpaRules `json:"scaleUp,omitempty"`
					ScaleDown *hpaRules `json:"scaleDown,omitempty"`
				} `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []struct {
			Type     string            `json:"type"`
			Name     string            `json:"name,omitempty"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// hpaRules is autoscaling/v2's HPAScalingRules, which KEDA passes on.
type hpaRules struct {
	StabilizationWindowSeconds *int32 `json:"stabilizationWindowSeconds,omitempty"`
	SelectPolicy               string `json:"selectPolicy,omitempty"`
	Policies                   []struct {
		Type          string `json:"type"`
		Value         int32  `json:"value"`
		PeriodSeconds int32  `json:"periodSeconds"`
	} `json:"policies,omitempty"`
}

// kedaJetStreamMetadata are the nats-jetstream trigger's parameters (KEDA's
// docs, scalers/nats-jetstream): true when required.
var kedaJetStreamMetadata = map[string]bool{
	"natsServerMonitoringEndpoint": true, "account": true, "stream": true, "consumer": true,
	"lagThreshold": true, "activationLagThreshold": false, "useHttps": false,
}

func strictJSON(raw []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func renderK8s(tree map[string]string, overlay string) (*k8sObjects, error) {
	mem := filesys.MakeFsInMemory()
	for name, content := range tree {
		if err := mem.WriteFile(path.Join("/repo/deploy/k8s", name), []byte(content)); err != nil {
			return nil, err
		}
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/repo/deploy/k8s/overlays/"+overlay)
	if err != nil {
		return nil, fmt.Errorf("kustomize build overlays/%s: %w", overlay, err)
	}
	objs := &k8sObjects{services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	var errs []string
	for _, r := range rm.Resources() {
		raw, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		id := r.GetKind() + " " + r.GetName()
		var into any
		switch r.GetApiVersion() + "/" + r.GetKind() {
		case "apps/v1/Deployment":
			o := &appsv1.Deployment{}
			objs.deployments, into = append(objs.deployments, o), o
		case "batch/v1/Job":
			o := &batchv1.Job{}
			objs.jobs, into = append(objs.jobs, o), o
		case "v1/Service":
			o := &corev1.Service{}
			objs.services[r.GetName()], into = o, o
		case "v1/ConfigMap":
			o := &corev1.ConfigMap{}
			objs.configMaps[r.GetName()], into = o, o
			if n := r.GetName(); n == "logchat-bus" || (strings.HasPrefix(n, "logchat-bus-") && len(n) == len("logchat-bus-")+10) {
				objs.bus = o
			}
		case "v1/Secret":
			o := &corev1.Secret{}
			objs.secrets[r.GetName()], into = o, o
		case "policy/v1/PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			objs.pdbs, into = append(objs.pdbs, o), o
		case "networking.k8s.io/v1/NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			objs.netpols, into = append(objs.netpols, o), o
		case "networking.k8s.io/v1/Ingress":
			o := &networkingv1.Ingress{}
			objs.ingresses, into = append(objs.ingresses, o), o
		case "keda.sh/v1alpha1/ScaledObject":
			o := &scaledObject{}
			objs.scaledObject, into = append(objs.scaledObject, o), o
		default:
			errs = append(errs, fmt.Sprintf("%s: kind %s/%s is not one this test knows", id, r.GetApiVersion(), r.GetKind()))
			continue
		}
		if err := strictJSON(raw, into); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", id, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return objs, nil
}

// ---- the checks ----

// workload is a pod template: ours, or one a Helm chart makes (NATS,
// Centrifugo), known by the labels the chart gives its pods.
type workload struct {
	kind, name string
	labels     map[string]string
	spec       *corev1.PodSpec // nil for a chart's pods
}

func (w workload) String() string { return w.kind + " " + w.name }

// The charts' pods for releases named nats and centrifugo (their selector
// labels), plus what the values add.
func chartWorkloads(centrifugo *centrifugoValues) []workload {
	c := map[string]string{"app.kubernetes.io/name": "centrifugo", "app.kubernetes.io/instance": "centrifugo"}
	for k, v := range centrifugo.PodLabels {
		c[k] = v
	}
	return []workload{
		{kind: "chart", name: "nats", labels: map[string]string{"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats", "app.kubernetes.io/component": "nats"}},
		{kind: "chart", name: "centrifugo", labels: c},
	}
}

// The charts' Services and their ports.
var chartServices = map[string][]int32{"nats": {4222}, "nats-headless": {4222, 6222, 8222}, "centrifugo": {8000, 9000}}

// Ports reachable from outside the cluster through the Ingress.
var publicBackends = map[string]bool{"gateway:8080": true, "centrifugo:8000": true}

// Namespaces a NetworkPolicy may admit, and to what: the ingress
// controller to the public ports, KEDA's operator to NATS's monitoring.
var admittedNamespaces = map[string]map[string]bool{
	"ingress-nginx": {"gateway": true, "centrifugo": true},
	"keda":          {"nats": true},
}

func checkK8s(tree map[string]string, overlay string, progs *programVars, natsUsers []natsUser) ([]string, error) {
	objs, err := renderK8s(tree, overlay)
	if err != nil {
		return nil, err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	nats, cent, errs := decodeHelmValues(tree)
	if len(errs) > 0 {
		return errs, nil
	}

	var workloads []workload
	for _, d := range objs.deployments {
		workloads = append(workloads, workload{"Deployment", d.Name, d.Spec.Template.Labels, &d.Spec.Template.Spec})
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			bad("Deployment %s: its selector does not match its pod template's labels", d.Name)
		}
	}
	for _, j := range objs.jobs {
		workloads = append(workloads, workload{"Job", j.Name, j.Spec.Template.Labels, &j.Spec.Template.Spec})
	}
	all := append(append([]workload{}, workloads...), chartWorkloads(cent)...)
	matching := func(sel *metav1.LabelSelector) []workload {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return nil
		}
		var out []workload
		for _, w := range all {
			if s.Matches(labels.Set(w.labels)) {
				out = append(out, w)
			}
		}
		return out
	}

	bus := objs.bus
	if bus == nil {
		return append(problems, "no ConfigMap logchat-bus"), nil
	}
	partitions, err := strconv.Atoi(bus.Data["STREAM_PARTITIONS"])
	if err != nil || partitions < 1 {
		bad("ConfigMap logchat-bus: STREAM_PARTITIONS %q", bus.Data["STREAM_PARTITIONS"])
	}
	if natsPartitions := natsValuesPartitions(tree); partitions > natsPartitions {
		bad("STREAM_PARTITIONS %d, but the NATS users' permissions cover %d partitions", partitions, natsPartitions)
	}

	for name, s := range objs.secrets {
		for k, v := range s.Data {
			if len(v) == 0 {
				bad("Secret %s: %s is empty", name, k)
			}
		}
	}

	// Each workload's containers: what they run, read, listen on, may do.
	egress := egressLabels(objs.netpols)
	natsUserSet := map[string]bool{}
	for _, u := range natsUsers {
		natsUserSet[u.User] = true
	}
	var containers []containerEnv
	for _, w := range workloads {
		problems = append(problems, checkPod(w, objs, progs, natsUserSet, egress, &containers)...)
	}
	problems = append(problems, checkShards(containers)...)

	// Services: select pods, and point at ports those pods declare.
	for name, s := range objs.services {
		var targets []workload
		for _, w := range matching(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}) {
			if w.spec != nil {
				targets = append(targets, w)
			}
		}
		if len(s.Spec.Selector) == 0 || len(targets) == 0 {
			bad("Service %s: selects no pod", name)
			continue
		}
		for _, p := range s.Spec.Ports {
			for _, w := range targets {
				if !hasContainerPort(w.spec, p.TargetPort) {
					bad("Service %s: targetPort %q is not a container port of %s", name, p.TargetPort.String(), w)
				}
			}
		}
	}

	for _, p := range objs.pdbs {
		if len(matching(p.Spec.Selector)) == 0 || p.Spec.Selector == nil || len(p.Spec.Selector.MatchLabels)+len(p.Spec.Selector.MatchExpressions) == 0 {
			bad("PodDisruptionBudget %s: selects no pod", p.Name)
		}
	}
	// Every Deployment has a PodDisruptionBudget.
	for _, d := range objs.deployments {
		covered := false
		for _, p := range objs.pdbs {
			if s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && s.Matches(labels.Set(d.Spec.Template.Labels)) {
				covered = true
			}
		}
		if !covered {
			bad("Deployment %s: no PodDisruptionBudget", d.Name)
		}
	}

	problems = append(problems, checkNetworkPolicies(objs, matching)...)
	problems = append(problems, checkIngresses(objs)...)
	problems = append(problems, checkScaledObjects(objs, partitions)...)
	problems = append(problems, checkHelmValues(tree, objs, nats, cent, natsUsers)...)
	return problems, nil
}

// egressTargets are what a pod may reach outside the namespace's own
// Services, each through the NetworkPolicy that selects the label
// logchat.io/egress-<target> and opens the target's port; used says by
// which variables a program's environment points at it.
var egressTargets = []struct {
	target string
	port   int
	name   string // in messages
	used   string // the variables, in messages
}{
	{"mysql", 3306, "MySQL", "a MySQL DSN"},
	{"mysql-shards", 3306, "the chat shards", "MYSQL_SHARDS"},
	{"redis", 6379, "Redis", "REDIS_ADDR"},
	{"redis-cluster", 6379, "Redis Cluster", "REDIS_CLUSTER_ADDRS"},
	{"nats", 4222, "NATS", "NATS_URL"},
}

// egressUses is what a container's environment points at, by target.
func egressUses(env map[string]string) map[string]bool {
	return map[string]bool{
		"mysql":         env["MYSQL_DSN"] != "" || env["MIGRATE_MYSQL_DSN"] != "",
		"mysql-shards":  env["MYSQL_SHARDS"] != "" || env["MIGRATE_MYSQL_SHARDS"] != "",
		"redis":         env["REDIS_ADDR"] != "",
		"redis-cluster": env["REDIS_CLUSTER_ADDRS"] != "",
		"nats":          env["NATS_URL"] != "",
	}
}

// egressLabels: the pod labels a NetworkPolicy lets reach each target: a
// policy selecting logchat.io/egress-<target> whose rules open the target's
// port (the same port for the main MySQL and the shards, hence the label).
func egressLabels(nps []*networkingv1.NetworkPolicy) map[string]map[string]string {
	out := map[string]map[string]string{} // "mysql" → labels that allow it
	for _, np := range nps {
		for _, t := range egressTargets {
			if np.Spec.PodSelector.MatchLabels["logchat.io/egress-"+t.target] != "true" {
				continue
			}
			for _, e := range np.Spec.Egress {
				for _, port := range e.Ports {
					if port.Port != nil && port.Port.IntValue() == t.port {
						out[t.target] = np.Spec.PodSelector.MatchLabels
					}
				}
			}
		}
	}
	return out
}

func hasContainerPort(spec *corev1.PodSpec, p intstr.IntOrString) bool {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return true
			}
		}
	}
	return false
}

func containerPortNumber(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// program is what a container runs: its command's base name, or the
// service its image was built for (deploy/docker/Dockerfile: one image per
// service, whose entry point is that service).
func program(c corev1.Container) string {
	if len(c.Command) > 0 {
		return path.Base(c.Command[0])
	}
	img := c.Image
	if i := strings.LastIndex(img, "@"); i >= 0 {
		img = img[:i]
	}
	img = path.Base(img)
	if i := strings.Index(img, ":"); i >= 0 {
		img = img[:i]
	}
	return img
}

func checkPod(w workload, objs *k8sObjects, progs *programVars, natsUsers map[string]bool, egress map[string]map[string]string, containers *[]containerEnv) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: ", w)+fmt.Sprintf(format, args...))
	}
	spec := w.spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		bad("mounts a service account token it does not need")
	}
	podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
	if len(spec.Containers) == 0 {
		bad("no containers")
	}
	for _, c := range spec.Containers {
		prog := program(c)
		sc := c.SecurityContext
		if !podNonRoot && (sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			bad("not runAsNonRoot")
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("%s: root filesystem not read-only", c.Name)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("%s: privilege escalation allowed", c.Name)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			bad("%s: capabilities not dropped", c.Name)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			bad("%s: needs cpu and memory requests and a memory limit", c.Name)
		}

		// The environment: every variable is one the program reads, and
		// every reference resolves.
		vars, err := progs.get(prog)
		if err != nil {
			bad("%v", err)
			continue
		}
		env := map[string]string{}    // name → value (literal or resolved)
		source := map[string]string{} // name → where it comes from
		set := func(name, value, from string) {
			v, ok := vars[name]
			if !ok {
				bad("%s does not read %s (see `%s %s`)", prog, name, prog, config.DescribeCommand)
			}
			// What the program calls a secret (passwords, DSNs, the shard
			// lists) never sits in a manifest or a ConfigMap.
			if v.Secret && !strings.HasPrefix(from, "Secret ") {
				bad("%s: %s is a secret, set from %s: it belongs in a Secret", prog, name, from)
			}
			env[name] = value
			source[name] = from
		}
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				cm := objs.configMaps[ef.ConfigMapRef.Name]
				if cm == nil {
					bad("envFrom: no ConfigMap %s", ef.ConfigMapRef.Name)
					continue
				}
				for k, v := range cm.Data {
					set(k, v, "ConfigMap "+cm.Name)
				}
			case ef.SecretRef != nil:
				s := objs.secrets[ef.SecretRef.Name]
				if s == nil {
					bad("envFrom: no Secret %s", ef.SecretRef.Name)
					continue
				}
				for k, v := range s.Data {
					set(k, string(v), "Secret "+s.Name+"/"+k)
				}
			}
		}
		secretKey := map[string]string{} // variable → the Secret key it comes from
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				set(e.Name, e.Value, "a literal value")
			case e.ValueFrom.SecretKeyRef != nil:
				ref := e.ValueFrom.SecretKeyRef
				s := objs.secrets[ref.Name]
				if s == nil {
					bad("%s: no Secret %s", e.Name, ref.Name)
				} else if _, ok := s.Data[ref.Key]; !ok {
					bad("%s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
				}
				secretKey[e.Name] = ref.Key
				set(e.Name, "(secret)", "Secret "+ref.Name+"/"+ref.Key)
			case e.ValueFrom.ConfigMapKeyRef != nil:
				ref := e.ValueFrom.ConfigMapKeyRef
				cm := objs.configMaps[ref.Name]
				if cm == nil {
					bad("%s: no ConfigMap %s", e.Name, ref.Name)
				} else if _, ok := cm.Data[ref.Key]; !ok {
					bad("%s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
				}
				set(e.Name, cm.Data[ref.Key], "ConfigMap "+ref.Name)
			default:
				bad("%s: a value source this test does not know", e.Name)
			}
		}
		for name, v := range vars {
			// ingest reads MYSQL_DSN for `ingest verify` only.
			if prog == "ingest" && !slices.Contains(c.Command, "verify") && !slices.Contains(c.Args, "verify") {
				continue
			}
			if v.Required {
				if _, ok := env[name]; !ok {
					bad("%s: %s is required", prog, name)
				}
			}
		}
		// A NATS user logs in with its own password.
		if u, ok := env["NATS_USER"]; ok {
			if !natsUsers[u] {
				bad("NATS_USER %s is not a user of the NATS server (helm/nats-values.yaml)", u)
			}
			if k := secretKey["NATS_PASSWORD"]; k != access.PasswordEnv(u) {
				bad("%s: NATS_USER %s with the password of %s", prog, u, k)
			}
		}

		// Probes: on declared ports, on the program's health listener.
		healthVar := ""
		for _, v := range []string{"HEALTH_ADDR", "GATEWAY_INTERNAL_ADDR"} {
			if _, ok := vars[v]; ok {
				healthVar = v
			}
		}
		if w.kind == "Deployment" && (c.LivenessProbe == nil || c.ReadinessProbe == nil || c.StartupProbe == nil) {
			bad("%s: needs startup, liveness and readiness probes", c.Name)
		}
		for kind, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if pr == nil {
				continue
			}
			if pr.HTTPGet == nil {
				bad("%s: %s probe is not an HTTP GET", c.Name, kind)
				continue
			}
			want := map[string]string{"startup": "/healthz", "liveness": "/healthz", "readiness": "/readyz"}[kind]
			if pr.HTTPGet.Path != want {
				bad("%s: %s probe on %s, want %s", c.Name, kind, pr.HTTPGet.Path, want)
			}
			port, ok := containerPortNumber(c, pr.HTTPGet.Port)
			if !ok {
				bad("%s: probe port %q is not a container port", c.Name, pr.HTTPGet.Port.String())
				continue
			}
			if healthVar == "" {
				bad("%s: probes, but %s has no health listener", c.Name, prog)
				continue
			}
			addr, ok := env[healthVar]
			if !ok {
				addr = vars[healthVar].Default
			}
			host, p, err := net.SplitHostPort(addr)
			switch {
			case err != nil:
				bad("%s: %s %q", prog, healthVar, addr)
			case p != strconv.Itoa(int(port)):
				bad("%s: probe on port %d, but %s listens on %s", prog, port, healthVar, p)
			case host != "0.0.0.0" && host != "":
				bad("%s: %s listens on %s, which the kubelet cannot reach", prog, healthVar, host)
			}
		}

		// What it may reach is what it uses.
		uses := egressUses(env)
		for _, t := range egressTargets {
			sel := egress[t.target]
			allowed := len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(w.labels))
			switch {
			case uses[t.target] && !allowed:
				bad("%s: uses %s (%s) but no NetworkPolicy lets it reach %s", prog, t.name, strings.TrimPrefix(t.used, "a "), t.name)
			case !uses[t.target] && allowed:
				bad("%s: may reach %s but has no %s", prog, t.name, strings.TrimPrefix(t.used, "a "))
			}
		}
		// The programs refuse both at start; here it shows before a rollout.
		if env["REDIS_ADDR"] != "" && env["REDIS_CLUSTER_ADDRS"] != "" {
			bad("%s: sets both REDIS_ADDR and REDIS_CLUSTER_ADDRS (one Redis or Redis Cluster)", prog)
		}
		*containers = append(*containers, containerEnv{w: w, prog: prog, env: env, source: source})
	}
	return problems
}

// containerEnv is one container's environment as rendered: each
// variable's value (secrets as "(secret)") and where it comes from.
type containerEnv struct {
	w      workload
	prog   string
	env    map[string]string
	source map[string]string // variable → "Secret NAME/KEY", "ConfigMap NAME", "literal"
}

// checkShards: the chat shards are one list for the whole installation
// (a process that meets a chat on a shard it does not know fails, it never
// guesses: docs/scaling.md), so either no process has MYSQL_SHARDS or every
// one with MYSQL_DSN has it, from the same Secret key; the migrate job then
// has MIGRATE_MYSQL_SHARDS, and MYSQL_SHARD_WEIGHTS goes with the shards.
func checkShards(containers []containerEnv) []string {
	var problems []string
	from := map[string][]string{} // source of MYSQL_SHARDS → who
	sharded := false
	for _, c := range containers {
		if _, ok := c.env["MYSQL_SHARDS"]; ok {
			sharded = true
			from[c.source["MYSQL_SHARDS"]] = append(from[c.source["MYSQL_SHARDS"]], c.w.String())
		}
	}
	if len(from) > 1 {
		problems = append(problems, fmt.Sprintf("MYSQL_SHARDS from more than one place: %v (every process must have the same list)", from))
	}
	for _, c := range containers {
		_, shards := c.env["MYSQL_SHARDS"]
		_, dsn := c.env["MYSQL_DSN"]
		_, migrate := c.env["MIGRATE_MYSQL_DSN"]
		_, migrateShards := c.env["MIGRATE_MYSQL_SHARDS"]
		switch {
		case sharded && dsn && !shards:
			problems = append(problems, fmt.Sprintf("%s: %s has MYSQL_DSN but no MYSQL_SHARDS, while other processes have chat shards", c.w, c.prog))
		case sharded && migrate && !migrateShards:
			problems = append(problems, fmt.Sprintf("%s: %s has no MIGRATE_MYSQL_SHARDS: the shards would get no schema", c.w, c.prog))
		case !sharded && migrateShards:
			problems = append(problems, fmt.Sprintf("%s: MIGRATE_MYSQL_SHARDS, but no process has MYSQL_SHARDS", c.w))
		}
		if _, ok := c.env["MYSQL_SHARD_WEIGHTS"]; ok && !shards {
			problems = append(problems, fmt.Sprintf("%s: %s has MYSQL_SHARD_WEIGHTS without MYSQL_SHARDS", c.w, c.prog))
		}
	}
	return problems
}

func checkNetworkPolicies(objs *k8sObjects, matching func(*metav1.LabelSelector) []workload) []string {
	var problems []string
	bad := func(np *networkingv1.NetworkPolicy, format string, args ...any) {
		problems = append(problems, "NetworkPolicy "+np.Name+": "+fmt.Sprintf(format, args...))
	}
	denyAll := false
	for _, np := range objs.netpols {
		sel := np.Spec.PodSelector
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			if len(np.Spec.Ingress)+len(np.Spec.Egress) == 0 && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				denyAll = true
			}
		} else if len(matching(&sel)) == 0 {
			bad(np, "selects no pod")
		}
		targets := matching(&sel)
		peer := func(p networkingv1.NetworkPolicyPeer, ingress bool) {
			switch {
			case p.NamespaceSelector != nil:
				ns := p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
				if ns == "" {
					bad(np, "admits pods of any namespace")
					return
				}
				if ns == "kube-system" && !ingress {
					return // DNS
				}
				if !ingress {
					bad(np, "lets pods out to namespace %s", ns)
					return
				}
				for _, t := range targets {
					if !admittedNamespaces[ns][t.name] {
						bad(np, "admits namespace %s to %s", ns, t)
					}
				}
			case p.PodSelector != nil:
				if len(matching(p.PodSelector)) == 0 {
					bad(np, "a peer selects no pod")
				}
			case p.IPBlock != nil:
				if ingress {
					bad(np, "admits addresses %s from outside the cluster", p.IPBlock.CIDR)
				} else if p.IPBlock.CIDR == "0.0.0.0/0" {
					bad(np, "lets pods out to anywhere")
				}
			}
		}
		for _, r := range np.Spec.Ingress {
			if len(r.From) == 0 {
				bad(np, "admits everyone")
			}
			for _, p := range r.From {
				peer(p, true)
			}
			if len(r.Ports) == 0 {
				bad(np, "admits every port")
			}
		}
		for _, r := range np.Spec.Egress {
			if len(r.To) == 0 {
				bad(np, "lets pods out to everyone")
			}
			for _, p := range r.To {
				peer(p, false)
			}
			if len(r.Ports) == 0 {
				bad(np, "lets pods out on every port")
			}
		}
	}
	if !denyAll {
		problems = append(problems, "no default-deny NetworkPolicy (ingress and egress)")
	}
	return problems
}

func checkIngresses(objs *k8sObjects) []string {
	var problems []string
	for _, ing := range objs.ingresses {
		bad := func(format string, args ...any) {
			problems = append(problems, "Ingress "+ing.Name+": "+fmt.Sprintf(format, args...))
		}
		for _, tls := range ing.Spec.TLS {
			if objs.secrets[tls.SecretName] == nil && ing.Annotations["cert-manager.io/cluster-issuer"] == "" && ing.Annotations["cert-manager.io/issuer"] == "" {
				bad("TLS Secret %s is neither defined nor issued by cert-manager", tls.SecretName)
			}
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				if b == nil {
					bad("a backend that is not a Service")
					continue
				}
				var port int32
				if s := objs.services[b.Name]; s != nil {
					for _, sp := range s.Spec.Ports {
						if (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Name == "" && sp.Port == b.Port.Number) {
							port = sp.Port
						}
					}
					if port == 0 {
						bad("Service %s has no port %q", b.Name, cmpOr(b.Port.Name, strconv.Itoa(int(b.Port.Number))))
						continue
					}
				} else if ports, ok := chartServices[b.Name]; ok && slices.Contains(ports, b.Port.Number) {
					port = b.Port.Number
				} else {
					bad("no Service %s with port %d", b.Name, b.Port.Number)
					continue
				}
				if !publicBackends[fmt.Sprintf("%s:%d", b.Name, port)] {
					bad("routes to %s:%d, which is not meant to be public", b.Name, port)
				}
			}
		}
	}
	return problems
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkScaledObjects(objs *k8sObjects, partitions int) []string {
	var problems []string
	deployments := map[string]*appsv1.Deployment{}
	for _, d := range objs.deployments {
		deployments[d.Name] = d
	}
	for _, so := range objs.scaledObject {
		bad := func(format string, args ...any) {
			problems = append(problems, "ScaledObject "+so.Name+": "+fmt.Sprintf(format, args...))
		}
		ref := so.Spec.ScaleTargetRef
		d := deployments[ref.Name]
		if d == nil || (ref.Kind != "" && ref.Kind != "Deployment") {
			bad("no Deployment %s to scale", ref.Name)
			continue
		}
		if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 {
			bad("minReplicaCount must be at least 1 (a worker at zero leaves its partitions unconsumed)")
		}
		if so.Spec.MaxReplicaCount == nil || int(*so.Spec.MaxReplicaCount) > partitions {
			bad("maxReplicaCount %d > STREAM_PARTITIONS %d: the extra instances would only stand by", deref(so.Spec.MaxReplicaCount), partitions)
		} else if *so.Spec.MinReplicaCount > *so.Spec.MaxReplicaCount {
			bad("minReplicaCount above maxReplicaCount")
		}
		// The worker's NATS user names its consumers.
		worker := ""
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == "NATS_USER" {
					worker = e.Value
				}
			}
		}
		var want, got []string
		for p := 0; p < partitions; p++ {
			want = append(want, busConsumer(worker, p))
		}
		for i, tr := range so.Spec.Triggers {
			if tr.Type != "nats-jetstream" {
				bad("trigger %d: type %s, want nats-jetstream", i, tr.Type)
				continue
			}
			for k := range tr.Metadata {
				if _, ok := kedaJetStreamMetadata[k]; !ok {
					bad("trigger %d: unknown metadata %s", i, k)
				}
			}
			for k, required := range kedaJetStreamMetadata {
				if required && tr.Metadata[k] == "" {
					bad("trigger %d: %s is required", i, k)
				}
			}
			if tr.Metadata["stream"] != bus.DefaultTopology().Stream {
				bad("trigger %d: stream %s", i, tr.Metadata["stream"])
			}
			if n, err := strconv.Atoi(tr.Metadata["lagThreshold"]); err != nil || n < 1 {
				bad("trigger %d: lagThreshold %q", i, tr.Metadata["lagThreshold"])
			}
			host, port, err := net.SplitHostPort(tr.Metadata["natsServerMonitoringEndpoint"])
			if err != nil || port != "8222" || !strings.HasPrefix(host, "nats-headless.") {
				bad("trigger %d: natsServerMonitoringEndpoint %q, want the NATS chart's headless Service on 8222", i, tr.Metadata["natsServerMonitoringEndpoint"])
			}
			got = append(got, tr.Metadata["consumer"])
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			bad("triggers on consumers %v, want %v (one per partition of %s)", got, want, worker)
		}
	}
	return problems
}

func busConsumer(worker string, p int) string { return bus.ConsumerName(worker, p) }

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// ---- the Helm charts' values ----

// natsValues are the keys of the NATS chart's values.yaml (nats-io/k8s,
// helm/charts/nats, chart 1.x) that nats-values.yaml uses, transcribed from
// the chart: an unknown key fails the strict decoding, as the chart would
// silently ignore it.
type natsValues struct {
	Config struct {
		Cluster struct {
			Enabled  bool `json:"enabled"`
			Replicas int  `json:"replicas"`
		} `json:"cluster"`
		Jetstream struct {
			Enabled   bool `json:"enabled"`
			FileStore struct {
				Enabled bool   `json:"enabled"`
				Dir     string `json:"dir"`
				MaxSize string `json:"maxSize"`
				PVC     struct {
					Enabled          bool    `json:"enabled"`
					Size             string  `json:"size"`
					StorageClassName *string `json:"storageClassName,omitempty"`
				} `json:"pvc"`
			} `json:"fileStore"`
			MemoryStore struct {
				Enabled bool   `json:"enabled"`
				MaxSize string `json:"maxSize,omitempty"`
			} `json:"memoryStore"`
		} `json:"jetstream"`
		Monitor struct {
			Enabled bool `json:"enabled"`
			Port    int  `json:"port"`
		} `json:"monitor"`
		// merge: nats.conf itself, as the chart writes it.
		Merge struct {
			MaxPayload string `json:"max_payload"`
			Jetstream  struct {
				SyncInterval string `json:"sync_interval"`
			} `json:"jetstream"`
			Authorization struct {
				Users []natsUser `json:"users"`
			} `json:"authorization"`
		} `json:"merge"`
	} `json:"config"`
	Container struct {
		Image struct {
			Tag string `json:"tag"`
		} `json:"image"`
		Env   map[string]corev1.EnvVar `json:"env"` // name → {valueFrom}
		Merge struct {
			Resources corev1.ResourceRequirements `json:"resources"`
		} `json:"merge"`
	} `json:"container"`
	PodTemplate struct {
		TopologySpreadConstraints map[string]struct {
			MaxSkew           int    `json:"maxSkew"`
			WhenUnsatisfiable string `json:"whenUnsatisfiable"`
		} `json:"topologySpreadConstraints"`
	} `json:"podTemplate"`
	PodDisruptionBudget struct {
		Enabled bool `json:"enabled"`
	} `json:"podDisruptionBudget"`
	NatsBox struct {
		Enabled bool `json:"enabled"`
	} `json:"natsBox"`
}

// natsUser is one user of nats.conf's authorization block.
type natsUser struct {
	User        string `json:"user"`
	Password    string `json:"password"`
	Permissions struct {
		Publish struct {
			Allow []string `json:"allow"`
			Deny  []string `json:"deny,omitempty"`
		} `json:"publish"`
		Subscribe struct {
			Allow []string `json:"allow"`
		} `json:"subscribe"`
	} `json:"permissions"`
}

// centrifugoValues are the keys of Centrifugo's chart (centrifugal/
// helm-charts, charts/centrifugo) that centrifugo-values.yaml uses; config
// is Centrifugo's own configuration, the parts this repository sets.
type centrifugoValues struct {
	ReplicaCount int `json:"replicaCount"`
	Image        struct {
		Tag string `json:"tag"`
	} `json:"image"`
	PodLabels map[string]string `json:"podLabels"`
	Ingress   struct {
		Enabled bool `json:"enabled"`
	} `json:"ingress"`
	PodDisruptionBudget struct {
		Enabled        bool `json:"enabled"`
		MaxUnavailable int  `json:"maxUnavailable"`
	} `json:"podDisruptionBudget"`
	Resources          corev1.ResourceRequirements `json:"resources"`
	PodSecurityContext corev1.PodSecurityContext   `json:"podSecurityContext"`
	SecurityContext    corev1.SecurityContext      `json:"securityContext"`
	EnvSecret          []struct {
		Name         string `json:"name"`
		SecretKeyRef struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"secretKeyRef"`
	} `json:"envSecret"`
	Config struct {
		Engine struct {
			Type  string `json:"type"`
			Redis struct {
				Prefix string `json:"prefix"`
			} `json:"redis"`
		} `json:"engine"`
		Health struct {
			Enabled bool `json:"enabled"`
		} `json:"health"`
		Admin struct {
			Enabled bool `json:"enabled"`
		} `json:"admin"`
		Client  json.RawMessage `json:"client"`
		Channel struct {
			Namespaces json.RawMessage `json:"namespaces"`
		} `json:"channel"`
	} `json:"config"`
}

func decodeHelmValues(tree map[string]string) (*natsValues, *centrifugoValues, []string) {
	var problems []string
	nats, cent := &natsValues{}, &centrifugoValues{}
	for file, into := range map[string]any{"helm/nats-values.yaml": nats, "helm/centrifugo-values.yaml": cent} {
		raw, err := yaml.YAMLToJSON([]byte(tree[file]))
		if err == nil {
			err = strictJSON(raw, into)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path.Base(file), err))
		}
	}
	return nats, cent, problems
}

func checkHelmValues(tree map[string]string, objs *k8sObjects, nats *natsValues, cent *centrifugoValues, natsUsers []natsUser) []string {
	var problems []string
	bad := func(file, format string, args ...any) {
		problems = append(problems, file+": "+fmt.Sprintf(format, args...))
	}
	const nv, cv = "nats-values.yaml", "centrifugo-values.yaml"

	replicas, _ := strconv.Atoi(objs.bus.Data["STREAM_REPLICAS"])
	if !nats.Config.Cluster.Enabled || nats.Config.Cluster.Replicas < 3 || nats.Config.Cluster.Replicas < replicas {
		bad(nv, "a cluster of %d nodes, want 3 or more and at least STREAM_REPLICAS (%d)", nats.Config.Cluster.Replicas, replicas)
	}
	if replicas < 3 {
		bad(nv, "STREAM_REPLICAS %d: the log must survive the loss of a node", replicas)
	}
	js := nats.Config.Jetstream
	if !js.Enabled || !js.FileStore.Enabled || !js.FileStore.PVC.Enabled || js.MemoryStore.Enabled {
		bad(nv, "JetStream must store files on a volume")
	}
	if nats.Config.Merge.Jetstream.SyncInterval != "always" {
		bad(nv, "sync_interval %q: 202 means on disk, want always", nats.Config.Merge.Jetstream.SyncInterval)
	}
	if !nats.Config.Monitor.Enabled || nats.Config.Monitor.Port != 8222 {
		bad(nv, "monitoring must be on 8222 (KEDA's scaler reads it)")
	}
	got, _ := json.Marshal(nats.Config.Merge.Authorization.Users)
	want, _ := json.Marshal(natsUsers)
	if !bytes.Equal(got, want) {
		bad(nv, "the users differ from ingest/access: run `go test ./e2e -run TestKubernetesManifests -update-k8s`")
	}
	natsSecret := objs.secrets["logchat-nats"]
	for _, u := range nats.Config.Merge.Authorization.Users {
		v := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(u.Password, "<<"), ">>"))
		name := strings.TrimPrefix(v, "$")
		if !strings.HasPrefix(u.Password, "<<") || !strings.HasPrefix(v, "$") {
			bad(nv, "user %s: the password must be a variable of the server's environment", u.User)
			continue
		}
		e, ok := nats.Container.Env[name]
		if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			bad(nv, "user %s: %s is not set from a Secret in container.env", u.User, name)
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != "logchat-nats" || natsSecret == nil {
			bad(nv, "%s from Secret %s, which the overlay does not define", name, ref.Name)
		} else if _, ok := natsSecret.Data[ref.Key]; !ok {
			bad(nv, "%s from Secret logchat-nats key %s, which it does not have", name, ref.Key)
		}
	}

	if cent.ReplicaCount < 2 {
		bad(cv, "replicaCount %d, want 2 or more", cent.ReplicaCount)
	}
	if cent.Config.Engine.Type != "redis" {
		bad(cv, "engine %s: nodes share publications, presence and history through Redis", cent.Config.Engine.Type)
	}
	if !cent.Config.Health.Enabled {
		bad(cv, "health must be enabled (the chart's probes)")
	}
	centSecret := objs.secrets["logchat-centrifugo"]
	for _, e := range cent.EnvSecret {
		if e.SecretKeyRef.Name != "logchat-centrifugo" || centSecret == nil {
			bad(cv, "%s from Secret %s, which the overlay does not define", e.Name, e.SecretKeyRef.Name)
		} else if _, ok := centSecret.Data[e.SecretKeyRef.Key]; !ok {
			bad(cv, "%s from Secret logchat-centrifugo key %s, which it does not have", e.Name, e.SecretKeyRef.Key)
		}
	}
	sc := cent.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || cent.PodSecurityContext.RunAsNonRoot == nil || !*cent.PodSecurityContext.RunAsNonRoot {
		bad(cv, "Centrifugo must run as non-root on a read-only root filesystem")
	}
	var tpl struct {
		Channel struct {
			Namespaces json.RawMessage `json:"namespaces"`
		} `json:"channel"`
	}
	if err := json.Unmarshal([]byte(tree["../centrifugo/config.template.json"]), &tpl); err != nil {
		bad(cv, "deploy/centrifugo/config.template.json: %v", err)
	} else if !jsonEqual(tpl.Channel.Namespaces, cent.Config.Channel.Namespaces) {
		bad(cv, "channel namespaces differ from deploy/centrifugo/config.template.json")
	}
	return problems
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// natsValuesPartitions is the partition count the NATS users are generated
// for: the prod overlay's (each overlay may use that many or fewer).
func natsValuesPartitions(tree map[string]string) int {
	objs, err := renderK8s(tree, "prod")
	if err != nil || objs.bus == nil {
		return 0
	}
	n, _ := strconv.Atoi(objs.bus.Data["STREAM_PARTITIONS"])
	return n
}

// generatedNATSUsers are the users ingest/access defines for the prod
// overlay's partitions, as the chart's config.merge takes them.
func generatedNATSUsers(t *testing.T, tree map[string]string) []natsUser {
	t.Helper()
	topo := bus.DefaultTopology()
	topo.Partitions = natsValuesPartitions(tree)
	if topo.Partitions < 1 {
		t.Fatal("the prod overlay does not render, or has no STREAM_PARTITIONS")
	}
	var users []natsUser
	for _, name := range access.Users() {
		p, err := access.For(topo, name)
		if err != nil {
			t.Fatal(err)
		}
		u := natsUser{User: name, Password: "<< $" + access.PasswordEnv(name) + " >>"}
		u.Permissions.Publish.Allow = p.Publish
		u.Permissions.Publish.Deny = p.DenyPublish
		u.Permissions.Subscribe.Allow = p.Subscribe
		users = append(users, u)
	}
	return users
}

// replaceUsersBlock writes the users, and container.env for their
// passwords, into nats-values.yaml between its markers.
func replaceUsersBlock(file string, users []natsUser) (string, error) {
	const begin, end = "    # BEGIN users\n", "    # END users\n"
	i, j := strings.Index(file, begin), strings.Index(file, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("nats-values.yaml: no %q … %q markers", strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	var b strings.Builder
	b.WriteString("    authorization:\n      users:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "        - user: %s\n          password: %s\n          permissions:\n", u.User, u.Password)
		fmt.Fprintf(&b, "            publish:\n              allow:\n")
		for _, s := range u.Permissions.Publish.Allow {
			fmt.Fprintf(&b, "                - %q\n", s)
		}
		if len(u.Permissions.Publish.Deny) > 0 {
			fmt.Fprintf(&b, "              deny:\n")
			for _, s := range u.Permissions.Publish.Deny {
				fmt.Fprintf(&b, "                - %q\n", s)
			}
		}
		fmt.Fprintf(&b, "            subscribe:\n              allow:\n")
		for _, s := range u.Permissions.Subscribe.Allow {
			fmt.Fprintf(&b, "                - %q\n", s)
		}
	}
	out := file[:i+len(begin)] + b.String() + file[j:]
	// container.env: each password from the Secret.
	var env strings.Builder
	env.WriteString("  env:\n")
	for _, u := range users {
		v := access.PasswordEnv(u.User)
		fmt.Fprintf(&env, "    %s:\n      valueFrom:\n        secretKeyRef: {name: logchat-nats, key: %s}\n", v, v)
	}
	k := strings.Index(out, "  env:")
	if k < 0 {
		return "", fmt.Errorf("nats-values.yaml: no container env")
	}
	rest := out[k:]
	nl := strings.Index(rest, "\n  merge:")
	if nl < 0 {
		return "", fmt.Errorf("nats-values.yaml: container.env must be followed by container.merge")
	}
	return out[:k] + env.String() + rest[nl+1:], nil
}
