// Command searcher projects the log into the message search index (MySQL,
// on each chat's shard), which the gateway's GET /search/messages reads.
// Configuration: docs/configuration.md (MYSQL_DSN, HEALTH_ADDR, WORKER_BATCH
// and the common NATS settings).
package main

import (
	"time"

	"github.com/logchat/ingest/worker"
	"github.com/logchat/searcher/index"
)

func main() {
	worker.Main(worker.Spec[index.Config]{
		Name:         "searcher",
		DefaultBatch: 1000,
		// A call is a transaction whatever its size (a read of the batch's
		// documents, the term rows' inserts, the progress row, a commit that
		// flushes the redo log), and the target is "searchable within 1 s at
		// p99": a busy stream may wait 100 ms to share one, so that at
		// 2,000 msg/s a call carries ~200 messages instead of ~40 (measured:
		// docs/performance-notes.md, "Search"). A lone message is never held
		// (the linger is adaptive, bus.RunnerConfig.Linger).
		DefaultLinger: 100 * time.Millisecond,
		DefaultAddr:   "127.0.0.1:9105",
		Config:        index.ReadConfig,
		Open:          index.Open,
	})
}
