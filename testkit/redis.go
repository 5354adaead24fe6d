package testkit

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisAddr is the Redis the tests use; LOGCHAT_TEST_REDIS overrides it.
func RedisAddr() string { return env("LOGCHAT_TEST_REDIS", "127.0.0.1:6379") }

// Redis returns a client and a key prefix of the test's own. Keys under the
// prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s (`make services` starts it): %v", RedisAddr(), err)
	}
	prefix := "t" + RandomID() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 1000 {
				rdb.Del(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}
