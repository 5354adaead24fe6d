package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/shared/config"
	"github.com/logchat/shared/retry"
)

// DefaultNATSURL is the project's own NATS 2.15 (port 4233: a machine may run
// an older NATS on 4222 that lacks subject transforms and priority groups).
const DefaultNATSURL = "nats://127.0.0.1:4233"

// TopologyFromEnv reads the topology every process must agree on.
func TopologyFromEnv(e *config.Env) Topology {
	t := DefaultTopology()
	t.Stream = e.String("STREAM_NAME", t.Stream)
	t.DLQStream = e.String("STREAM_DLQ_NAME", t.DLQStream)
	t.Partitions = e.Int("STREAM_PARTITIONS", t.Partitions)
	t.DuplicateWindow = e.Duration("STREAM_DUPLICATE_WINDOW", t.DuplicateWindow)
	t.MaxAge = e.Duration("STREAM_MAX_AGE", t.MaxAge)
	t.Replicas = e.Int("STREAM_REPLICAS", t.Replicas)
	t.AckWait = e.Duration("CONSUMER_ACK_WAIT", t.AckWait)
	t.PinnedTTL = e.Duration("CONSUMER_PINNED_TTL", t.PinnedTTL)
	if err := t.Validate(); err != nil {
		e.Check(false, "%v", err)
	}
	return t
}

// NATSConfig is how a process reaches the log and who it is there.
//
// Every process logs in with a user of its own (scripts/stack.sh and
// docker-compose.yml give each its password; the server's users and their
// permissions are generated from the topology by ingest/access). The user
// names the process's inbox too (InboxPrefix), so that replies meant for one
// service cannot be read by another.
type NATSConfig struct {
	URL      string
	User     string
	Password string
	// TLS: TLSCA verifies the server (and turns TLS on); TLSCert and TLSKey
	// are the client's certificate, for a server that asks for one.
	TLSCA, TLSCert, TLSKey string
}

// NATSFromEnv reads NATS_URL, NATS_USER (default user: the process's role),
// NATS_PASSWORD (required), NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY.
func NATSFromEnv(e *config.Env, user string) NATSConfig {
	c := NATSConfig{
		URL:      e.String("NATS_URL", DefaultNATSURL),
		User:     e.String("NATS_USER", user),
		Password: e.RequiredSecret("NATS_PASSWORD"),
		TLSCA:    e.String("NATS_TLS_CA", ""),
		TLSCert:  e.String("NATS_TLS_CERT", ""),
		TLSKey:   e.String("NATS_TLS_KEY", ""),
	}
	e.Check(c.User != "" && !strings.ContainsAny(c.User, ".*> \t"), "NATS_USER must be one subject token (it names the process's inbox)")
	e.Check((c.TLSCert == "") == (c.TLSKey == ""), "NATS_TLS_CERT and NATS_TLS_KEY go together")
	return c
}

// InboxPrefix is where a user's replies arrive: _INBOX.<user>. The server
// lets each user subscribe to its own prefix only.
func InboxPrefix(user string) string { return "_INBOX." + user }

// Connect connects to NATS and keeps reconnecting forever: an outage of the
// log pauses a process, it never ends it.
func Connect(c NATSConfig, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		// A refused publish or subscription is reported asynchronously, and a
		// request to a subject this user may not use otherwise just times
		// out: say why.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error("nats", "err", err) }),
		// The same authentication error twice closes the connection for good
		// (the client's default): a wrong password must be loud, not a
		// process that silently never becomes ready.
		nats.ClosedHandler(func(c *nats.Conn) {
			if err := c.LastError(); err != nil {
				log.Error("nats connection closed", "err", err)
			}
		}),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password), nats.CustomInboxPrefix(InboxPrefix(c.User)))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// PingNATS is a readiness check: the connection is up and JetStream answers.
func PingNATS(js jetstream.JetStream) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if !js.Conn().IsConnected() {
			return fmt.Errorf("not connected")
		}
		_, err := js.AccountInfo(ctx)
		return err
	}
}

// ProvisionRetrying waits until the log's streams exist, waiting for NATS to
// come up too (the one start-up policy of shared/retry). Missing streams are
// created when this process's user may do that, which only the admin may
// (ingest/access; `ingest provision` runs at start-up as the admin): the
// gateway and the workers wait for them instead. Streams that exist are used
// as they are: their settings are the operator's, changed with `ingest
// provision`, not by whichever process starts next.
func ProvisionRetrying(ctx context.Context, js jetstream.JetStream, t Topology, log *slog.Logger) error {
	return retry.Until(ctx, log, "wait for the log's streams (`ingest provision` creates them, as the NATS admin)", func(ctx context.Context) error {
		if nc := js.Conn(); nc.IsClosed() {
			// The client gives up after the server refused its login twice:
			// waiting cannot fix a password.
			return retry.Permanent(fmt.Errorf("nats connection closed: %v", nc.LastError()))
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := StreamsExist(ctx, js, t)
		if errors.Is(err, errMissing) {
			err = ProvisionStreams(ctx, js, t)
		}
		return err
	})
}

var errMissing = errors.New("missing")

// StreamsExist checks that the log, the dead-letter stream and the pins
// bucket are there, with the stream-info requests every user may make.
func StreamsExist(ctx context.Context, js jetstream.JetStream, t Topology) error {
	for _, name := range []string{t.Stream, t.DLQStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("stream %s: %w", name, errMissing)
			}
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if name == t.Stream {
			if err := t.CheckPartitions(s.CachedInfo().Config); err != nil {
				return retry.Permanent(err)
			}
		}
	}
	if _, err := js.KeyValue(ctx, PinsBucket); err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("bucket %s: %w", PinsBucket, errMissing)
		}
		return fmt.Errorf("bucket %s: %w", PinsBucket, err)
	}
	return nil
}

// PublisherConfigFromEnv reads the group-commit settings of a producer.
func PublisherConfigFromEnv(e *config.Env) PublisherConfig {
	c := DefaultPublisherConfig()
	c.GroupCommit = e.Bool("PUBLISH_GROUP_COMMIT", c.GroupCommit)
	c.Window = e.Duration("PUBLISH_WINDOW", c.Window)
	c.MaxBatch = e.Int("PUBLISH_MAX_BATCH", c.MaxBatch)
	c.Committers = e.Int("PUBLISH_COMMITTERS", c.Committers)
	c.Timeout = e.Duration("PUBLISH_TIMEOUT", c.Timeout)
	c.SmallBatch = e.Int("PUBLISH_SMALL_BATCH", c.SmallBatch)
	e.Check(c.MaxBatch >= 1 && c.MaxBatch <= 1000, "PUBLISH_MAX_BATCH must be 1..1000 (the server's atomic batch limit)")
	e.Check(c.Committers >= 1, "PUBLISH_COMMITTERS must be at least 1")
	e.Check(c.Window >= 0 && c.Timeout > 0, "PUBLISH_WINDOW must be >= 0 and PUBLISH_TIMEOUT > 0")
	return c
}
