// Package redisconn builds the Redis client of every process that uses Redis
// (the gateway and cachewarm) from the environment, so that the address,
// the login and TLS are read, checked and applied in one place.
//
// Redis may hold a user per installation (scripts/lib.sh creates an ACL user
// limited to the installation's key prefix; docker-compose.yml one for the
// compose Redis): REDIS_USERNAME and REDIS_PASSWORD name it. Without them the
// client logs in as Redis's default user, which is what a developer machine's
// Redis without a password expects.
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
	Addr string
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

// FromEnv reads REDIS_ADDR, REDIS_USERNAME, REDIS_PASSWORD (a secret:
// masked in the config log and, when set, held to config.CheckSecret's
// rules), REDIS_TLS, REDIS_TLS_CA (turns TLS on), REDIS_TLS_CERT and
// REDIS_TLS_KEY. Problems are collected in e.
func FromEnv(e *config.Env) Config {
	c := Config{
		Addr:     e.String("REDIS_ADDR", DefaultAddr),
		Username: e.String("REDIS_USERNAME", ""),
		Password: e.Secret("REDIS_PASSWORD", ""),
		TLS:      e.Bool("REDIS_TLS", false),
		TLSCA:    e.String("REDIS_TLS_CA", ""),
		TLSCert:  e.String("REDIS_TLS_CERT", ""),
		TLSKey:   e.String("REDIS_TLS_KEY", ""),
	}
	// A CA or a client certificate only makes sense over TLS: asking for one
	// is asking for TLS, as NATS_TLS_CA does for the bus.
	c.TLS = c.TLS || c.TLSCA != "" || c.TLSCert != ""
	// One address: the chat cache's scripts touch several keys of a chat at
	// once, which Redis Cluster refuses across slots (docs/design.md).
	e.Check(!strings.Contains(c.Addr, ","), "REDIS_ADDR must be one host:port: the chat cache needs one Redis (or a primary), not Redis Cluster")
	_, port, err := net.SplitHostPort(c.Addr)
	e.Check(strings.Contains(c.Addr, ",") || (err == nil && port != ""), "REDIS_ADDR must be host:port, such as %s", DefaultAddr)
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

// Client returns a client for c. It is a redis.UniversalClient so that the
// callers need no change the day a Sentinel or Cluster setup is added here.
// The connection itself is made on first use: Redis being down is an outage
// the callers' readiness checks report, not a reason to refuse to start.
func (c Config) Client() (redis.UniversalClient, error) {
	opts := &redis.UniversalOptions{Addrs: []string{c.Addr}, Username: c.Username, Password: c.Password}
	if c.TLS {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	return redis.NewUniversalClient(opts), nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("REDIS_ADDR %q: %w", c.Addr, err)
	}
	// The certificate is checked against the host the client dials, as a
	// browser would; an IP address must then be in the certificate's IP SANs.
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
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
