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
		// Like the persister: a call is a transaction whatever its size, and
		// the promise is "searchable within 2 s", so a busy trickle may wait
		// 20 ms to share one.
		DefaultLinger: 20 * time.Millisecond,
		DefaultAddr:   "127.0.0.1:9105",
		Config:        index.ReadConfig,
		Open:          index.Open,
	})
}
