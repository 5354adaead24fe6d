package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/testkit"
)

// BenchmarkWorker measures the whole worker path: 60,000 messages over 1,000
// direct chats already in the log, consumed by bus.Runner (8 partitions,
// batches of 500) into Redis through the handler. It prints events/s from the
// first pull to the last acknowledgement. Run it alone:
//
//	go test ./cmd/cachewarm -run XXX -bench Worker -benchtime 1x
func BenchmarkWorker(b *testing.B) {
	const chats, messages = 1000, 60_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		js, topo := benchNATS(b)
		ctx := context.Background()
		var acks []jetstream.PubAckFuture
		publish := func(env event.Envelope) {
			data, _ := env.Encode()
			f, err := js.PublishAsync(bus.PublishSubject(env.ChatID, event.SubjectKind(env.Type)), data)
			if err != nil {
				b.Fatal(err)
			}
			acks = append(acks, f)
		}
		at := time.Now()
		for c := int64(1); c <= chats; c++ {
			ch := domain.Chat{ID: c, Kind: domain.KindDirect, CreatedAt: at, Members: []domain.Member{
				{User: domain.User{ID: 2 * c, Name: "a"}, Role: domain.RoleMember},
				{User: domain.User{ID: 2*c + 1, Name: "b"}, Role: domain.RoleMember}}}
			env, _ := event.New(event.ChatCreated, c, 2*c, at, event.ChatCreatedData{Chat: ch})
			publish(env)
		}
		text := strings.Repeat("x", 200)
		for m := range messages {
			c := int64(1 + m%chats)
			author := domain.User{ID: 2*c + int64(m%2), Name: "a"}
			env, _ := event.New(event.MessageCreated, c, author.ID, at,
				event.MessageCreatedData{Author: author, Text: text, ClientID: fmt.Sprintf("c%d", m)})
			publish(env)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(2 * time.Minute):
			b.Fatal("prefill did not complete")
		}
		for _, f := range acks {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				b.Fatal(err)
			}
		}

		rdb, prefix := testkit.RedisUnderTest(b)
		h := &handler{cache: chatcache.New(rdb, prefix, nil), mysql: pingFunc(func(context.Context) error { return nil })}
		rctx, cancel := context.WithCancel(ctx)
		runner := &bus.Runner{JS: js, Topology: topo, Config: bus.DefaultRunnerConfig("cachewarm", 500), Handler: h,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- runner.Run(rctx) }()
		for !consumed(ctx, js, topo) {
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(chats+messages)/elapsed.Seconds(), "events/s")
	}
}

// consumed reports whether every partition's consumer has acknowledged everything.
func consumed(ctx context.Context, js jetstream.JetStream, topo bus.Topology) bool {
	for p := range topo.Partitions {
		c, err := js.Consumer(ctx, topo.Stream, bus.ConsumerName("cachewarm", p))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

// benchNATS is an in-process JetStream with the server's default (lazy)
// fsync: the benchmark measures the consumer, not the disk.
func benchNATS(b *testing.B) (jetstream.JetStream, bus.Topology) {
	b.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4000))
	if err != nil {
		b.Fatal(err)
	}
	topo := bus.DefaultTopology()
	if err := bus.ProvisionStreams(context.Background(), js, topo); err != nil {
		b.Fatal(err)
	}
	return js, topo
}
