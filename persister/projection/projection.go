// Package projection is the persister's consumer: it turns each batch of a
// partition's events into one sqlstore.Batch, so that a batch costs a handful of
// multi-row statements in one transaction.
//
// The persister writes what only the log knows: messages (with their edits,
// deletes and each user's hidden ones) and read positions. Chats and
// memberships are written by the gateway in the transaction that publishes
// their events; the persister applies those events only over an older
// version of the chat, which on a live system they never find, and which
// rebuilds them after a restore from a backup (sqlstore/chatreplay.go).
package projection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/sqlstore"
)

// Store is what the handler needs of the MySQL sqlstore.
type Store interface {
	ApplyBatch(ctx context.Context, b sqlstore.Batch) error
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

// New returns the persister's handler over st.
func New(st Store, log *slog.Logger) *Handler { return &Handler{store: st, log: log} }

// Handle applies events (of one or several partitions, each in log order) as
// one batch. An event whose payload can never be stored, and a message whose
// id another message holds, are reported with bus.PermanentAt; the runtime
// dead-letters it and calls again with the rest.
func (h *Handler) Handle(ctx context.Context, events []event.Event) error {
	if len(events) == 0 {
		return nil
	}
	b := sqlstore.Batch{Progress: sqlstore.Progress{}}
	for _, ev := range events {
		b.Progress[ev.Partition] = max(b.Progress[ev.Partition], ev.Seq)
		if err := Add(&b, ev); err != nil {
			return bus.PermanentAt(ev.Seq, err)
		}
	}
	if err := h.store.ApplyBatch(ctx, b); err != nil {
		var conflict *sqlstore.IDConflictError
		if errors.As(err, &conflict) {
			// A message's id is its event's sequence in the log.
			return bus.PermanentAt(uint64(conflict.ID), err)
		}
		return fmt.Errorf("batch of %d events over %d partitions: %w", len(events), len(b.Progress), err)
	}
	return nil
}

// Add puts one event's effect on MySQL into the batch, or says why it can
// never have one. (The benchmark's synchronous design applies events with it
// too.)
func Add(b *sqlstore.Batch, ev event.Event) error {
	switch ev.Type {
	case event.MessageCreated:
		m, err := ev.Message()
		if err != nil {
			return err
		}
		if err := sqlstore.ValidateMessage(m); err != nil {
			return err
		}
		b.Messages = append(b.Messages, m)
	case event.ReadMoved:
		d, err := event.Payload[event.ReadMovedData](ev.Envelope)
		if err != nil {
			return err
		}
		if d.UserID <= 0 || d.MessageID <= 0 {
			return errors.New("read.moved needs a positive user_id and message_id")
		}
		b.Reads = append(b.Reads, sqlstore.ReadMove{ChatID: ev.ChatID, UserID: d.UserID, MessageID: d.MessageID})
	case event.MessageEdited:
		m, err := ev.Edited()
		if err != nil {
			return err
		}
		b.Edits = append(b.Edits, sqlstore.MessageEdit{ChatID: m.ChatID, ID: m.ID, Text: m.Text, EditedAt: ev.At, Seq: ev.Seq})
	case event.MessageDeleted:
		d, err := ev.Deleted()
		if err != nil {
			return err
		}
		b.Deletes = append(b.Deletes, sqlstore.MessageDelete{ChatID: ev.ChatID, ID: d.MessageID, AuthorID: d.AuthorID,
			ClientID: d.ClientID, SentAt: d.SentAt, At: ev.At})
	case event.MessageHidden:
		d, err := ev.Hidden()
		if err != nil {
			return err
		}
		b.Hides = append(b.Hides, sqlstore.Hide{ChatID: ev.ChatID, UserID: d.UserID, MessageID: d.MessageID, ThroughID: d.ThroughID})
	case event.ChatCreated, event.ChatUpdated, event.MemberAdded, event.MemberUpdated, event.MemberRemoved:
		// Written by the gateway before the event was published; applied
		// here only over an older version of the chat (a restore from a
		// backup, a replay into an empty database). Events from before
		// versions existed carry none and change nothing.
		if ev.ChatVersion <= 0 {
			return nil
		}
		c, err := chatChange(ev)
		if err != nil {
			return err
		}
		b.Chats = append(b.Chats, c)
	default:
		// A newer producer's type: skipped, as the bus contract asks.
	}
	return nil
}

// chatChange is a chat.* or member.* event as sqlstore applies it.
func chatChange(ev event.Event) (sqlstore.ChatChange, error) {
	c := sqlstore.ChatChange{ChatID: ev.ChatID, Version: ev.ChatVersion, ActorID: ev.ActorID, At: ev.At}
	switch ev.Type {
	case event.ChatCreated:
		d, err := event.Payload[event.ChatCreatedData](ev.Envelope)
		if err != nil {
			return c, err
		}
		c.Op, c.Chat, c.At = sqlstore.ChatCreate, d.Chat, d.Chat.CreatedAt
	case event.ChatUpdated:
		d, err := event.Payload[event.ChatUpdatedData](ev.Envelope)
		if err != nil {
			return c, err
		}
		c.Op, c.Chat = sqlstore.ChatRetitle, d.Chat
	case event.MemberAdded:
		d, err := event.Payload[event.MemberAddedData](ev.Envelope)
		if err != nil {
			return c, err
		}
		c.Op, c.Member = sqlstore.MemberJoin, d.Member
	case event.MemberRemoved:
		d, err := event.Payload[event.MemberRemovedData](ev.Envelope)
		if err != nil {
			return c, err
		}
		c.Op, c.Member.User.ID = sqlstore.MemberLeave, d.UserID
	case event.MemberUpdated:
		d, err := event.Payload[event.MemberUpdatedData](ev.Envelope)
		if err != nil {
			return c, err
		}
		c.Op, c.Member = sqlstore.MemberSetRole, d.Member
	}
	return c, nil
}

// Ping tells an outage of MySQL from a poison event: the main database's
// (a chat shard down does not fail a batch: its part is parked, sqlstore
// parked.go; were it counted, a poison event during a shard's outage would
// hold every partition back instead of being dead-lettered).
func (h *Handler) Ping(ctx context.Context) error { return h.store.PingMain(ctx) }

// Config is the persister's own settings (worker.Config holds the common ones).
type Config struct {
	MySQLDSN string // secret: it may carry a password
	// MySQLShards are the chat shards beyond the main database (secret).
	MySQLShards []sqlstore.ShardDSN
}

// ReadConfig reads the persister's settings from env and states their rules;
// it opens nothing.
func ReadConfig(env *config.Env) Config {
	return Config{MySQLDSN: sqlstore.DSNFromEnv(env, "MYSQL_DSN"), MySQLShards: sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS")}
}

// Open opens the database, waits for its schema (the migrate command owns
// it) and builds the handler; it is the persister's worker.Spec.Open.
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
	stopDraining := st.KeepDraining(sqlstore.ParkPersister, time.Second, deps.Log)
	return worker.Opened{Handler: New(st, deps.Log), Checks: obs.Checks{"mysql": st.PingMain}, Close: func() {
		stopDraining()
		st.Close()
	}}, nil
}
