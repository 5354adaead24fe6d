package workertest

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// RedisKeys snapshots every key under prefix: key (prefix cut off) -> its
// type and value, members sorted where Redis keeps no order.
func RedisKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) (map[string]string, error) {
	out := map[string]string{}
	// SCAN lists one node's keys: on Redis Cluster, every master's.
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		err := cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			keys, err := RedisKeys(ctx, node, prefix)
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(out, keys)
			return err
		})
		return out, err
	}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			return nil, fmt.Errorf("type of %s: %w", key, err)
		}
		var val string
		switch typ {
		case "string":
			val, err = rdb.Get(ctx, key).Result()
		case "hash":
			var m map[string]string
			if m, err = rdb.HGetAll(ctx, key).Result(); err == nil {
				val = sortedPairs(m)
			}
		case "set":
			var ms []string
			if ms, err = rdb.SMembers(ctx, key).Result(); err == nil {
				sort.Strings(ms)
				val = strings.Join(ms, " ")
			}
		case "zset":
			var zs []redis.Z
			if zs, err = rdb.ZRangeWithScores(ctx, key, 0, -1).Result(); err == nil {
				parts := make([]string, len(zs))
				for i, z := range zs {
					parts[i] = fmt.Sprintf("%v=%v", z.Member, z.Score)
				}
				val = strings.Join(parts, " ")
			}
		case "list":
			var ls []string
			if ls, err = rdb.LRange(ctx, key, 0, -1).Result(); err == nil {
				val = strings.Join(ls, " | ")
			}
		default:
			val = "(a " + typ + ")"
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		out[strings.TrimPrefix(key, prefix)] = typ + " " + val
	}
	return out, iter.Err()
}

func sortedPairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

// SQLRows snapshots query results: for each name, a query whose first
// column is the row's key within it; the other columns are its value.
func SQLRows(ctx context.Context, db *sql.DB, queries map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for name, q := range queries {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, err
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			parts := make([]string, 0, len(cols)-1)
			for i, v := range vals[1:] {
				s := "NULL"
				if v.Valid {
					s = v.String
				}
				parts = append(parts, cols[i+1]+"="+s)
			}
			out[name+"/"+vals[0].String] = strings.Join(parts, " ")
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, nil
}
