// Package verify is the convergence check behind `ingest verify`: it proves
// that the live projections are what the log builds.
//
// It records the log's last sequence S, rebuilds MySQL and the Redis chat
// cache from sequence 1 to S into scratch targets (a scratch database on the
// live one's server, a scratch key prefix in the live Redis) with the
// workers' own code (persister/projection's handler, chatcache.ApplyEvents),
// per partition and in log order, in batches as the runtime makes them; it
// waits until the live persister and cachewarm have acknowledged every event
// up to S; then it compares:
//
//   - MySQL, row by row, every column of the tables the persister writes
//     (discovered from the schema: see tables.go for what is left out and
//     why), chats and members included: the gateway writes them first, and
//     the persister rebuilds them from their events' chat versions;
//   - Redis, semantically: for every user in MySQL, the chat list the API
//     would show (chatcache.ChatList: entries in order, last message, unread
//     count, read position, updated_at), the live cache over the live
//     database against the scratch cache over the scratch database. Keys
//     are not compared one by one: floors and lists rebuilt lazily from
//     MySQL legitimately differ between two caches that give the same
//     answers. Reading a cold list rebuilds it from MySQL, in the live cache
//     as in the scratch one, exactly as the gateway's read would.
//
// Rows and entries changed by events after S (a message id, a read position
// or a last message above S) are left out of both sides and counted: the
// check is exact on a quiet system and does not report the traffic that
// arrived while it ran.
//
// The durable consumers are not touched: the log is read with an ordered
// (ephemeral) consumer.
package verify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
)

// Options say what to check.
type Options struct {
	JS       jetstream.JetStream
	Topology bus.Topology
	// MySQLDSN is the live database (read only).
	MySQLDSN string
	// Shards are the live chat shards beyond the main database
	// (MYSQL_SHARDS). Each is rebuilt in a scratch database of its own
	// (<scratch>_<shard name>) on the admin account's server and compared
	// with the live one.
	Shards []sqlstore.ShardDSN
	// AdminDSN is an account on the same server that may create, migrate
	// and drop the scratch database (<live name>_verify_<random>) and read
	// the live one; MySQLDSN when empty.
	AdminDSN    string
	Redis       redis.UniversalClient
	RedisPrefix string // the live cache's; the scratch one is under it
	// Batch is the most events of one partition applied in one call
	// (WORKER_BATCH of the workers; default 1000).
	Batch int
	// Wait bounds the wait for the live workers to acknowledge S (default 2 min).
	Wait time.Duration
	// Keep leaves the scratch database and keys in place for inspection.
	Keep bool
	// Show is how many differences the report keeps in full (default 20).
	Show int
	Log  *slog.Logger
}

// Diff is one difference between the live projection and the rebuilt one.
type Diff struct {
	View    string `json:"view"` // a table, or "chat lists"
	Key     string `json:"key"`
	Live    string `json:"live"`
	Rebuilt string `json:"rebuilt"`
}

func (d Diff) String() string {
	return fmt.Sprintf("%s %s:\n    live:    %s\n    rebuilt: %s", d.View, d.Key, d.Live, d.Rebuilt)
}

// ViewResult is the comparison of one table or view.
type ViewResult struct {
	View        string `json:"view"`
	Compared    int    `json:"compared"`    // rows or entries compared
	AfterS      int    `json:"after_s"`     // left out: changed by events after S
	Differences int    `json:"differences"` // every one, not only those shown
}

// Report is what a check found.
type Report struct {
	LastSeq uint64 `json:"last_seq"` // S
	Events  int    `json:"events"`   // events read and applied, 1..S
	// Refused are events the workers' code refuses for good (the live
	// workers dead-letter them): per worker, their sequences.
	Refused       map[string][]uint64 `json:"refused,omitempty"`
	Views         []ViewResult        `json:"views"`
	Differences   int                 `json:"differences"`
	Shown         []Diff              `json:"shown"`
	ScratchDB     string              `json:"scratch_db"`
	ScratchShards []string            `json:"scratch_shards,omitempty"`
	ScratchPrefix string              `json:"scratch_prefix"`
	Kept          bool                `json:"kept"`
	Took          time.Duration       `json:"took_ns"`
}

// Converged reports whether nothing differed.
func (r *Report) Converged() bool { return r.Differences == 0 }

// collector gathers differences, keeping the first few in full.
type collector struct {
	show  int
	total int
	shown []Diff
}

func (c *collector) add(d Diff) {
	c.total++
	if len(c.shown) < c.show {
		c.shown = append(c.shown, d)
	}
}

