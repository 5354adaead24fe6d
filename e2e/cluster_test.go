package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/testkit"
)

// clusterRun is a cluster started by scripts/cluster.sh (what `make
// cluster` runs) on a block of free ports, in a directory of its own, with
// a Redis prefix of its own; stopped and purged when the test ends.
type clusterRun struct {
	t    *testing.T
	root string
	dir  string
	env  []string
	// URL is the balancer: the one address of the clients.
	URL string
	// Info is what `cluster.sh env` prints: each process's health URL, the
	// server API's address.
	Info map[string]string
	// Secrets is the cluster's secrets.env.
	Secrets map[string]string
}

func startCluster(t *testing.T, name string) *clusterRun {
	t.Helper()
	root := testkit.RepoRoot(t)
	base := 0
	if s := os.Getenv("CLUSTER_TEST_PORT_BASE"); s != "" {
		base, _ = strconv.Atoi(s)
	} else {
		base = freePortBlock(t, 133)
	}
	c := &clusterRun{t: t, root: root, dir: filepath.Join(root, ".run", name)}
	c.env = append(os.Environ(),
		"CLUSTER_DIR="+c.dir,
		"CLUSTER_PORT_BASE="+strconv.Itoa(base),
		fmt.Sprintf("CLUSTER_REDIS_PREFIX=%s%d:", strings.ReplaceAll(name, "-", ""), time.Now().Unix()),
		"LOGCHAT_SKIP_WEB_BUILD=1",
		// Fast fail-over: a killed worker's partitions are taken over,
		// and its unacknowledged events redelivered, within 3 s.
		"CONSUMER_ACK_WAIT=3s", "CONSUMER_PINNED_TTL=3s", "WORKER_BACKOFF_MAX=1s",
		// One test user sends many messages a minute through one address;
		// the limiter is tested in the gateway's own tests.
		"RATE_LIMIT_PER_MINUTE=0", "RATE_LIMIT_AUTH_PER_MINUTE=0", "RATE_LIMIT_ANON_PER_MINUTE=0",
	)
	_, _ = c.script("down", "--purge")
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"lb", "gateway-1", "centrifugo-1", "notifier-1"} {
				if b, err := os.ReadFile(filepath.Join(c.dir, "logs", n+".log")); err == nil {
					if len(b) > 3000 {
						b = b[len(b)-3000:]
					}
					t.Logf("--- last lines of %s ---\n%s", n, b)
				}
			}
		}
		if out, err := c.script("down", "--purge"); err != nil {
			t.Logf("cluster.sh down --purge: %v\n%s", err, out)
		}
	})
	started := time.Now()
	out, err := c.script("up")
	if err != nil {
		t.Fatalf("scripts/cluster.sh up: %v\n%s", err, out)
	}
	t.Logf("scripts/cluster.sh up took %v", time.Since(started).Round(time.Second))
	c.URL = fmt.Sprintf("http://127.0.0.1:%d", base)
	if !strings.Contains(out, c.URL) {
		t.Fatalf("up does not print the balancer's URL %s:\n%s", c.URL, out)
	}
	c.Info = c.keyValues(c.mustScript("env"))
	c.Secrets = c.keyValues(readFile(t, filepath.Join(c.dir, "secrets.env")))
	return c
}

func (c *clusterRun) script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(c.root, "scripts/cluster.sh")}, args...)...)
	cmd.Env, cmd.Dir = c.env, c.root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *clusterRun) mustScript(args ...string) string {
	c.t.Helper()
	out, err := c.script(args...)
	if err != nil {
		c.t.Fatalf("scripts/cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *clusterRun) keyValues(text string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			kv[k] = v
		}
	}
	return kv
}

// healthURL is a process's health endpoint (its /readyz, /health or /healthz).
func (c *clusterRun) healthURL(node string) string {
	return c.Info["HEALTH_"+strings.ReplaceAll(node, "-", "_")]
}

// centrifugoNodes asks the server API (through its balancer) which nodes
// the Redis engine joins, and how many clients each holds.
func (c *clusterRun) centrifugoNodes() (map[string]int, error) {
	req, _ := http.NewRequest("POST", c.Info["CENTRIFUGO_API_URL"]+"/info", strings.NewReader("{}"))
	req.Header.Set("X-API-Key", c.Secrets["CENTRIFUGO_API_KEY"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Nodes []struct {
				Name       string `json:"name"`
				NumClients int    `json:"num_clients"`
			} `json:"nodes"`
		} `json:"result"`
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("info: %v: %s", err, body)
	}
	nodes := map[string]int{}
	for _, n := range out.Result.Nodes {
		nodes[n.Name] = n.NumClients
	}
	return nodes, nil
}

