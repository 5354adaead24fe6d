package bus_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
)

// BenchmarkGroupCommit publishes from many concurrent callers through the
// group-commit publisher into a stream that fsyncs before acknowledging.
// go test ./bus -run '^$' -bench GroupCommit -benchtime 20000x
func BenchmarkGroupCommit(b *testing.B) {
	for _, callers := range []int{16, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			t := &testing.T{}
			_ = t
			js, _ := setupB(b)
			pub := bus.NewPublisher(js, bus.DefaultPublisherConfig(), nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go pub.Run(ctx)
			env := msgEnvelopeB(b)
			var next atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := pub.Publish(ctx, env, fmt.Sprintf("k%d", i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
		})
	}
}
