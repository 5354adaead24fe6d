package bus

import (
	"context"
	"fmt"
	"log/slog"
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

// Connect connects to NATS and keeps reconnecting forever: an outage of the
// log pauses a process, it never ends it.
func Connect(url, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("nats disconnected", "err", err) }),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
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

// ProvisionRetrying provisions the streams, waiting for NATS to come up
// (the one start-up policy of shared/retry).
func ProvisionRetrying(ctx context.Context, js jetstream.JetStream, t Topology, log *slog.Logger) error {
	return retry.Until(ctx, log, "provision streams", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return ProvisionStreams(ctx, js, t)
	})
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
