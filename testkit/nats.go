package testkit

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
)

// NATSPartitions is how many partitions of the default topology the
// in-process server's permissions cover: more than any test uses.
const NATSPartitions = 8

// NATS is an in-process JetStream server on a random port and a temp
// directory, with the project's users and permissions (ingest/access), each
// user with a random password: tests run with authentication as production
// does, and anonymous clients are refused.
type NATS struct {
	Server *server.Server
	URL    string
	// CAFile is the CA that signed the server's certificate (TLS servers only).
	CAFile    string
	opts      *server.Options
	passwords map[string]string
}

// StartNATS starts a JetStream server that fsyncs before acknowledging, as in
// production. It is shut down when the test ends.
func StartNATS(t testing.TB) *NATS { return startNATS(t, access.TLSFiles{}, "") }

// StartNATSTLS is StartNATS with TLS required of every client: tls holds the
// server's certificate files, caFile the CA clients verify it with.
func StartNATSTLS(t testing.TB, tls access.TLSFiles, caFile string) *NATS {
	return startNATS(t, tls, caFile)
}

func startNATS(t testing.TB, tls access.TLSFiles, caFile string) *NATS {
	t.Helper()
	topo := bus.DefaultTopology()
	topo.Partitions = NATSPartitions
	passwords := map[string]string{}
	for _, u := range access.Users() {
		passwords[u] = RandomID() + RandomID() + RandomID()
	}
	// The server reads the same rendering of ingest/access that nats-server
	// reads in a deployment, so the permissions tests see are the real ones.
	text, err := access.ServerConfig{Topology: topo, Passwords: passwords, TLS: tls}.Render()
	if err != nil {
		t.Fatalf("nats config: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats config: %v", err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	opts.JetStream, opts.StoreDir, opts.SyncAlways = true, filepath.Join(dir, "store"), true
	n := &NATS{opts: opts, passwords: passwords, CAFile: caFile}
	n.start(t)
	t.Cleanup(n.Shutdown)
	return n
}

func (n *NATS) start(t testing.TB) {
	t.Helper()
	s, err := server.NewServer(n.opts)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats: not ready in 10s")
	}
	n.Server = s
	n.URL = s.ClientURL()
	// Keep the port on restart so that clients reconnect to the same URL.
	n.opts.Port = s.Addr().(*net.TCPAddr).Port
}

// Shutdown stops the server, keeping its store for a Restart.
func (n *NATS) Shutdown() {
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
	}
}

// Restart starts the server again on the same port with the same store.
func (n *NATS) Restart(t testing.TB) {
	t.Helper()
	n.Shutdown()
	n.start(t)
}

// Password is a user's password (access.Users).
func (n *NATS) Password(user string) string { return n.passwords[user] }

// Env is what a process logging in as user needs: NATS_URL, NATS_USER,
// NATS_PASSWORD and, on a TLS server, NATS_TLS_CA.
func (n *NATS) Env(user string) []string {
	env := []string{"NATS_URL=" + n.URL, "NATS_USER=" + user, "NATS_PASSWORD=" + n.passwords[user]}
	if n.CAFile != "" {
		env = append(env, "NATS_TLS_CA="+n.CAFile)
	}
	return env
}

// Config is how a process logging in as user connects (bus.Connect).
func (n *NATS) Config(user string) bus.NATSConfig {
	return bus.NATSConfig{URL: n.URL, User: user, Password: n.passwords[user], TLSCA: n.CAFile}
}

// Connect opens an admin connection closed at the end of the test.
func (n *NATS) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return n.ConnectAs(t, access.Admin)
}

// ConnectAs opens a connection as one of the project's users, with that
// user's inbox, closed at the end of the test; extra options come last (an
// ErrorHandler, to see what the server refused).
func (n *NATS) ConnectAs(t testing.TB, user string, extra ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opts := []nats.Option{
		nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond),
		nats.UserInfo(user, n.passwords[user]), nats.CustomInboxPrefix(bus.InboxPrefix(user)),
	}
	if n.CAFile != "" {
		opts = append(opts, nats.RootCAs(n.CAFile))
	}
	nc, err := nats.Connect(n.URL, append(opts, extra...)...)
	if err != nil {
		t.Fatalf("nats connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
