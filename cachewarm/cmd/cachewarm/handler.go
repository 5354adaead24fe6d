package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
)

// Defaults of a developer machine (docs/design.md).
const defaultRedisPrefix = "lc:"

// settings are cachewarm's own (worker.Config holds the common ones).
type settings struct {
	Redis       redisconn.Config // address, login, TLS
	RedisPrefix string
	MySQLDSN    string              // secret: it may carry a password
	MySQLShards []sqlstore.ShardDSN // secret: the chat shards beyond main
	Recent      int                 // newest messages indexed per chat for unread counts
}

// readSettings reads cachewarm's settings from env and states their rules;
// it opens nothing.
func readSettings(env *config.Env) settings {
	s := settings{
		Redis:       redisconn.FromEnv(env),
		RedisPrefix: env.String("REDIS_PREFIX", defaultRedisPrefix),
		MySQLDSN:    sqlstore.DSNFromEnv(env, "MYSQL_DSN"),
		MySQLShards: sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS"),
		Recent:      env.Int("CACHE_RECENT_MESSAGES", chatcache.DefaultRecentMessages),
	}
	env.Check(s.RedisPrefix != "", "REDIS_PREFIX must not be empty: the cache's keys need a namespace of their own")
	env.Check(s.Recent >= 1, "CACHE_RECENT_MESSAGES must be at least 1")
	return s
}

// open builds the handler over Redis and MySQL (chats are loaded from MySQL
// when Redis lost them). Both connect lazily: an outage shows in /readyz.
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
	cache := chatcache.New(rdb, s.RedisPrefix, st)
	cache.SetRecentMessages(s.Recent)
	closeAll := func() {
		_ = rdb.Close()
		_ = st.Close()
	}
	return worker.Opened{Handler: &handler{cache: cache, mysql: st},
		Checks: obs.Checks{"redis": cache.Ping, "mysql": st.Ping}, Close: closeAll}, nil
}

// handler applies the log to the chat cache.
type handler struct {
	cache *chatcache.Cache
	mysql interface {
		Ping(ctx context.Context) error
	}
}

// Handle applies a batch. An event that can never apply (the cache reports
// domain.ErrInvalid) is permanent; the cache's error names it only in words,
// so the runtime finds it by going one event at a time (Redis calls are
// cheap, and poison is rare).
func (h *handler) Handle(ctx context.Context, events []event.Event) error {
	err := h.cache.ApplyEvents(ctx, events)
	if errors.Is(err, domain.ErrInvalid) {
		return bus.Permanent(err)
	}
	return err
}

// Ping tells an outage from a poison event: both Redis and MySQL (which
// batches after a flush need) must answer.
func (h *handler) Ping(ctx context.Context) error {
	return errors.Join(h.cache.Ping(ctx), h.mysql.Ping(ctx))
}

var _ bus.Pinger = (*handler)(nil)
