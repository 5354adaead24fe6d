// Command notifier relays the log to Centrifugo: every event a client should
// see live becomes a publication on a chat or personal channel. It also
// writes each user's update stream (package updates, in Redis), which the
// gateway serves as GET /updates, and publishes every personal publication
// with the cursor the stream gave it.
//
// Settings (environment, besides the common worker ones):
// CENTRIFUGO_API_URL, CENTRIFUGO_API_KEY, REDIS_ADDR (and the other REDIS_*
// of package redisconn), REDIS_PREFIX, MYSQL_DSN (members of chats the
// stream never saw), UPDATES_KEEP, UPDATES_IDLE_TTL.
package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/logchat/ingest/worker"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/storage/updates"
)

// defaultAPIURL is Centrifugo's server API on a developer machine: its
// internal port (deploy/centrifugo/config.template.json), not the clients'.
// The API key has no default: a committed key would let anyone publish to
// any channel.
const defaultAPIURL = "http://127.0.0.1:8001/api"

func main() {
	worker.Main(worker.Spec[settings]{
		Name:         "notifier",
		DefaultBatch: 1000,
		DefaultAddr:  "127.0.0.1:9103",
		Config:       readSettings,
		Open:         open,
	})
}

// settings are the notifier's own (worker.Config holds the common ones).
type settings struct {
	APIURL string // Centrifugo's server API
	APIKey string // secret

	Redis       redisconn.Config // the update streams' Redis
	RedisPrefix string
	MySQLDSN    string              // secret: it may carry a password
	MySQLShards []sqlstore.ShardDSN // secret: the chat shards beyond main
	Updates     updates.Settings    // what a user's stream keeps
}

// readSettings reads the notifier's settings from env and states their
// rules; it opens nothing.
func readSettings(env *config.Env) settings {
	s := settings{
		APIURL: env.String("CENTRIFUGO_API_URL", defaultAPIURL),
		APIKey: env.RequiredSecret("CENTRIFUGO_API_KEY"),

		Redis:       redisconn.FromEnv(env),
		RedisPrefix: env.String("REDIS_PREFIX", "lc:"),
		MySQLDSN:    sqlstore.DSNFromEnv(env, "MYSQL_DSN"),
		MySQLShards: sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS"),
		Updates:     updates.SettingsFromEnv(env),
	}
	env.Check(s.RedisPrefix != "", "REDIS_PREFIX must not be empty: the update streams' keys need a namespace of their own")
	u, err := url.Parse(s.APIURL)
	env.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
		"CENTRIFUGO_API_URL must be an http(s) URL such as %s", defaultAPIURL)
	return s
}

// open builds the relay over Centrifugo, Redis and MySQL; all connect
// lazily, so an outage shows in /readyz.
func open(ctx context.Context, s settings, deps worker.Deps) (worker.Opened, error) {
	st, err := sqlstore.Open(ctx, s.MySQLDSN, sqlstore.WithShards(s.MySQLShards))
	if err != nil {
		return worker.Opened{}, fmt.Errorf("open mysql: %w", err)
	}
	rdb, err := s.Redis.Client()
	if err != nil {
		_ = st.Close()
		return worker.Opened{}, fmt.Errorf("redis: %w", err)
	}
	streams := updates.New(rdb, s.RedisPrefix, s.Updates.Keep, s.Updates.IdleTTL)
	r := relay.New(relay.Config{APIURL: s.APIURL, APIKey: s.APIKey, Updates: streams, Members: st}, deps.Log, deps.Registry)
	closeAll := func() {
		r.Close()
		_ = rdb.Close()
		_ = st.Close()
	}
	return worker.Opened{Handler: r, Checks: obs.Checks{"centrifugo": r.Ping, "redis": streams.Ping, "mysql": st.Ping}, Close: closeAll}, nil
}
