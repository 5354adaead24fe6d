package verify

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/logchat/persister/projection"
	"github.com/logchat/searcher/index"
	"github.com/logchat/storage/sqlstore"
)

// scratchDB is the rebuilt database: the persister's handler over it, and a
// plain connection for the comparison.
type scratchDB struct {
	store      *sqlstore.Store // the cache's Loader
	projStore  *sqlstore.Store // the persister's (READ COMMITTED sessions)
	projection *projection.Handler
	searcher   *index.Handler // the search index, on the same scratch database
	db         *sql.DB
	shards     []*sql.DB // each shard's rebuild, in the order of the shards
}

func (s *scratchDB) close() {
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.projStore != nil {
		_ = s.projStore.Close()
	}
	if s.db != nil {
		_ = s.db.Close()
	}
	for _, db := range s.shards {
		_ = db.Close()
	}
}

// createScratch creates the scratch database, migrates it with the
// project's migrations, and copies into it what the gateway writes and the
// log does not carry (users, blocks, avatars), with the persister's columns,
// if any, as the gateway leaves them at creation. A partly created scratch
// is returned with the error, so that it is closed and dropped.
//
// shardNames are the live shards beyond main: each gets a scratch database
// of its own, name_<shard>, and the scratch store places chats by the copy
// of the live directory, so each chat is rebuilt on its shard's scratch.
func createScratch(ctx context.Context, admin *mysql.Config, liveName, name string, shardNames []string, log *slog.Logger) (*scratchDB, error) {
	server := admin.Clone()
	server.DBName = ""
	sdb, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		return nil, err
	}
	names := []string{name}
	for _, sh := range shardNames {
		names = append(names, name+"_"+sh)
	}
	for _, n := range names {
		_, err = sdb.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(n)+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
		if err != nil {
			sdb.Close()
			return nil, fmt.Errorf("create scratch database %s (the account needs CREATE and DROP on it: deploy/mysql/accounts.sh grants them on <database>_verify_*): %w", n, err)
		}
	}
	sdb.Close()
	cfg := withParseTime(admin)
	cfg.DBName = name
	dsn := cfg.FormatDSN()
	s := &scratchDB{}
	var shards []sqlstore.ShardDSN
	for i, sh := range shardNames {
		c := cfg.Clone()
		c.DBName = names[i+1]
		shards = append(shards, sqlstore.ShardDSN{Name: sh, DSN: c.FormatDSN()})
		db, err := sql.Open("mysql", c.FormatDSN())
		if err != nil {
			return s, err
		}
		s.shards = append(s.shards, db)
	}
	if s.store, err = sqlstore.Open(ctx, dsn, sqlstore.WithShards(shards)); err != nil {
		return s, err
	}
	if err := s.store.Migrate(ctx); err != nil {
		return s, fmt.Errorf("migrate scratch database: %w", err)
	}
	if s.projStore, err = sqlstore.OpenProjection(ctx, dsn, sqlstore.WithShards(shards)); err != nil {
		return s, err
	}
	s.projection = projection.New(s.projStore, log)
	s.searcher = index.New(s.projStore, log)
	if s.db, err = sql.Open("mysql", dsn); err != nil {
		return s, err
	}
	for _, t := range gatewayTables {
		if err := copyTable(ctx, s.db, liveName, name, t); err != nil {
			return s, err
		}
	}
	return s, nil
}

// copyTable copies a gateway table from the live database, with the
// persister's columns set to their value at creation.
func copyTable(ctx context.Context, db *sql.DB, from, to string, t gatewayTable) error {
	cols, err := columns(ctx, db, to, t.name)
	if err != nil {
		return err
	}
	names := make([]string, len(cols))
	exprs := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c.name)
		exprs[i] = quoteIdent(c.name)
		if e, ok := t.projected[c.name]; ok {
			exprs[i] = e
		}
	}
	q := fmt.Sprintf("INSERT INTO %s.%s (%s) SELECT %s FROM %s.%s", quoteIdent(to), quoteIdent(t.name),
		strings.Join(names, ", "), strings.Join(exprs, ", "), quoteIdent(from), quoteIdent(t.name))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("copy %s from the live database: %w", t.name, err)
	}
	return nil
}

func dropScratch(ctx context.Context, admin *mysql.Config, name string) error {
	server := admin.Clone()
	server.DBName = ""
	db, err := sql.Open("mysql", server.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name))
	return err
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
