package redisconn_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/config"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/testkit"
)

var redisVars = []string{"REDIS_ADDR", "REDIS_CLUSTER_ADDRS", "REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_TLS", "REDIS_TLS_CA", "REDIS_TLS_CERT", "REDIS_TLS_KEY"}

// fromEnv reads a Config from exactly vars (every other REDIS_* unset) and
// returns it with the config log's text and the problems found.
func fromEnv(t *testing.T, vars map[string]string) (redisconn.Config, string, error) {
	t.Helper()
	for _, k := range redisVars {
		t.Setenv(k, vars[k])
	}
	env := config.New()
	c := redisconn.FromEnv(env)
	var log bytes.Buffer
	env.Log(slog.New(slog.NewJSONHandler(&log, nil)))
	return c, log.String(), env.Err()
}

func TestFromEnvDefaultsChecksAndMasks(t *testing.T) {
	c, _, err := fromEnv(t, nil)
	if err != nil || c.Addr != redisconn.DefaultAddr || c.Username != "" || c.Password != "" || c.TLS {
		t.Fatalf("defaults: %+v, %v; want the developer machine's Redis, no login, no TLS", c, err)
	}

	password := "redis-" + testkit.RandomID() + testkit.RandomID()
	c, log, err := fromEnv(t, map[string]string{"REDIS_USERNAME": "app", "REDIS_PASSWORD": password, "REDIS_TLS_CA": "/ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS || c.Username != "app" || c.Password != password {
		t.Fatalf("%+v: a CA turns TLS on, the login is read", c)
	}
	if strings.Contains(log, password) || !strings.Contains(log, `"REDIS_PASSWORD":"***"`) {
		t.Fatalf("the config log must mask the password: %s", log)
	}

	for _, tc := range []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{"short password", map[string]string{"REDIS_PASSWORD": "short"}, "REDIS_PASSWORD must be at least"},
		{"committed password", map[string]string{"REDIS_PASSWORD": "dev-jwt-secret-change-me"}, "REDIS_PASSWORD holds a development value"},
		{"user without password", map[string]string{"REDIS_USERNAME": "app"}, "REDIS_USERNAME needs REDIS_PASSWORD"},
		{"certificate without key", map[string]string{"REDIS_TLS_CERT": "/c.pem"}, "go together"},
		{"several addresses", map[string]string{"REDIS_ADDR": "a:1,b:2"}, "set REDIS_CLUSTER_ADDRS"},
		{"not a boolean", map[string]string{"REDIS_TLS": "maybe"}, "REDIS_TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, log, err := fromEnv(t, tc.vars)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if p := tc.vars["REDIS_PASSWORD"]; p != "" && (strings.Contains(err.Error(), p) || strings.Contains(log, p)) {
				t.Fatalf("the password reached the error or the log: %v / %s", err, log)
			}
		})
	}
}

