package updates_test

import (
	"context"
	"testing"

	"github.com/logchat/storage/updates"
	"github.com/logchat/testkit"
)

// BenchmarkApplyFanout is one message's fan-out to a group of 1,000: 1,000
// appends in one Apply. b.N messages; ns/op is per message, and the
// "µs/update" metric per member.
func BenchmarkApplyFanout(b *testing.B) {
	rdb, prefix := testkit.Redis(b)
	s := updates.New(rdb, prefix, 0, 0)
	ctx := context.Background()
	msg := make([]byte, 300)
	copy(msg, `{"type":"message.created","message":{}}`)
	const members = 1000
	b.ResetTimer()
	for i := range b.N {
		batch := s.NewBatch()
		for u := range members {
			batch.Append(int64(u+1), 0, uint64(i+1), msg)
		}
		if _, err := s.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*members), "µs/update")
}
