// Package limits measures each component's own ceiling on this machine, with
// nothing of logchat in between: JetStream publishing (synchronous with
// concurrency, asynchronous, atomic batches; with and without fsync before
// the acknowledgement), MySQL multi-row INSERT, Redis pipelined writes and
// Centrifugo piped publishes. Messages are 256 bytes, like FACTS.md's.
package limits

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/gocent/v3"
	_ "github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Result is one ceiling.
type Result struct {
	Component string  `json:"component"`
	Mode      string  `json:"mode"`
	PerSecond float64 `json:"per_second"`
	Unit      string  `json:"unit"`
	Count     int64   `json:"count"`
	Seconds   float64 `json:"seconds"`
	Err       string  `json:"error,omitempty"`
}

// Payload is the 256-byte body every measurement writes.
var Payload = []byte(strings.Repeat("m", 256))

// measure runs work on conc goroutines for d; work returns how many units it did.
func measure(d time.Duration, conc int, work func(ctx context.Context, worker int) (int64, error)) (int64, float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var total atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n, err := work(ctx, i)
				total.Add(n)
				if err != nil && ctx.Err() == nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	var err error
	if e, ok := first.Load().(error); ok {
		err = e
	}
	return total.Load(), el, err
}

func result(component, mode, unit string, n int64, el float64, err error) Result {
	r := Result{Component: component, Mode: mode, Unit: unit, Count: n, Seconds: round(el), PerSecond: round(float64(n) / el)}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func round(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// JetStream measures publishing to a stream of its own on the server at url.
// fsync names the server's sync mode in the results; opts carry the login (it
// creates and deletes a stream: the admin's).
func JetStream(url, fsync string, d time.Duration, opts ...nats.Option) []Result {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("bench-limits")}, opts...)...)
	if err != nil {
		return []Result{{Component: "jetstream", Mode: fsync, Err: err.Error()}}
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return []Result{{Component: "jetstream", Mode: fsync, Err: err.Error()}}
	}
	ctx := context.Background()
	const name = "BENCH_LIMITS"
	_ = js.DeleteStream(ctx, name)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"benchlimits.>"},
		Storage: jetstream.FileStorage, AllowAtomicPublish: true, Duplicates: 2 * time.Minute}); err != nil {
		return []Result{{Component: "jetstream", Mode: fsync, Err: err.Error()}}
	}
	defer js.DeleteStream(ctx, name)
	var out []Result

	n, el, err := measure(d, 16, func(ctx context.Context, w int) (int64, error) {
		if _, err := js.Publish(ctx, fmt.Sprintf("benchlimits.%d", w), Payload); err != nil {
			return 0, err
		}
		return 1, nil
	})
	out = append(out, result("jetstream", "sync publish, 16 concurrent, "+fsync, "msg/s", n, el, err))

	n, el, err = measure(d, 1, func(ctx context.Context, _ int) (int64, error) {
		const window = 1000
		futs := make([]jetstream.PubAckFuture, 0, window)
		for range window {
			f, err := js.PublishAsync("benchlimits.async", Payload)
			if err != nil {
				return 0, err
			}
			futs = append(futs, f)
		}
		var done int64
		for _, f := range futs {
			select {
			case <-f.Ok():
				done++
			case err := <-f.Err():
				return done, err
			case <-time.After(10 * time.Second):
				return done, fmt.Errorf("async publish: no ack in 10s")
			}
		}
		return done, nil
	})
	out = append(out, result("jetstream", "async publish, "+fsync, "msg/s", n, el, err))

	n, el, err = measure(d, 4, func(ctx context.Context, w int) (int64, error) {
		msgs := make([]*nats.Msg, 100)
		for i := range msgs {
			msgs[i] = &nats.Msg{Subject: fmt.Sprintf("benchlimits.batch.%d", w), Data: Payload, Header: nats.Header{}}
		}
		if _, err := jetstreamext.PublishMsgBatch(context.Background(), js, msgs); err != nil {
			return 0, err
		}
		return 100, nil
	})
	out = append(out, result("jetstream", "atomic batch of 100, 4 concurrent, "+fsync, "msg/s", n, el, err))
	return out
}

// MySQL measures multi-row INSERTs of 500 rows into a copy of the messages
// table (same columns and keys) in the database of dsn, from 16 connections.
func MySQL(dsn string, d time.Duration) Result {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return Result{Component: "mysql", Err: err.Error()}
	}
	defer db.Close()
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	ctx := context.Background()
	const table = "bench_limits_messages"
	_, _ = db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table)
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+" LIKE messages"); err != nil {
		return Result{Component: "mysql", Err: err.Error()}
	}
	defer db.ExecContext(ctx, "DROP TABLE IF EXISTS "+table)
	const rows = 500
	q := "INSERT INTO " + table + " (chat_id, id, author_id, client_id, text, reply_to_id, sent_at) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,NULL,?),", rows), ",")
	var next atomic.Int64
	text := string(Payload)
	n, el, err := measure(d, 16, func(ctx context.Context, w int) (int64, error) {
		args := make([]any, 0, rows*6)
		now := time.Now().UTC()
		for range rows {
			id := next.Add(1)
			args = append(args, id%1000+1, id, int64(w+1), fmt.Sprintf("c%d", id), text, now)
		}
		if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
			return 0, err
		}
		return rows, nil
	})
	return result("mysql", "multi-row INSERT of 500, 16 connections", "rows/s", n, el, err)
}

// Redis measures pipelines of 500 messages, two commands each (the message
// into a hash, its id into a sorted set), from 4 connections.
func Redis(addr string, d time.Duration) Result {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 8})
	defer rdb.Close()
	const prefix = "benchlimits:"
	var next atomic.Int64
	n, el, err := measure(d, 4, func(ctx context.Context, w int) (int64, error) {
		_, err := rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error {
			for range 500 {
				id := next.Add(1)
				chat := fmt.Sprintf("%schat:%d", prefix, id%1000)
				p.HSet(context.Background(), chat+":msgs", id, Payload)
				p.ZAdd(context.Background(), chat+":ids", redis.Z{Score: float64(id), Member: id})
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		return 500, nil
	})
	// Clean up.
	iter := rdb.Scan(context.Background(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		rdb.Del(context.Background(), iter.Val())
	}
	return result("redis", "pipeline of 500 messages × 2 commands, 4 connections", "msg/s", n, el, err)
}

// Centrifugo measures piped publishes of 100 per request, 4 requests at once,
// over 100 channels of the chat namespace.
func Centrifugo(apiURL, key string, d time.Duration) Result {
	c := gocent.New(gocent.Config{Addr: apiURL, Key: key})
	var next atomic.Int64
	data := []byte(`{"type":"bench","text":"` + strings.Repeat("m", 230) + `"}`)
	n, el, err := measure(d, 4, func(ctx context.Context, w int) (int64, error) {
		pipe := c.Pipe()
		for range 100 {
			if err := pipe.AddPublish(fmt.Sprintf("chat:benchlimits%d", next.Add(1)%100), data); err != nil {
				return 0, err
			}
		}
		replies, err := c.SendPipe(context.Background(), pipe)
		if err != nil {
			return 0, err
		}
		for _, r := range replies {
			if r.Error != nil {
				return 0, r.Error
			}
		}
		return int64(len(replies)), nil
	})
	return result("centrifugo", "piped publish, 100 per request, 4 concurrent", "msg/s", n, el, err)
}
