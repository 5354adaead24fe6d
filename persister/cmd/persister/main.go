// Command persister projects the log into MySQL: messages, read positions and
// each partition's progress. Configuration: docs/design.md (MYSQL_DSN,
// HEALTH_ADDR, WORKER_BATCH and the common NATS settings).
package main

import (
	"time"

	"github.com/logchat/ingest/worker"
	"github.com/logchat/persister/projection"
)

func main() {
	worker.Main(worker.Spec[projection.Config]{
		Name:         "persister",
		DefaultBatch: 1000,
		// A call costs the same for one event or fifty (a transaction and its
		// commit, or a pipeline, and an ack); nobody waits on this
		// projection within 20 ms (realtime delivery is the notifier's), so
		// a busy trickle is applied in shared calls (docs/performance.md).
		DefaultLinger: 20 * time.Millisecond,
		DefaultAddr:   "127.0.0.1:9101",
		Config:        projection.ReadConfig,
		Open:          projection.Open,
	})
}