// requestsServed sums a gateway's logchat_http_requests_total (its internal
// listener's /metrics).
func (c *clusterRun) requestsServed(gateway string) (float64, error) {
	u := strings.TrimSuffix(c.healthURL(gateway), "/readyz") + "/metrics"
	resp, err := http.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range bytes.Split(body, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) == 2 && strings.HasPrefix(f[0], "logchat_http_requests_total{") {
			v, _ := strconv.ParseFloat(f[1], 64)
			sum += v
		}
	}
	return sum, nil
}

// sendRetrying sends until accepted, as a client does while the balancer
// notices a dead backend; the client id makes the retries safe.
func sendRetrying(t *testing.T, from *harness.Client, chat int64, text, clientID string) domain.Message {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, err := from.Send(chat, text, clientID)
		if err == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("send %s not accepted within 60s: %v", clientID, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The acceptance behaviour through the balancer of a cluster run by
// scripts/cluster.sh: register, chats, sends, history, live delivery over
// WebSocket through HAProxy to either Centrifugo node, read positions; both
// gateways and both Centrifugo nodes serve; then a Centrifugo node and a
// gateway are killed and the clients carry on through the balancer: the
// subscribers reconnect to the other node and recover what they missed.
func TestClusterThroughTheBalancer(t *testing.T) {
	if _, err := exec.LookPath("mariadb-install-db"); err != nil {
		t.Fatal("mariadb-install-db is not installed; `make services` installs Debian's mariadb-server")
	}
	// The cluster's three mariadbd start without touching the machine's
	// server's temporary tables (#sql* files of the shared tmpdir, which a
	// starting mariadbd deletes from its own).
	canary := filepath.Join(os.TempDir(), fmt.Sprintf("#sql-logchat-canary-%d.MAI", os.Getpid()))
	if err := os.WriteFile(canary, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(canary)
	c := startCluster(t, "cluster-e2e")
	if _, err := os.Stat(canary); err != nil {
		t.Errorf("cluster.sh up deleted %s from the shared tmpdir: %v", canary, err)
	}

	// Every process of the topology runs and is healthy (a NATS node may
	// report unhealthy for a moment while it catches up the new stream).
	nodes := strings.Fields(c.mustScript("nodes"))
	harness.Eventually(t, 60*time.Second, "every node healthy", func() (bool, string) {
		status := c.mustScript("status")
		for _, n := range nodes {
			if !statusShows(status, n, "healthy") {
				return false, fmt.Sprintf("status does not show %s healthy:\n%s", n, status)
			}
		}
		return true, ""
	})
	// The stream and every consumer on all three NATS nodes.
	if leader := strings.TrimSpace(c.mustScript("leader")); !slices.Contains([]string{"nats-1", "nats-2", "nats-3"}, leader) {
		t.Fatalf("the stream's leader is %q", leader)
	}

	alice := harness.Register(t, c.URL, "alice")
	bob := harness.Register(t, c.URL, "bob")
	group := alice.GroupChat("cluster", bob.User.ID)
	direct := alice.DirectChat(bob.User.ID)

	// Two devices of bob: the balancer (leastconn) puts them on the two
	// nodes; the realtime URL the API hands out is the balancer's.
	var tok struct{ URL string }
	bob.Must(200, "GET", "/realtime/token", nil, &tok)
	if want := strings.Replace(c.URL, "http://", "ws://", 1) + "/connection/websocket"; tok.URL != want {
		t.Fatalf("realtime URL %q, want the balancer's %q", tok.URL, want)
	}
	phone, laptop := bob.Connect(), bob.Connect()
	for _, d := range []*harness.Subscriber{phone, laptop} {
		d.Subscribe(group.Channel)
		d.Subscribe(direct.Channel)
	}
	harness.Eventually(t, 30*time.Second, "a client on each Centrifugo node", func() (bool, string) {
		nodes, err := c.centrifugoNodes()
		if err != nil {
			return false, err.Error()
		}
		withClients := 0
		for _, n := range nodes {
			if n > 0 {
				withClients++
			}
		}
		return len(nodes) == 2 && withClients == 2, fmt.Sprint(nodes)
	})

	var sent []int64
	send := func(chat harness.Chat, i int) {
		m := sendRetrying(t, alice, chat.ID, fmt.Sprintf("message %d", i), fmt.Sprintf("cl-%d-%d", chat.ID, i))
		sent = append(sent, m.ID)
	}
	for i := range 10 {
		send(group, i)
		send(direct, i)
	}
	delivered := func(chats ...harness.Chat) func() (bool, string) {
		return func() (bool, string) {
			for _, d := range []*harness.Subscriber{phone, laptop} {
				var got []int64
				for _, ch := range chats {
					got = append(got, d.MessageIDs(ch.Channel)...)
				}
				for _, id := range sent {
					if !slices.Contains(got, id) {
						return false, fmt.Sprintf("message %d not delivered (%d of %d)", id, len(got), len(sent))
					}
				}
			}
			return true, ""
		}
	}
	harness.Eventually(t, 30*time.Second, "every message on both devices", delivered(group, direct))

	// Both gateways served requests (round robin).
	for _, g := range []string{"gateway-1", "gateway-2"} {
		n, err := c.requestsServed(g)
		if err != nil || n == 0 {
			t.Errorf("%s served %v requests (%v): the balancer does not use it", g, n, err)
		}
	}

	// Where the rows and the cache are: every message on the chat shards'
	// servers (main weighs 0), none in the main database; the chat cache's
	// keys spread over the Redis Cluster's masters.
	harness.Eventually(t, 30*time.Second, "every message on a shard server", func() (bool, string) {
		onShards, onMain, err := c.messageRows(group.ID, direct.ID)
		return err == nil && onShards == len(sent) && onMain == 0,
			fmt.Sprintf("%d on the shards, %d on main, of %d (%v)", onShards, onMain, len(sent), err)
	})
	if masters, err := c.cacheKeysPerMaster(); err != nil || len(masters) < 2 {
		t.Errorf("the chat cache's keys are on %d Redis Cluster masters (%v), want them spread over several: %v", len(masters), err, masters)
	}

	// History, the chat list and read positions, through the balancer.
	checkHistory := func() {
		t.Helper()
		harness.Eventually(t, 30*time.Second, "history holds every message in order", func() (bool, string) {
			var all []int64
			for _, ch := range []harness.Chat{group, direct} {
				ids, err := bob.AllHistory(ch.ID, 7)
				if err != nil {
					return false, err.Error()
				}
				if !slices.IsSorted(ids) {
					return false, fmt.Sprintf("chat %d: not ascending: %v", ch.ID, ids)
				}
				all = append(all, ids...)
			}
			slices.Sort(all)
			want := slices.Sorted(slices.Values(sent))
			return slices.Equal(all, want), fmt.Sprintf("%d of %d", len(all), len(want))
		})
	}
	checkHistory()
	last := sent[len(sent)-2] // the group's newest
	bob.Must(204, "POST", fmt.Sprintf("/chats/%d/read", group.ID), map[string]int64{"message_id": last}, nil)
	harness.Eventually(t, 30*time.Second, "bob's read position and unread counts", func() (bool, string) {
		list, err := bob.ChatsByID(50)
		if err != nil {
			return false, err.Error()
		}
		g, d := list[group.ID], list[direct.ID]
		return g.ReadMessageID == last && g.UnreadCount == 0 && d.UnreadCount == 10,
			fmt.Sprintf("group read %d unread %d, direct unread %d", g.ReadMessageID, g.UnreadCount, d.UnreadCount)
	})

	// A Centrifugo node dies: its client reconnects through the balancer
	// to the other node and recovers from the history both share in Redis.
	c.mustScript("kill", "centrifugo-1")
	if st := c.mustScript("status"); !statusShows(st, "centrifugo-1", "stopped") {
		t.Errorf("status after kill centrifugo-1:\n%s", st)
	}
	for i := 10; i < 20; i++ {
		send(group, i)
		send(direct, i)
	}
	harness.Eventually(t, 60*time.Second, "every message on both devices after centrifugo-1 died", delivered(group, direct))
	for _, d := range []*harness.Subscriber{phone, laptop} {
		for _, ch := range []string{group.Channel, direct.Channel} {
			if _, failed := d.Counts(ch); failed != 0 {
				t.Errorf("%s: %d recoveries failed after the node died (the history must be shared)", ch, failed)
			}
			ids := d.MessageIDs(ch)
			if !slices.IsSorted(ids) {
				t.Errorf("%s: delivered out of order: %v", ch, ids)
			}
		}
	}

	// A gateway dies: the balancer takes it out; requests carry on.
	c.mustScript("kill", "gateway-1")
	for i := 20; i < 30; i++ {
		send(group, i)
		send(direct, i)
	}
	checkHistory()
	harness.Eventually(t, 60*time.Second, "every message on both devices after gateway-1 died", delivered(group, direct))

	// Both come back, healthy, and serve again.
	c.mustScript("start", "centrifugo-1")
	c.mustScript("start", "gateway-1")
	status := c.mustScript("status")
	for _, n := range []string{"centrifugo-1", "gateway-1"} {
		if !statusShows(status, n, "healthy") {
			t.Errorf("%s is not healthy after start:\n%s", n, status)
		}
	}
	harness.Eventually(t, 30*time.Second, "both Centrifugo nodes in the engine again", func() (bool, string) {
		nodes, err := c.centrifugoNodes()
		return err == nil && len(nodes) == 2, fmt.Sprint(nodes, err)
	})
}

// rootQuery reads one int or string from the logchat database of the
// cluster's MySQL server on port, as its root.
func (c *clusterRun) rootQuery(port string, dest any, query string, args ...any) error {
	db, err := sql.Open("mysql", fmt.Sprintf("root:%s@tcp(127.0.0.1:%s)/logchat", c.Secrets["MYSQL_ROOT_PASSWORD"], port))
	if err != nil {
		return err
	}
	defer db.Close()
	return db.QueryRow(query, args...).Scan(dest)
}

// messageRows counts the chats' messages on the two shard servers and on
// the main one, as each server's root.
func (c *clusterRun) messageRows(chats ...int64) (onShards, onMain int, err error) {
	count := func(port string) (n int, err error) {
		err = c.rootQuery(port, &n, "SELECT COUNT(*) FROM messages WHERE chat_id IN (?, ?)", chats[0], chats[1])
		return n, err
	}
	for _, port := range strings.Split(c.Info["MYSQL_SHARD_PORTS"], ",") {
		n, err := count(port)
		if err != nil {
			return 0, 0, err
		}
		onShards += n
	}
	onMain, err = count(c.Info["MYSQL_MAIN_PORT"])
	return onShards, onMain, err
}

// deadLetters lists the cluster's dead letters (worker: reason), as the
// NATS admin: an outage must not dead-letter anything.
func (c *clusterRun) deadLetters() ([]string, error) {
	nc, err := nats.Connect(c.Info["NATS_URL"], nats.UserInfo("admin", c.Secrets["NATS_ADMIN_PASSWORD"]))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	s, err := js.Stream(ctx, bus.DefaultTopology().DLQStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var letters []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		letters = append(letters, m.Header.Get(bus.HeaderDLQWorker)+": "+m.Header.Get(bus.HeaderDLQReason))
	}
	return letters, nil
}

// chatShard is the shard the directory (chat_shards, on main) names for a chat.
func (c *clusterRun) chatShard(chat int64) (shard string, err error) {
	err = c.rootQuery(c.Info["MYSQL_MAIN_PORT"], &shard, "SELECT shard FROM chat_shards WHERE chat_id = ?", chat)
	return shard, err
}

// shardMessages counts a chat's messages on shard s1 or s2's server.
func (c *clusterRun) shardMessages(shard string, chat int64) (n int, err error) {
	ports := strings.Split(c.Info["MYSQL_SHARD_PORTS"], ",")
	i := map[string]int{"s1": 0, "s2": 1}[shard]
	err = c.rootQuery(ports[i], &n, "SELECT COUNT(*) FROM messages WHERE chat_id = ?", chat)
	return n, err
}

// cacheKeysPerMaster counts the cluster's chat-cache keys (its prefix) on
// each master of its Redis Cluster.
func (c *clusterRun) cacheKeysPerMaster() (map[string]int, error) {
	addrs := c.Info["REDIS_CLUSTER_ADDRS"]
	if addrs == "" {
		return nil, fmt.Errorf("the cluster runs no Redis Cluster")
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	defer rdb.Close()
	ctx := context.Background()
	var mu sync.Mutex
	keys := map[string]int{}
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n := 0
		iter := m.Scan(ctx, 0, c.Info["REDIS_PREFIX"]+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		if n > 0 {
			mu.Lock()
			keys[m.Options().Addr] = n
			mu.Unlock()
		}
		return iter.Err()
	})
	return keys, err
}

// statusShows reports whether a line of text starts with name and ends
// with word (cluster.sh status: NODE PID PORT HEALTH).
func statusShows(text, name, word string) bool {
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == name && f[3] == word {
			return true
		}
	}
	return false
}

// freePortBlock finds size consecutive free ports on 127.0.0.1 (and the
// bus ports of a cluster block's Redis masters).
func freePortBlock(t *testing.T, size int) int {
	t.Helper()
	for range 50 {
		// Below the kernel's ephemeral ports (32768 and up here), which
		// outgoing connections take at any moment: a port found free there
		// may be taken before the cluster binds it. The Redis Cluster's
		// masters (the block's last ports) also bind their bus at port +
		// 10000 (scripts/redis-cluster.sh), checked too.
		base := 12000 + 200*rand.IntN(50)
		free := true
		for p := base; p < base+size && free; p++ {
			ports := []int{p}
			if p >= base+size-3 {
				ports = append(ports, p+10000)
			}
			for _, q := range ports {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
				if err != nil {
					free = false
					break
				}
				ln.Close()
			}
		}
		if free {
			return base
		}
	}
	t.Fatalf("no block of %d free ports", size)
	return 0
}
