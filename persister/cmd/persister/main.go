// Command persister projects the log into MySQL: messages, read positions and
// each partition's progress. Configuration: docs/design.md (MYSQL_DSN,
// HEALTH_ADDR, WORKER_BATCH and the common NATS settings).
package main

import (
	"github.com/logchat/ingest/worker"
	"github.com/logchat/persister/projection"
)

func main() {
	worker.Main(worker.Spec[projection.Config]{
		Name:         "persister",
		DefaultBatch: 1000,
		DefaultAddr:  "127.0.0.1:9101",
		Config:       projection.ReadConfig,
		Open:         projection.Open,
	})
}
