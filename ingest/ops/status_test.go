package ops_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

func TestStatusReportsStreamsAndConsumerBacklog(t *testing.T) {
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 2
	ctx := context.Background()
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.ProvisionConsumers(ctx, js, topo, "persister", 10); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, bus.PublisherConfig{Timeout: 5 * time.Second}, nil)
	for i := range 5 {
		env, _ := event.New(event.MessageCreated, int64(i+1), 1, time.Now(), event.MessageCreatedData{Text: "x"})
		if _, err := pub.Publish(ctx, env, ""); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := ops.Status(ctx, js, topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Streams) != 2 || rep.Streams[0].Messages != 5 || rep.Streams[0].LastSeq != 5 {
		t.Fatalf("streams = %+v, want CHAT with 5 messages", rep.Streams)
	}
	if len(rep.Consumers) != 2 {
		t.Fatalf("consumers = %+v, want 2 partitions", rep.Consumers)
	}
	var pending uint64
	for _, c := range rep.Consumers {
		pending += c.Pending
	}
	if pending != 5 {
		t.Fatalf("pending over partitions = %d, want 5", pending)
	}
	// A runner that holds the partitions names itself in the report.
	ctx2, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &countingHandler{applied: map[uint64]int{}}
	go (&bus.Runner{JS: js, Topology: topo, Config: bus.DefaultRunnerConfig("persister", 10), Handler: h,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Instance: "worker-a"}).Run(ctx2)
	waitUntil(t, "events applied", func() bool { e, _ := h.total(); return e == 5 })
	waitUntil(t, "the holder named", func() bool {
		rep, err = ops.Status(ctx, js, topo)
		if err != nil {
			return false
		}
		for _, c := range rep.Consumers {
			if c.Instance != "worker-a" {
				return false
			}
		}
		return true
	})
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	if !strings.Contains(buf.String(), "persister_p00") || !strings.Contains(buf.String(), "dead letters: 0") || !strings.Contains(buf.String(), "worker-a") {
		t.Fatalf("table lacks consumer or dead-letter line:\n%s", buf.String())
	}
}