// A Redis with an ACL user and TLS that requires client certificates: the
// client built from the environment gets in with the user's password, the
// CA and a client certificate, and is refused with any of them missing or
// wrong.
func TestClientLogsInOverTLSAndIsRefusedWithoutCredentials(t *testing.T) {
	pki := testkit.NewPKI(t)
	password := "redis-" + testkit.RandomID() + testkit.RandomID()
	// The default user is off: nothing gets in without the ACL user's
	// password (as in docker-compose.yml).
	r := testkit.StartOwnRedisWith(t, testkit.OwnRedisConfig{
		Conf: "user default off\n" +
			"user app on >" + password + " ~app:* &app:* +@all -@dangerous\n" +
			"tls-auth-clients yes\n",
		TLS:    pki,
		Client: &redis.Options{Username: "app", Password: password, TLSConfig: pki.ClientTLS()},
	})
	good := map[string]string{
		"REDIS_ADDR": r.Addr, "REDIS_USERNAME": "app", "REDIS_PASSWORD": password,
		"REDIS_TLS_CA": pki.CAFile, "REDIS_TLS_CERT": pki.ClientCertFile, "REDIS_TLS_KEY": pki.ClientKeyFile,
	}
	with := func(changes map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	connect := func(t *testing.T, vars map[string]string) (redis.UniversalClient, error) {
		t.Helper()
		c, _, err := fromEnv(t, vars)
		if err != nil {
			t.Fatal(err)
		}
		rdb, err := c.Client()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rdb.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return rdb, rdb.Ping(ctx).Err()
	}

	rdb, err := connect(t, good)
	if err != nil {
		t.Fatalf("with the user, its password, the CA and a client certificate: %v", err)
	}
	ctx := context.Background()
	if err := rdb.Set(ctx, "app:k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("write under the user's prefix: %v", err)
	}
	// The ACL is the server's; checked here only so that the test would
	// notice a server that ignored the configuration.
	if err := rdb.Set(ctx, "other:k", "v", time.Minute).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("write outside the prefix: %v, want NOPERM", err)
	}

	for _, tc := range []struct {
		name    string
		changes map[string]string
		wantErr string
	}{
		{"no login", map[string]string{"REDIS_USERNAME": "", "REDIS_PASSWORD": ""}, "NOAUTH"},
		{"wrong password", map[string]string{"REDIS_PASSWORD": "wrong-" + testkit.RandomID() + testkit.RandomID()}, "WRONGPASS"},
		{"default user", map[string]string{"REDIS_USERNAME": ""}, "WRONGPASS"},
		{"system roots instead of the CA", map[string]string{"REDIS_TLS_CA": "", "REDIS_TLS": "true"}, "certificate"},
		// The server hangs up on a plaintext client (EOF or a reset).
		{"plaintext", map[string]string{"REDIS_TLS_CA": "", "REDIS_TLS_CERT": "", "REDIS_TLS_KEY": ""}, ""},
		{"no client certificate", map[string]string{"REDIS_TLS_CERT": "", "REDIS_TLS_KEY": ""}, "certificate required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect(t, with(tc.changes))
			if err == nil {
				t.Fatal("connected")
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// A Redis Cluster for the cluster tests, stopped after them.
func TestMain(m *testing.M) { os.Exit(testkit.MainWithRedisCluster(m)) }

func TestFromEnvClusterMode(t *testing.T) {
	c, log, err := fromEnv(t, map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:6379, 10.0.0.2:6379,10.0.0.3:6379"})
	if err != nil || !c.Cluster() || c.Addr != "" || strings.Join(c.ClusterAddrs, ",") != "10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379" {
		t.Fatalf("cluster seeds: %+v, %v", c, err)
	}
	if !strings.Contains(log, `"REDIS_CLUSTER_ADDRS"`) {
		t.Fatalf("the config log must show the seeds: %s", log)
	}
	rdb, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("client %T, want a *redis.ClusterClient", rdb)
	}
	for _, tc := range []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{"both", map[string]string{"REDIS_ADDR": "127.0.0.1:6379", "REDIS_CLUSTER_ADDRS": "10.0.0.1:6379"}, "exclusive"},
		{"not host:port", map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:6379,10.0.0.2"}, `"10.0.0.2" is not host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := fromEnv(t, tc.vars); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// On Redis Cluster an installation's ACL user must exist on every node
// (nodes do not share users): scripts/redis-cluster.sh acl sets it with the
// rules of one Redis (~prefix*). A client from the environment, given one
// seed, logs in on every master, runs the chat cache's scripts on all of
// them under its prefix, and is refused outside it.
func TestClusterACLUserKeepsToItsPrefix(t *testing.T) {
	addrs := testkit.RedisClusterAddrs(t)
	user, prefix := "lc-"+testkit.RandomID(), "p"+testkit.RandomID()+":"
	password := "redis-" + testkit.RandomID() + testkit.RandomID()
	cmd := exec.Command(filepath.Join(testkit.RepoRoot(t), "scripts", "redis-cluster.sh"), "acl", testkit.RedisClusterDir(t), user, prefix)
	cmd.Env = append(os.Environ(), "REDIS_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cluster.sh acl: %v\n%s", err, out)
	}
	c, _, err := fromEnv(t, map[string]string{"REDIS_CLUSTER_ADDRS": addrs[1], "REDIS_USERNAME": user, "REDIS_PASSWORD": password})
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = testkit.DeleteRedisPrefix(context.Background(), redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs}), prefix)
		rdb.Close()
	})
	ctx := context.Background()
	cache := chatcache.New(rdb, prefix, nil)
	var events []event.Event
	for chat := int64(1); chat <= 30; chat++ {
		ch := domain.Chat{ID: chat, Kind: domain.KindGroup, Title: "g", CreatedAt: time.Now(), Members: []domain.Member{
			{User: domain.User{ID: chat, Name: "a"}, Role: domain.RoleAdmin}, {User: domain.User{ID: 100, Name: "b"}, Role: domain.RoleMember}}}
		env, err := event.New(event.ChatCreated, chat, chat, time.Now(), event.ChatCreatedData{Chat: ch})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, event.Event{Seq: uint64(chat), Envelope: env})
	}
	if err := cache.ApplyEvents(ctx, events); err != nil {
		t.Fatalf("the cache's scripts as the prefix's user: %v", err)
	}
	masters := map[string]bool{}
	for chat := int64(1); chat <= 30; chat++ {
		member, known, err := cache.MemberOf(ctx, chat, 100)
		if err != nil || !known || !member {
			t.Fatalf("chat %d: member=%v known=%v err=%v", chat, member, known, err)
		}
		node, err := rdb.(*redis.ClusterClient).MasterForKey(ctx, fmt.Sprintf("%s{c:%d}", prefix, chat))
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Fatalf("the chats' keys on %d masters, want all 3 (the test must reach every node)", len(masters))
	}
	if err := rdb.Set(ctx, "other:{k}", "v", time.Minute).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("write outside the prefix: %v, want NOPERM", err)
	}
}
