package access_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/testkit"
)

// deploy/nats/auth.conf is what `ingest nats-config` writes for the default
// topology, so the committed permissions are the tested ones.
func TestCommittedAuthConfIsGenerated(t *testing.T) {
	want, err := access.ServerConfig{Topology: bus.DefaultTopology()}.Render()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testkit.RepoRoot(t), "deploy", "nats", "auth.conf")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is not the generated one: go run ./ingest/cmd/ingest nats-config > deploy/nats/auth.conf", path)
	}
}

// deployConfig copies the committed nats.conf and auth.conf to a folder of
// the test's own and parses them as nats-server does.
func deployConfig(t *testing.T) (*server.Options, error) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"nats.conf", "auth.conf"} {
		b, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "deploy", "nats", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
}

func TestDeployedServerListensLocallyAndNeedsEveryPassword(t *testing.T) {
	// Without the passwords in its environment nats-server does not start.
	if _, err := deployConfig(t); err == nil || !strings.Contains(err.Error(), "NATS_ADMIN_PASSWORD") {
		t.Fatalf("config parsed without passwords: %v", err)
	}
	passwords := map[string]string{}
	for _, u := range access.Users() {
		passwords[u] = "pw-" + u + "-" + testkit.RandomID() + testkit.RandomID()
		t.Setenv(access.PasswordEnv(u), passwords[u])
	}
	opts, err := deployConfig(t)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Host != "127.0.0.1" || opts.HTTPHost != "127.0.0.1" {
		t.Fatalf("listens on %q, monitoring on %q: both must be 127.0.0.1 unless asked otherwise", opts.Host, opts.HTTPHost)
	}
	if len(opts.Users) != len(access.Users()) || opts.NoAuthUser != "" {
		t.Fatalf("users %d, no_auth_user %q", len(opts.Users), opts.NoAuthUser)
	}
	if !opts.SyncAlways {
		t.Fatal("sync_interval: always is gone")
	}

	// The server it configures lets each service in with its own password
	// and nobody without one.
	opts.Port, opts.HTTPPort, opts.NoLog, opts.NoSigs, opts.StoreDir = -1, 0, true, true, t.TempDir()
	s := startServer(t, opts)
	if nc, err := nats.Connect(s.ClientURL()); err == nil || !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous connection: %v", err)
	}
	for _, u := range access.Users() {
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(u, passwords[u]))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		nc.Close()
	}
}

// `ingest nats-config --bcrypt` (scripts/stack.sh) writes hashes: the file
// holds nothing that logs in, and the passwords still do.
func TestHashedPasswordsLogIn(t *testing.T) {
	passwords := map[string]string{}
	for _, u := range access.Users() {
		passwords[u] = testkit.RandomID() + testkit.RandomID()
	}
	hashed, err := access.HashPasswords(passwords, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	text, err := access.ServerConfig{Topology: bus.DefaultTopology(), Passwords: hashed}.Render()
	if err != nil {
		t.Fatal(err)
	}
	for u, pw := range passwords {
		if strings.Contains(text, pw) {
			t.Fatalf("the password of %s is in the file", u)
		}
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s := startServer(t, opts)
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(access.Gateway, passwords[access.Gateway]))
	if err != nil {
		t.Fatalf("gateway with its password: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(access.Gateway, hashed[access.Gateway])); err == nil {
		nc.Close()
		t.Fatal("the hash itself logs in")
	}
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready in 10s")
	}
	return s
}
