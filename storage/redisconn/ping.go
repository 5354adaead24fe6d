package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Ping checks that every key can be served: the one Redis answers, or each
// master of a Redis Cluster answers and reports cluster_state:ok.
//
// A plain PING of a cluster client goes to the master of a random slot: with
// one master down it answers two times in three, and a worker's runtime,
// which asks its dependency before it calls a failing event poison
// (ingest/bus), would dead-letter the events of that master's chats. A
// master restarted a moment ago answers PING but refuses keys
// (CLUSTERDOWN) until it reports ok, hence the state.
func Ping(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Ping(ctx).Err()
	}
	return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("redis cluster master %s: %w", m.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("redis cluster master %s: cluster_state is not ok", m.Options().Addr)
		}
		return nil
	})
}

// PingAny checks that Redis answers at all: the one Redis, or some master
// of a Redis Cluster. It is the readiness of a process that reads through
// Redis to MySQL when a key's node fails (the gateway): one master down
// fails only some of its calls, and every instance alike, so a balancer
// must not take them all out for it.
func PingAny(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Ping(ctx).Err()
	}
	// ForEachMaster calls fn on every master at once.
	var mu sync.Mutex
	var errs []error
	answered := false
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		err := m.Ping(ctx).Err()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("redis cluster master %s: %w", m.Options().Addr, err))
		} else {
			answered = true
		}
		return nil
	})
	if err != nil {
		return err // the slot map could not be read: no node answers
	}
	if !answered {
		return errors.Join(errs...)
	}
	return nil
}
