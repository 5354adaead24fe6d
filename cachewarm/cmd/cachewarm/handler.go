package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
)

// Defaults of a developer machine (docs/design.md).
const (
	defaultRedisAddr   = "127.0.0.1:6379"
	defaultRedisPrefix = "lc:"
	defaultMySQLDSN    = sqlstore.DefaultDSN
)

func setup(ctx context.Context, env *config.Env, deps worker.Deps) (bus.Handler, obs.Checks, func(), error) {
	addr := env.String("REDIS_ADDR", defaultRedisAddr)
	prefix := env.String("REDIS_PREFIX", defaultRedisPrefix)
	dsn := env.Secret("MYSQL_DSN", defaultMySQLDSN)
	recent := env.Int("CACHE_RECENT_MESSAGES", chatcache.DefaultRecentMessages)
	env.Check(addr != "", "REDIS_ADDR must not be empty")
	env.Check(prefix != "", "REDIS_PREFIX must not be empty: the cache's keys need a namespace of their own")
	env.Check(recent >= 1, "CACHE_RECENT_MESSAGES must be at least 1")

	// Open fails only on a malformed DSN; MySQL being down shows in /readyz.
	st, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("MYSQL_DSN: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	cache := chatcache.New(rdb, prefix, st)
	cache.SetRecentMessages(recent)
	h := &handler{cache: cache, mysql: st}
	closeAll := func() {
		_ = rdb.Close()
		_ = st.Close()
	}
	return h, obs.Checks{"redis": cache.Ping, "mysql": st.Ping}, closeAll, nil
}

// handler applies the log to the chat cache.
type handler struct {
	cache *chatcache.Cache
	mysql interface {
		Ping(ctx context.Context) error
	}
}

// Handle applies a batch; an event that can never apply is dead-lettered.
func (h *handler) Handle(ctx context.Context, events []event.Event) error {
	err := h.cache.ApplyEvents(ctx, events)
	var bad *chatcache.BadEventError
	if errors.As(err, &bad) {
		return bus.Permanent(bad.Seq, bad.Err)
	}
	return err
}

// Ping tells an outage from a poison event: both Redis and MySQL (which
// batches after a flush need) must answer.
func (h *handler) Ping(ctx context.Context) error {
	return errors.Join(h.cache.Ping(ctx), h.mysql.Ping(ctx))
}

var _ bus.Pinger = (*handler)(nil)
