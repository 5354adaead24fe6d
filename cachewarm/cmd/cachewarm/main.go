// Command cachewarm projects the log into Redis: each user's chat list, chat
// summaries, read positions and unread counts (package chatcache), which the
// gateway serves GET /chats from.
//
// Settings (environment, besides the common worker ones): REDIS_ADDR,
// REDIS_PREFIX, MYSQL_DSN (chats are loaded from MySQL when Redis lost them),
// CACHE_RECENT_MESSAGES (newest messages indexed per chat for unread counts;
// a reader further behind is counted in MySQL).
package main

import (
	"time"

	"github.com/logchat/ingest/worker"
)

func main() { worker.Main(spec()) }

func spec() worker.Spec[settings] {
	return worker.Spec[settings]{
		Name:         "cachewarm",
		DefaultBatch: 1000,
		// A call costs the same for one event or fifty (a transaction and its
		// commit, or a pipeline, and an ack); nobody waits on this
		// projection within 20 ms (realtime delivery is the notifier's), so
		// a busy trickle is applied in shared calls (docs/performance.md).
		DefaultLinger: 20 * time.Millisecond,
		DefaultAddr:   "127.0.0.1:9102",
		Config:        readSettings,
		Open:          open,
	}
}