// Run performs the check. An error means the check itself could not be made
// (a service unreachable, the log no longer starting at 1, the live workers
// not catching up in time); a divergence is a Report that is not Converged.
func Run(ctx context.Context, o Options) (*Report, error) {
	started := time.Now()
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Wait <= 0 {
		o.Wait = 2 * time.Minute
	}
	if o.Show <= 0 {
		o.Show = 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AdminDSN == "" {
		o.AdminDSN = o.MySQLDSN
	}
	rep := &Report{Refused: map[string][]uint64{}}

	// 1. S, and a log that still holds everything up to it.
	stream, err := o.JS.Stream(ctx, o.Topology.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", o.Topology.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", o.Topology.Stream, err)
	}
	rep.LastSeq = info.State.LastSeq
	if info.State.Msgs > 0 && info.State.FirstSeq > 1 {
		return nil, fmt.Errorf("the log starts at sequence %d (older events expired or were purged): the projections cannot be rebuilt from it", info.State.FirstSeq)
	}

	// 2. Scratch targets.
	liveCfg, err := mysql.ParseDSN(o.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("live mysql dsn: %w", err)
	}
	adminCfg, err := mysql.ParseDSN(o.AdminDSN)
	if err != nil {
		return nil, fmt.Errorf("admin mysql dsn: %w", err)
	}
	if liveCfg.Addr != adminCfg.Addr {
		return nil, fmt.Errorf("the scratch database must be on the live database's server (%s), the admin account's is %s", liveCfg.Addr, adminCfg.Addr)
	}
	suffix := randomSuffix()
	rep.ScratchDB = liveCfg.DBName + "_verify_" + suffix
	rep.ScratchPrefix = o.RedisPrefix + "verify-" + suffix + ":"
	var shardNames []string
	for _, sh := range o.Shards {
		shardNames = append(shardNames, sh.Name)
		rep.ScratchShards = append(rep.ScratchShards, rep.ScratchDB+"_"+sh.Name)
	}
	for _, n := range append([]string{rep.ScratchDB}, rep.ScratchShards...) {
		if len(n) > 64 {
			return nil, fmt.Errorf("scratch database name %s is longer than MySQL allows", n)
		}
	}
	scratch, err := createScratch(ctx, adminCfg, liveCfg.DBName, rep.ScratchDB, shardNames, o.Log)
	if scratch != nil {
		defer scratch.close()
	}
	defer func() {
		if o.Keep {
			rep.Kept = true
			return
		}
		// Cleaned up whatever happened, even after the caller's context ended.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, n := range append([]string{rep.ScratchDB}, rep.ScratchShards...) {
			if err := dropScratch(cctx, adminCfg, n); err != nil {
				o.Log.Error("drop the scratch database", slog.String("database", n), slog.Any("err", err))
			}
		}
		if err := deleteKeys(cctx, o.Redis, rep.ScratchPrefix); err != nil {
			o.Log.Error("delete the scratch keys", slog.String("prefix", rep.ScratchPrefix), slog.Any("err", err))
		}
	}()
	if err != nil {
		return nil, err
	}
	scratchCache := chatcache.New(o.Redis, rep.ScratchPrefix, scratch.store)

	// 3. The log, 1..S, through the workers' code.
	o.Log.Info("rebuilding from the log", slog.Uint64("last_seq", rep.LastSeq), slog.String("database", rep.ScratchDB), slog.String("prefix", rep.ScratchPrefix))
	lastOf, err := rebuild(ctx, o, stream, rep, scratch.projection, scratch.searcher, scratchCache)
	if err != nil {
		return nil, err
	}

	// 4. The live workers have applied everything up to S.
	if err := waitForWorkers(ctx, o, lastOf); err != nil {
		return nil, err
	}

	// 5. Compare.
	live, err := sqlstore.Open(ctx, o.MySQLDSN, sqlstore.WithShards(o.Shards))
	if err != nil {
		return nil, fmt.Errorf("open live database: %w", err)
	}
	defer live.Close()
	liveDB, err := sql.Open("mysql", withParseTime(liveCfg).FormatDSN())
	if err != nil {
		return nil, err
	}
	defer liveDB.Close()
	col := &collector{show: o.Show}
	views, err := compareTables(ctx, liveDB, scratch.db, liveCfg.DBName, rep.LastSeq, col)
	if err != nil {
		return nil, err
	}
	rep.Views = append(rep.Views, views...)
	// Each shard with its rebuild: its views are named <shard>/<table>.
	for i, sh := range o.Shards {
		views, err := compareShard(ctx, sh, scratch.shards[i], rep.LastSeq, col)
		if err != nil {
			return nil, err
		}
		rep.Views = append(rep.Views, views...)
	}
	liveCache := chatcache.New(o.Redis, o.RedisPrefix, live)
	view, err := compareChatLists(ctx, liveDB, liveCache, scratchCache, rep.LastSeq, col)
	if err != nil {
		return nil, err
	}
	rep.Views = append(rep.Views, view)
	rep.Differences, rep.Shown = col.total, col.shown
	rep.Took = time.Since(started)
	return rep, nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withParseTime(c *mysql.Config) *mysql.Config {
	c = c.Clone()
	c.ParseTime = true
	c.Loc = time.UTC
	return c
}

// deleteKeys deletes every key under prefix. On Redis Cluster SCAN lists
// one node's keys, so every master is scanned; the keys are deleted one DEL
// each, pipelined (one DEL of keys of several slots is refused there).
func deleteKeys(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		var errs []error
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		flush := func() {
			if len(keys) > 0 {
				_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range keys {
						p.Del(ctx, k)
					}
					return nil
				})
				errs = append(errs, err)
				keys = keys[:0]
			}
		}
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 500 {
				flush()
			}
		}
		flush()
		errs = append(errs, iter.Err())
		return errors.Join(errs...)
	}
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		return cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	}
	return scan(ctx, rdb)
}

// compareShard compares a live shard with its rebuild.
func compareShard(ctx context.Context, live sqlstore.ShardDSN, scratch *sql.DB, lastSeq uint64, col *collector) ([]ViewResult, error) {
	cfg, err := mysql.ParseDSN(live.DSN)
	if err != nil {
		return nil, fmt.Errorf("shard %s: live mysql dsn: %w", live.Name, err)
	}
	db, err := sql.Open("mysql", withParseTime(cfg).FormatDSN())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	named := &collector{show: col.show - len(col.shown)}
	views, err := compareTables(ctx, db, scratch, cfg.DBName, lastSeq, named)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", live.Name, err)
	}
	for i := range views {
		views[i].View = live.Name + "/" + views[i].View
	}
	col.total += named.total
	for _, d := range named.shown {
		d.View = live.Name + "/" + d.View
		col.shown = append(col.shown, d)
	}
	return views, nil
}
