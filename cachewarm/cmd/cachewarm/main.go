// Command cachewarm projects the log into Redis: each user's chat list, chat
// summaries, read positions and unread counts (package chatcache), which the
// gateway serves GET /chats from.
//
// Settings (environment, besides the common worker ones): REDIS_ADDR,
// REDIS_PREFIX, MYSQL_DSN (chats are loaded from MySQL when Redis lost them),
// CACHE_RECENT_MESSAGES (newest messages indexed per chat for unread counts;
// a reader further behind is counted in MySQL).
package main

import "github.com/logchat/ingest/worker"

func main() { worker.Main(spec()) }

func spec() worker.Spec[settings] {
	return worker.Spec[settings]{
		Name:         "cachewarm",
		DefaultBatch: 1000,
		DefaultAddr:  "127.0.0.1:9102",
		Config:       readSettings,
		Open:         open,
	}
}
