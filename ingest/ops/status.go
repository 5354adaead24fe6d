// Package ops holds the operator commands behind cmd/ingest.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
)

// StreamStatus describes one stream.
type StreamStatus struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// ConsumerStatus describes one partition consumer.
type ConsumerStatus struct {
	Name          string    `json:"name"`
	Pending       uint64    `json:"pending"`     // not yet delivered
	AckPending    int       `json:"ack_pending"` // delivered, not acked
	Redelivered   int       `json:"redelivered"` // delivered more than once, unacked
	LastDelivered uint64    `json:"last_delivered_seq"`
	AckFloor      uint64    `json:"ack_floor_seq"`
	LagSeconds    float64   `json:"lag_seconds"` // age of the oldest unacked event
	Pinned        string    `json:"pinned_client,omitempty"`
	Instance      string    `json:"instance,omitempty"` // the worker process behind the pin, as it noted itself
	PinnedSince   time.Time `json:"pinned_since,omitzero"`
}

// StatusReport is what `ingest status` prints.
type StatusReport struct {
	Streams     []StreamStatus   `json:"streams"`
	DeadLetters uint64           `json:"dead_letters"`
	Consumers   []ConsumerStatus `json:"consumers"`
}

// Status reads the streams and every consumer of the log.
func Status(ctx context.Context, js jetstream.JetStream, t bus.Topology) (*StatusReport, error) {
	rep := &StatusReport{}
	for _, name := range []string{t.Stream, t.DLQStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		rep.Streams = append(rep.Streams, StreamStatus{Name: name, Messages: info.State.Msgs, Bytes: info.State.Bytes,
			FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq})
		if name == t.DLQStream {
			rep.DeadLetters = info.State.Msgs
		}
	}
	s, err := js.Stream(ctx, t.Stream)
	if err != nil {
		return nil, err
	}
	pins := map[string]string{} // consumer name -> "instance pin"
	if kv, err := js.KeyValue(ctx, bus.PinsBucket); err == nil {
		if keys, err := kv.Keys(ctx); err == nil {
			for _, k := range keys {
				if e, err := kv.Get(ctx, k); err == nil {
					pins[k] = string(e.Value())
				}
			}
		}
	}
	lister := s.ListConsumers(ctx)
	for ci := range lister.Info() {
		cs := consumerStatus(ctx, s, ci)
		if worker, p, ok := splitConsumerName(ci.Name); ok && cs.Pinned != "" {
			if v, ok := pins[bus.PinKey(worker, p)]; ok {
				if instance, pin, _ := strings.Cut(v, " "); pin == cs.Pinned {
					cs.Instance = instance
				}
			}
		}
		rep.Consumers = append(rep.Consumers, cs)
	}
	if err := lister.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return nil, err
	}
	sort.Slice(rep.Consumers, func(i, j int) bool { return rep.Consumers[i].Name < rep.Consumers[j].Name })
	return rep, nil
}

// splitConsumerName parses "persister_p03" into its worker and partition.
func splitConsumerName(name string) (string, int, bool) {
	i := strings.LastIndex(name, "_p")
	if i < 0 {
		return "", 0, false
	}
	p, err := strconv.Atoi(name[i+2:])
	return name[:i], p, err == nil
}

// WriteJSON prints the report as JSON.
func (r *StatusReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable prints the report for a terminal.
func (r *StatusReport) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tMESSAGES\tBYTES\tFIRST\tLAST")
	for _, s := range r.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", s.Name, s.Messages, s.Bytes, s.FirstSeq, s.LastSeq)
	}
	fmt.Fprintf(tw, "\ndead letters: %d\n\n", r.DeadLetters)
	fmt.Fprintln(tw, "CONSUMER\tPENDING\tACK PENDING\tREDELIVERED\tLAST DELIVERED\tACK FLOOR\tLAG (s)\tHELD BY")
	for _, c := range r.Consumers {
		holder := c.Instance
		if holder == "" {
			holder = c.Pinned
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.1f\t%s\n", c.Name, c.Pending, c.AckPending, c.Redelivered,
			c.LastDelivered, c.AckFloor, c.LagSeconds, holder)
	}
	tw.Flush()
}
