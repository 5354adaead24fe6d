// Package store is the MySQL side of the system: the schema (migrations/), the
// gateway's strongly consistent tables (users, chats, members) with the
// outbox of their log events (outbox.go), and the persister's projection of
// the log (messages, read positions, progress).
//
// Chat-scoped rows (messages, read positions, hides, the search index; the
// list is chatTables in move.go) are reached through a ShardResolver: the
// main database alone (SingleShard), or the chat directory over the shards
// of MYSQL_SHARDS (Directory, shards.go, where the rules of placement,
// routing, fencing and moving are written down). Users, chats, memberships
// and the directory live in the main database. No query joins a shard table
// with a main table: authors' names are looked up in the main database
// after the shard query.
//
// Errors: domain.ErrNotFound for a missing row, domain.ErrConflict for a
// taken unique key; anything else is a wrapped driver error (an outage).
//
// Times are stored as DATETIME(3) in UTC and returned in UTC, truncated to
// milliseconds (the API's precision).
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/logchat/shared/domain"
)

// ShardResolver maps chats to the databases holding their chat-scoped rows
// (shards.go).
type ShardResolver interface {
	// Resolve returns the shard of each chat.
	Resolve(ctx context.Context, chatIDs []int64) (map[int64]Shard, error)
	// Shards lists every shard (for migrations, progress and health).
	Shards() []Shard
}

// Shard is one database of chat-scoped rows.
type Shard struct {
	Name string
	DB   *sql.DB
}

// SingleShard is the resolver of an unsharded deployment: every chat lives on
// one database (the main one, as Open sets it up).
type SingleShard struct{ Shard Shard }

// Resolve returns the one shard for every chat.
func (r SingleShard) Resolve(_ context.Context, chatIDs []int64) (map[int64]Shard, error) {
	out := make(map[int64]Shard, len(chatIDs))
	for _, c := range chatIDs {
		out[c] = r.Shard
	}
	return out, nil
}

// Shards returns the one shard.
func (r SingleShard) Shards() []Shard { return []Shard{r.Shard} }

// Store is the MySQL store.
type Store struct {
	main   *sql.DB
	shards ShardResolver
	// readCommitted: every session of the pools is READ COMMITTED already
	// (OpenProjection), so a batch's transaction needs no SET of its own.
	readCommitted bool

	// idleAt is when each shard last recorded progress for a batch that did
	// not touch it (idleProgressDue).
	idleMu sync.Mutex
	idleAt map[string]time.Time
}

// Pool settings. Every process (gateway, persister, cachewarm) opens one pool;
// the persister's partitions each hold a connection while a batch applies.
const (
	maxOpenConns    = 24
	maxIdleConns    = 24
	connMaxLifetime = 30 * time.Minute
	connMaxIdleTime = 5 * time.Minute
	dialTimeout     = 5 * time.Second
)

// Open connects to the main database (dsn, go-sql-driver format) and uses it
// as the single shard. It does not migrate; call Migrate.
//
// The DSN gets parseTime=true, loc=UTC and interpolateParams=true (one round
// trip per query instead of prepare, execute, close). Connections are made
// lazily: Open fails only on a malformed DSN, so a process can start while
// MySQL is down and report it through Ping.
//
// WithShards adds shard databases (MYSQL_SHARDS): chats are then placed and
// found through the directory (shards.go).
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	return open(dsn, "", opts)
}

func open(dsn, sessionInit string, opts []Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	db, err := openDB(dsn, sessionInit)
	if err != nil {
		return nil, err
	}
	st := &Store{main: db, readCommitted: sessionInit != ""}
	main := Shard{Name: MainShard, DB: db}
	if len(o.shards) == 0 {
		st.shards = SingleShard{main}
		return st, nil
	}
	var shards []Shard
	for _, sd := range o.shards {
		sdb, err := openDB(sd.DSN, sessionInit)
		if err != nil {
			_ = db.Close()
			for _, s := range shards {
				_ = s.DB.Close()
			}
			// openDB's errors name the fault, never the DSN.
			return nil, fmt.Errorf("shard %s: %w", sd.Name, err)
		}
		shards = append(shards, Shard{Name: sd.Name, DB: sdb})
	}
	st.shards = newDirectory(main, shards, o.weights, o.ttl)
	return st, nil
}

