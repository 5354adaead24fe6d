package testkit

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is an in-process JetStream server on a random port and a temp directory.
type NATS struct {
	Server *server.Server
	URL    string
	opts   *server.Options
}

// StartNATS starts a JetStream server that fsyncs before acknowledging, as in
// production. It is shut down when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), SyncAlways: true,
	}
	n := &NATS{opts: opts}
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

// Connect opens a client connection closed at the end of the test.
func (n *NATS) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
