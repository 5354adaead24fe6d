// Package syncsend is the synchronous design, the benchmark's baseline: the
// way the original simple chat worked and most tutorials do it. The request
// inserts the message into MySQL, updates Redis and publishes to Centrifugo
// before it answers; there is no log.
//
// It is a Log of the gateway (gateway/server.Log) that writes instead of
// appending, so that bench/cmd/baseline runs the gateway's own HTTP layer and
// rules, and only the write differs. The writes are the very code the
// workers run — sqlstore ApplyBatch, chatcache ApplyEvents and notifier/relay
// Handle — one event at a time in the request, so a comparison isolates the
// architecture, not the implementations.
//
// Ids. Without a log there is no stream sequence to be a message's id. They
// come from a MySQL counter of the baseline's own (Counter, table id_blocks)
// handed out in blocks of IDBlock, so the id source costs one round trip per
// block rather than one per send: the comparison is about where the writes
// happen, not about a ticket server. Ids must still increase within a chat in
// the order messages are accepted and published, so one chat's sends run one
// at a time (a lock per chat, striped) from taking an id to publishing. That
// holds within one process: the baseline is a single instance, not a
// deployment option.
package syncsend

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/persister/projection"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// IDBlock is how many ids one reservation takes.
const IDBlock = 1000

// counter is the id_blocks row of the baseline.
const counter = "sync_send"

// Store is what the writer needs of MySQL (*sqlstore.Store).
type Store interface {
	ApplyBatch(ctx context.Context, b sqlstore.Batch) error
	MessageIDByClientID(ctx context.Context, chatID, authorID int64, clientID string) (int64, error)
	Message(ctx context.Context, chatID, messageID int64) (domain.Message, error)
	History(ctx context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error)
}

// IDs hands out ids in blocks (*Counter).
type IDs interface {
	Reserve(ctx context.Context, name string, n int64) (int64, error)
}

// Applier applies events the way a worker does (chatcache.Cache.ApplyEvents
// as a bus.HandlerFunc, relay.Relay).
type Applier interface {
	Handle(ctx context.Context, events []event.Event) error
}

// Writer implements the gateway's Log by applying each event to MySQL,
// Redis and Centrifugo before returning.
type Writer struct {
	store    Store
	ids      IDs
	cache    Applier
	realtime Applier

	mu       sync.Mutex
	next     int64 // next id to hand out
	end      int64 // first id past the reserved block
	seed     maphash.Seed
	chatLock [1024]sync.Mutex
}

// New returns a writer over the three projections' code.
func New(st Store, ids IDs, cache, realtime Applier) *Writer {
	return &Writer{store: st, ids: ids, cache: cache, realtime: realtime, seed: maphash.MakeSeed()}
}

// Append applies one event synchronously and answers with the id it got.
// A message whose client_id the author already used in the chat is not
// applied again: the answer is the original's id with Duplicate set, as the
// log would answer a retried send.
func (w *Writer) Append(ctx context.Context, env event.Envelope, _ string) (bus.Ack, error) {
	l := &w.chatLock[maphash.Comparable(w.seed, env.ChatID)%uint64(len(w.chatLock))]
	l.Lock()
	defer l.Unlock()

	id, err := w.nextID(ctx)
	if err != nil {
		return bus.Ack{}, err
	}
	ev := event.Event{Seq: uint64(id), Envelope: env}
	b := sqlstore.Batch{}
	if err := projection.Add(&b, ev); err != nil {
		return bus.Ack{}, err
	}
	var msg domain.Message
	if env.Type == event.MessageCreated {
		if msg, err = ev.Message(); err != nil {
			return bus.Ack{}, err
		}
	}
	if len(b.Messages)+len(b.Reads)+len(b.Edits)+len(b.Deletes)+len(b.Hides) > 0 {
		if err := w.store.ApplyBatch(ctx, b); err != nil {
			return bus.Ack{}, fmt.Errorf("sync send: mysql: %w", err)
		}
	}
	if env.Type == event.MessageCreated {
		stored, err := w.store.MessageIDByClientID(ctx, msg.ChatID, msg.Author.ID, msg.ClientID)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			return bus.Ack{}, fmt.Errorf("sync send: %w", err)
		}
		if err == nil && stored != id {
			return bus.Ack{Seq: uint64(stored), Duplicate: true}, nil
		}
	}
	one := []event.Event{ev}
	if err := w.cache.Handle(ctx, one); err != nil {
		return bus.Ack{}, fmt.Errorf("sync send: redis: %w", err)
	}
	if err := w.realtime.Handle(ctx, one); err != nil {
		return bus.Ack{}, fmt.Errorf("sync send: centrifugo: %w", err)
	}
	return bus.Ack{Seq: uint64(id)}, nil
}

// AppendStaged applies an event the gateway's outbox staged (a chat or
// membership change) as Append does: to Redis and Centrifugo (MySQL has the
// change already), before the change is answered.
func (w *Writer) AppendStaged(ctx context.Context, _ string, payload []byte, msgID string) error {
	env, err := event.Decode(payload)
	if err != nil {
		return err
	}
	_, err = w.Append(ctx, env, msgID)
	return err
}

// Message is a message as MySQL holds it: in this design, there from the
// moment its send was answered.
func (w *Writer) Message(ctx context.Context, chatID, id int64) (domain.Message, error) {
	return w.store.Message(ctx, chatID, id)
}

// NewestMessageID is the newest message of a chat in MySQL, 0 for none.
func (w *Writer) NewestMessageID(ctx context.Context, chatID int64) (int64, error) {
	msgs, _, err := w.store.History(ctx, chatID, sqlstore.HistoryQuery{Limit: 1})
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	return msgs[0].ID, nil
}

// LastChange is always none: every change is in MySQL before its answer, so
// MySQL never lags and an edit never waits for it.
func (w *Writer) LastChange(context.Context, int64) (uint64, int, error) { return 0, 0, nil }

func (w *Writer) nextID(ctx context.Context) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next >= w.end {
		first, err := w.ids.Reserve(ctx, counter, IDBlock)
		if err != nil {
			return 0, fmt.Errorf("sync send: %w", err)
		}
		w.next, w.end = first, first+IDBlock
	}
	id := w.next
	w.next++
	return id, nil
}
