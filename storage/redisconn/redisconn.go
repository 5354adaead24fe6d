// Package redisconn builds the Redis client of every process that uses Redis
// (the gateway and cachewarm) from the environment, so that the address,
// the login and TLS are read, checked and applied in one place.
//
// Redis may hold a user per installation (scripts/lib.sh creates an ACL user
// limited to the installation's key prefix; docker-compose.yml one for the
// compose Redis): REDIS_USERNAME and REDIS_PASSWORD name it. Without them the
// client logs in as Redis's default user, which is what a developer machine's
// Redis without a password expects.
//
// One Redis (REDIS_ADDR) is the default. REDIS_CLUSTER_ADDRS, seed host:port
// pairs of a Redis Cluster, turns cluster mode on instead: the client learns
// the slot map from the seeds and sends each command to the master serving
// its key. Every multi-key script and transaction of the code touches keys
// of one hash tag only (docs/design.md, "Redis Cluster"), so nothing needs
// a cross-slot operation. The login and TLS apply to every node.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/config"
)

// DefaultAddr is the Redis of a developer machine.
const DefaultAddr = "127.0.0.1:6379"

// Config is how a process reaches Redis and who it is there.
type Config struct {
	// Addr is the one Redis; "" in cluster mode.
	Addr string
	// ClusterAddrs are the seeds of a Redis Cluster (any few of its nodes);
	// nil for one Redis.
	ClusterAddrs []string
	// Username is an ACL user; "" is Redis's default user, which a server
	// with requirepass checks Password against.
	Username string
	Password string
	// TLS turns TLS on (server verified against the system's roots unless
	// TLSCA names a CA file); TLSCert and TLSKey are the client's
	// certificate, for a server with tls-auth-clients.
	TLS                    bool
	TLSCA, TLSCert, TLSKey string
}

// FromEnv reads REDIS_ADDR or REDIS_CLUSTER_ADDRS, REDIS_USERNAME, REDIS_PASSWORD (a secret:
// masked in the config log and, when set, held to config.CheckSecret's
// rules), REDIS_TLS, REDIS_TLS_CA (turns TLS on), REDIS_TLS_CERT and
// REDIS_TLS_KEY. Problems are collected in e.
func FromEnv(e *config.Env) Config {
	c := Config{
		ClusterAddrs: e.List("REDIS_CLUSTER_ADDRS", ""),
		Addr:         e.String("REDIS_ADDR", DefaultAddr),
		Username:     e.String("REDIS_USERNAME", ""),
		Password:     e.Secret("REDIS_PASSWORD", ""),
		TLS:          e.Bool("REDIS_TLS", false),
		TLSCA:        e.String("REDIS_TLS_CA", ""),
		TLSCert:      e.String("REDIS_TLS_CERT", ""),
		TLSKey:       e.String("REDIS_TLS_KEY", ""),
	}
	// A CA or a client certificate only makes sense over TLS: asking for one
	// is asking for TLS, as NATS_TLS_CA does for the bus.
	c.TLS = c.TLS || c.TLSCA != "" || c.TLSCert != ""
	if len(c.ClusterAddrs) > 0 {
		// Two places to connect to is a mistake to point out, not to guess
		// about (REDIS_ADDR has a default, so only an explicit one counts).
		e.Check(os.Getenv("REDIS_ADDR") == "", "REDIS_ADDR and REDIS_CLUSTER_ADDRS are exclusive: set REDIS_ADDR for one Redis or REDIS_CLUSTER_ADDRS for Redis Cluster, not both")
		c.Addr = ""
		for _, a := range c.ClusterAddrs {
			_, port, err := net.SplitHostPort(a)
			e.Check(err == nil && port != "", "REDIS_CLUSTER_ADDRS must be a comma-separated list of host:port, such as 10.0.0.1:6379,10.0.0.2:6379; %q is not host:port", a)
		}
	} else {
		// One address: Redis Cluster's seeds go to REDIS_CLUSTER_ADDRS.
		e.Check(!strings.Contains(c.Addr, ","), "REDIS_ADDR must be one host:port; for Redis Cluster set REDIS_CLUSTER_ADDRS to its nodes instead")
		_, port, err := net.SplitHostPort(c.Addr)
		e.Check(strings.Contains(c.Addr, ",") || (err == nil && port != ""), "REDIS_ADDR must be host:port, such as %s", DefaultAddr)
	}
	if c.Password != "" {
		// No default and no committed value: an unset password is a Redis
		// without one (a developer machine), but a set one must be real.
		if err := config.CheckSecret("REDIS_PASSWORD", c.Password); err != nil {
			e.Check(false, "%v", err)
		}
	}
	e.Check(c.Username == "" || c.Password != "", "REDIS_USERNAME needs REDIS_PASSWORD")
	e.Check((c.TLSCert == "") == (c.TLSKey == ""), "REDIS_TLS_CERT and REDIS_TLS_KEY go together")
	return c
}

// Client returns a client for c: a *redis.Client for one Redis, a
// *redis.ClusterClient in cluster mode. The connection itself is made on
// first use: Redis being down is an outage the callers' readiness checks
// report, not a reason to refuse to start.
func (c Config) Client() (redis.UniversalClient, error) {
	opts := &redis.UniversalOptions{Addrs: []string{c.Addr}, Username: c.Username, Password: c.Password}
	if c.Cluster() {
		// IsClusterMode: a single seed must still make a cluster client.
		opts.Addrs, opts.IsClusterMode = c.ClusterAddrs, true
	}
	if c.TLS {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	return redis.NewUniversalClient(opts), nil
}

// Cluster reports whether c is Redis Cluster (REDIS_CLUSTER_ADDRS).
func (c Config) Cluster() bool { return len(c.ClusterAddrs) > 0 }

func (c Config) tlsConfig() (*tls.Config, error) {
	// The certificate is checked against the host the client dials, as a
	// browser would; an IP address must then be in the certificate's IP SANs.
	// In cluster mode ServerName stays empty: the nodes are other hosts, and
	// crypto/tls takes each node's from the address it dials.
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if !c.Cluster() {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return nil, fmt.Errorf("REDIS_ADDR %q: %w", c.Addr, err)
		}
		tc.ServerName = host
	}
	if c.TLSCA != "" {
		pem, err := os.ReadFile(c.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("read REDIS_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("REDIS_TLS_CA holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load REDIS_TLS_CERT and REDIS_TLS_KEY: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
