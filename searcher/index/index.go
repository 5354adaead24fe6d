// Package index is the searcher's consumer: it turns each batch of the log's
// message events into changes of the message search index (the tables
// search_terms and search_docs on each chat's shard, storage/sqlstore), one
// transaction per shard per batch.
//
// A message.created indexes the message's terms (storage/searchtext), a
// message.edited replaces them with the new text's, a message.deleted removes
// them for good. Hides and cleared histories are a reader's view, not the
// index's: the gateway leaves them out when it reads (they are the
// persister's rows on the same shard). Everything else only advances the
// partition's progress.
package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/searchtext"
	"github.com/logchat/storage/sqlstore"
)

// Store is what the handler needs of MySQL (*sqlstore.Store).
type Store interface {
	ApplySearch(ctx context.Context, ops []sqlstore.SearchOp, progress sqlstore.Progress) error
	PingMain(ctx context.Context) error
}

// Handler implements bus.Handler and bus.Pinger.
type Handler struct {
	store Store
	log   *slog.Logger
}

var (
	_ bus.Handler = (*Handler)(nil)
	_ bus.Pinger  = (*Handler)(nil)
)

// New returns the searcher's handler over st.
func New(st Store, log *slog.Logger) *Handler { return &Handler{store: st, log: log} }

// Handle applies events (of one or several partitions, each in log order).
// An event whose payload can never be indexed is reported with
// bus.PermanentAt; the runtime dead-letters it and calls again with the rest.
func (h *Handler) Handle(ctx context.Context, events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	progress := sqlstore.Progress{}
	ops := make([]sqlstore.SearchOp, 0, len(events))
	for _, ev := range events {
		progress[ev.Partition] = max(progress[ev.Partition], ev.Seq)
		op, ok, err := Op(ev)
		if err != nil {
			return bus.PermanentAt(ev.Seq, err)
		}
		if ok {
			ops = append(ops, op)
		}
	}
	if err := h.store.ApplySearch(ctx, ops, progress); err != nil {
		if errors.Is(err, domain.ErrInvalid) {
			return bus.Permanent(err)
		}
		return fmt.Errorf("index %d events over %d partitions: %w", len(events), len(progress), err)
	}
	return nil
}

// Op is one event's change of the index (ok false: none), or why it can
// never have one. The benchmark loads its index through it.
func Op(ev event.Event) (op sqlstore.SearchOp, ok bool, err error) {
	switch ev.Type {
	case event.MessageCreated:
		m, err := ev.Message()
		if err != nil {
			return op, false, err
		}
		if err := sqlstore.ValidateMessage(m); err != nil {
			return op, false, err
		}
		return sqlstore.SearchOp{ChatID: m.ChatID, MessageID: m.ID, Version: m.ID, Terms: searchtext.Terms(m.Text)}, true, nil
	case event.MessageEdited:
		m, err := ev.Edited()
		if err != nil {
			return op, false, err
		}
		if err := domain.ValidateText(m.Text); err != nil {
			return op, false, err
		}
		return sqlstore.SearchOp{ChatID: m.ChatID, MessageID: m.ID, Version: int64(ev.Seq), Terms: searchtext.Terms(m.Text)}, true, nil
	case event.MessageDeleted:
		d, err := ev.Deleted()
		if err != nil {
			return op, false, err
		}
		return sqlstore.SearchOp{ChatID: ev.ChatID, MessageID: d.MessageID, Delete: true}, true, nil
	default:
		// Reads, hides, chats and members: nothing to index. Unknown
		// types (a newer producer's) are skipped, as the bus contract asks.
		return op, false, nil
	}
}

// Ping tells an outage of MySQL from a poison event: the main database's
// (a chat shard down does not fail a batch: its part is parked, sqlstore
// parked.go; were it counted, a poison event during a shard's outage would
// hold every partition back instead of being dead-lettered).
func (h *Handler) Ping(ctx context.Context) error { return h.store.PingMain(ctx) }

// Config is the searcher's own settings (worker.Config holds the common ones).
type Config struct {
	MySQLDSN string // secret: it may carry a password
	// MySQLShards are the chat shards beyond the main database (secret).
	MySQLShards []sqlstore.ShardDSN
}

// ReadConfig reads the searcher's settings from env; it opens nothing.
func ReadConfig(env *config.Env) Config {
	return Config{MySQLDSN: sqlstore.DSNFromEnv(env, "MYSQL_DSN"), MySQLShards: sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS")}
}

// Open opens the database (READ COMMITTED sessions, as the persister's),
// waits for its schema and builds the handler; the searcher's
// worker.Spec.Open.
func Open(ctx context.Context, cfg Config, deps worker.Deps) (worker.Opened, error) {
	st, err := sqlstore.OpenProjection(ctx, cfg.MySQLDSN, sqlstore.WithShards(cfg.MySQLShards))
	if err != nil {
		return worker.Opened{}, err
	}
	if err := st.WaitForSchema(ctx, deps.Log); err != nil {
		st.Close()
		return worker.Opened{}, err
	}
	// A chat shard down does not stop this writer (its parts are parked,
	// sqlstore parked.go), so only the main database is its readiness.
	stopDraining := st.KeepDraining(sqlstore.ParkSearcher, time.Second, deps.Log)
	return worker.Opened{Handler: New(st, deps.Log), Checks: obs.Checks{"mysql": st.PingMain}, Close: func() {
		stopDraining()
		st.Close()
	}}, nil
}
