package access_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/config"
	"github.com/logchat/testkit"
)

// A server configured with TLS (access.ServerConfig.TLS) takes only TLS
// clients that trust its CA; a process configured with NATS_TLS_CA
// (bus.NATSFromEnv) connects to it and JetStream answers.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	n := testkit.StartNATSTLS(t, access.TLSFiles{CertFile: certFile, KeyFile: keyFile}, caFile)
	if !strings.HasPrefix(n.URL, "tls://") {
		t.Fatalf("server URL %s", n.URL)
	}

	// The way a process connects: from its environment.
	t.Setenv("NATS_URL", n.URL)
	t.Setenv("NATS_PASSWORD", n.Password(access.Gateway))
	t.Setenv("NATS_TLS_CA", caFile)
	env := config.New()
	cfg := bus.NATSFromEnv(env, access.Gateway)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	nc, js, err := bus.Connect(cfg, "tls-test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	eventually(t, "JetStream answers over TLS", func() (bool, string) {
		err := bus.PingNATS(js)(context.Background())
		return err == nil, ""
	})
	if st, err := nc.TLSConnectionState(); err != nil || !st.HandshakeComplete {
		t.Fatalf("the connection is not TLS: %v", err)
	}

	// A client that does not trust the CA is refused by its own check.
	if nc, err := nats.Connect(n.URL, nats.UserInfo(access.Gateway, n.Password(access.Gateway))); err == nil {
		nc.Close()
		t.Fatal("connected without trusting the server's CA")
	}
	// And the server insists on TLS: its greeting says so, and a plaintext
	// CONNECT gets no further.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.URL, "tls://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.Contains(info, `"tls_required":true`) {
		t.Fatalf("greeting %q, %v: want tls_required", info, err)
	}
	_, _ = conn.Write([]byte("CONNECT {\"user\":\"gateway\",\"pass\":\"" + n.Password(access.Gateway) + "\"}\r\nPING\r\n"))
	if line, err := r.ReadString('\n'); err == nil && strings.HasPrefix(line, "PONG") {
		t.Fatal("a plaintext client was served")
	}
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1 signed by
// it, as PEM files.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "logchat test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", leafDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}
