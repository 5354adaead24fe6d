package relay_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// BenchmarkRelay measures message.created events per second through the relay
// into a real Centrifugo, with batches of 200 (the notifier's default) from
// several partitions at once, as the runtime drives it:
//
//	go test ./relay -run '^$' -bench Relay -benchtime 100000x
func BenchmarkRelay(b *testing.B) {
	const partitions, batch = 4, 200
	c := testkit.StartCentrifugo(b)
	r := newRelay(c)
	// Prepared up front: decoding events from the log is the runtime's cost.
	batches := make([][]event.Event, partitions)
	for p := range partitions {
		for i := range batch {
			chat := int64(1 + p*100 + i%20)
			batches[p] = append(batches[p], msg(b, uint64(p*batch+i+1), chat, fmt.Sprintf("benchmark message %d with some typical text in it", i)))
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + partitions*batch - 1) / (partitions * batch)
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if err := r.Handle(context.Background(), batches[p]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	events := per * partitions * batch
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}
