// Package backlog reads how far each worker type is behind the log: the sum
// over its partition consumers of pending (not yet delivered) and ack-pending
// (delivered, not yet acknowledged) events.
package backlog

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
)

// Workers are the worker types of the stack.
var Workers = []string{"persister", "cachewarm", "notifier"}

// Reader asks the stack's NATS.
type Reader struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	stream     string
	partitions int
}

// Open connects to NATS; opts carry the login (the stack's admin).
func Open(url string, partitions int, opts ...nats.Option) (*Reader, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("bench")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Reader{nc: nc, js: js, stream: bus.DefaultTopology().Stream, partitions: partitions}, nil
}

// Close disconnects.
func (r *Reader) Close() { r.nc.Close() }

// Pending returns the backlog of one worker type.
func (r *Reader) Pending(ctx context.Context, worker string) (uint64, error) {
	var n uint64
	for p := range r.partitions {
		c, err := r.js.Consumer(ctx, r.stream, bus.ConsumerName(worker, p))
		if err != nil {
			return 0, fmt.Errorf("consumer %s: %w", bus.ConsumerName(worker, p), err)
		}
		info := c.CachedInfo()
		if info == nil {
			continue
		}
		n += info.NumPending + uint64(info.NumAckPending)
	}
	return n, nil
}

// All returns the backlog of every worker type.
func (r *Reader) All(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, w := range Workers {
		n, err := r.Pending(ctx, w)
		if err != nil {
			return nil, err
		}
		out[w] = n
	}
	return out, nil
}

// Max is the largest backlog of any worker type.
func (r *Reader) Max(ctx context.Context) (uint64, error) {
	all, err := r.All(ctx)
	if err != nil {
		return 0, err
	}
	var m uint64
	for _, v := range all {
		m = max(m, v)
	}
	return m, nil
}

// JetStream exposes the connection for the limits measurements.
func (r *Reader) JetStream() jetstream.JetStream { return r.js }