// OpenProjection is Open for the persister, whose transactions (ApplyBatch)
// all run READ COMMITTED: every connection is made READ COMMITTED for its
// whole session when it is opened. Setting the level per transaction costs
// a statement and a round trip before each one, a seventh of a small
// batch's (docs/performance.md).
func OpenProjection(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	return open(dsn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", opts)
}

// CheckDSN tells whether dsn is one Open accepts, without connecting: a
// process checks its settings before it opens anything.
func CheckDSN(dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("parse mysql dsn: %w", err)
	}
	if cfg.DBName == "" {
		return errors.New("mysql dsn names no database")
	}
	return nil
}

// openDB opens a pool; sessionInit, if not empty, is a statement every new
// connection runs before it is used.
func openDB(dsn, sessionInit string) (*sql.DB, error) {
	if dsn == "" {
		// The driver would read "" as an anonymous login to 127.0.0.1:3306,
		// and a process would wait for a schema it may never see.
		return nil, errors.New("no MySQL DSN: set MYSQL_DSN (MIGRATE_MYSQL_DSN for the migrate command)")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	// Migrations are split into statements here; one statement per query
	// keeps a stray ';' in a parameter from ever being a second statement.
	cfg.MultiStatements = false
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	if sessionInit != "" {
		conn = sessionConnector{Connector: conn, init: sessionInit}
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	return db, nil
}

// sessionConnector runs a statement on every new connection.
type sessionConnector struct {
	driver.Connector
	init string
}

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("mysql connection cannot execute a session statement")
	}
	if _, err := ex.ExecContext(ctx, c.init, nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", c.init, err)
	}
	return conn, nil
}

// Close closes every connection pool.
func (s *Store) Close() error {
	var errs []error
	for _, db := range s.databases() {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

// Ping checks the main database and every shard.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range s.databases() {
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("ping mysql: %w", err)
		}
	}
	return nil
}

// PingMain checks the main database only. It is the gateway's readiness:
// a chat shard being down fails the requests that read that shard's rows
// (503), but sends (the log), the other shards' chats and everything in the
// main database are still served, so a balancer must not take every gateway
// out for one shard.
func (s *Store) PingMain(ctx context.Context) error {
	if err := s.main.PingContext(ctx); err != nil {
		return fmt.Errorf("ping mysql: %w", err)
	}
	return nil
}

// databases lists the main database and every shard, each pool once.
func (s *Store) databases() []*sql.DB {
	out := []*sql.DB{s.main}
	for _, sh := range s.shards.Shards() {
		dup := false
		for _, db := range out {
			dup = dup || db == sh.DB
		}
		if !dup {
			out = append(out, sh.DB)
		}
	}
	return out
}

// ---- helpers shared by the queries ----

// MySQL error numbers the store translates or retries.
const (
	errDupEntry    = 1062
	errDeadlock    = 1213
	errNoSuchTable = 1146
)

func isMySQLError(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}

// notFound turns sql.ErrNoRows into domain.ErrNotFound and wraps the rest.
func notFound(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// placeholders returns "?,?,?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

// dbTime is how a time is written: UTC, milliseconds (DATETIME(3)).
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// querier is what a *sql.DB and a *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a transaction, committing when it returns nil. A deadlock
// (InnoDB picked this transaction as the victim and rolled it back) is
// retried a few times: the statements ran in a transaction that no longer
// exists, so running them again is the documented remedy. That is safe only
// because fn has no effect outside the transaction: even the log events of a
// change are only staged in it (the outbox), and published after commit.
func inTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	const attempts = 4
	var err error
	for attempt := 1; attempt <= attempts; attempt++ {
		err = runTx(ctx, db, opts, fn)
		if err == nil || !isMySQLError(err, errDeadlock) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
	return err
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
