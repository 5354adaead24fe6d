package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Parking (migration 00011): a chat shard that is down must not hold back
// the other shards' chats. A writer's batch spans every partition and every
// shard, and the log cannot be acknowledged past a batch that is not applied;
// so a writer that finds a shard unreachable stores that shard's part of the
// batch in the main database (parked_work), in the fence's transaction, and
// the batch succeeds. From then on, while the shard has a parked_shards row,
// every later part for it is parked behind the first, so each chat's changes
// stay in log order. A drainer (KeepDraining, in each writer process) applies
// the parts in order once the shard answers, and ends the parking.
//
// Invariants:
//   - Parking happens only in a fence's transaction (sharded stores), which
//     reads the writer's parked_shards rows LOCK IN SHARE MODE; the drainer
//     takes a shard's row FOR UPDATE for each chunk it applies, so no batch
//     is half-way through parking while the drainer decides the shard is
//     drained, and a batch that saw the row parks behind it.
//   - A chat whose shard has parked work does not move (MoveChat refuses):
//     the parts name the shard they are applied to.
//   - Applying a part is idempotent (as applying a batch is), so a drain
//     interrupted after a shard's commit and before the main one's repeats
//     it harmlessly.
//   - The main database itself never parks: it holds the fence and the
//     parked work; when it is down the writers stop, as before.

// The writers that park, by the name their parked rows carry (KeepDraining).
const (
	ParkPersister = "persister"
	ParkSearcher  = "searcher"
)

// parkPingTimeout bounds the check that tells a shard that is down from a
// failure of the batch itself (a lock wait, a bug), which is not parked but
// returned, and retried or dead-lettered by the runtime as before.
const parkPingTimeout = 2 * time.Second

// drainChunk is how many parked parts one drain transaction applies.
const drainChunk = 50

// parkedShards reads which shards writer has parked work for, in the fence's
// transaction, with the shared locks the drainer waits for.
func parkedShards(ctx context.Context, tx *sql.Tx, writer string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT shard FROM parked_shards WHERE writer = ? LOCK IN SHARE MODE", writer)
	if err != nil {
		return nil, fmt.Errorf("parked shards: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("parked shards: %w", err)
		}
		out[name] = true
	}
	return out, rows.Err()
}

// park stores a shard's part of a batch (JSON of part) behind the shard's
// earlier parts, in the fence's transaction.
func park(ctx context.Context, tx *sql.Tx, writer, shard string, part any) error {
	body, err := json.Marshal(part)
	if err != nil {
		return fmt.Errorf("park a part for shard %s: %w", shard, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT IGNORE INTO parked_shards (writer, shard, parked_at) VALUES (?, ?, ?)",
		writer, shard, dbTime(time.Now())); err != nil {
		return fmt.Errorf("park a part for shard %s: %w", shard, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO parked_work (writer, shard, body) VALUES (?, ?, ?)", writer, shard, body); err != nil {
		return fmt.Errorf("park a part for shard %s: %w", shard, err)
	}
	return nil
}

// shardDown tells whether a shard whose part of a batch failed is down (then
// the part is parked) rather than the part being at fault.
func shardDown(ctx context.Context, sh Shard) bool {
	if sh.Name == MainShard || ctx.Err() != nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, parkPingTimeout)
	defer cancel()
	return sh.DB.PingContext(pctx) != nil && ctx.Err() == nil
}

// parkedPart is a persister's parked part: the shard's share of a batch.
type parkedPart = Batch

// searchPart is a searcher's parked part.
type searchPart struct {
	Ops      []SearchOp
	Progress Progress
}

// applyParked applies one parked part of writer to shard sh; what it changes
// in main goes into mainTx (the drain's transaction).
func (s *Store) applyParked(ctx context.Context, writer string, sh Shard, body []byte, mainTx *sql.Tx) error {
	now := dbTime(time.Now())
	switch writer {
	case ParkPersister:
		var b parkedPart
		if err := json.Unmarshal(body, &b); err != nil {
			return fmt.Errorf("a parked part: %w", err)
		}
		m, err := s.applyShard(ctx, workOf(sh, b), b.Progress, now, true)
		if err != nil {
			return err
		}
		return moveChats(ctx, mainTx, m.heads, m.fallbacks, m.tops)
	case ParkSearcher:
		var p searchPart
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("a parked part: %w", err)
		}
		return inTx(ctx, sh.DB, s.txOptions(), func(tx *sql.Tx) error { return applySearchShard(ctx, tx, p.Ops, p.Progress, now) })
	}
	return fmt.Errorf("parked work of an unknown writer %q", writer)
}

// ParkedState is what DrainParked found: per shard, the parts still parked
// (the shard did not answer) and the parts applied now.
type ParkedState struct {
	Waiting map[string]int
	Drained map[string]int
}

// DrainParked applies writer's parked parts, in order, for every shard that
// answers, and ends their parking.
func (s *Store) DrainParked(ctx context.Context, writer string) (ParkedState, error) {
	st := ParkedState{Waiting: map[string]int{}, Drained: map[string]int{}}
	d := s.directory()
	if d == nil {
		return st, nil
	}
	rows, err := s.main.QueryContext(ctx, "SELECT shard, (SELECT COUNT(*) FROM parked_work w WHERE w.writer = p.writer AND w.shard = p.shard) "+
		"FROM parked_shards p WHERE writer = ?", writer)
	if err != nil {
		return st, fmt.Errorf("drain parked work: %w", err)
	}
	waiting := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("drain parked work: %w", err)
		}
		waiting[name] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("drain parked work: %w", err)
	}
	var errs []error
	for name, n := range waiting {
		sh, err := d.shard(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if shardDown(ctx, sh) {
			st.Waiting[name] = n
			continue
		}
		drained, err := s.drainShard(ctx, writer, sh)
		st.Drained[name] = drained
		if err != nil {
			errs = append(errs, fmt.Errorf("drain parked work of shard %s: %w", name, err))
		}
	}
	return st, errors.Join(errs...)
}

// drainShard applies a shard's parked parts in chunks, each in one main
// transaction holding the shard's parked_shards row, and deletes the row
// once none is left.
func (s *Store) drainShard(ctx context.Context, writer string, sh Shard) (int, error) {
	total := 0
	for {
		done, applied := false, 0
		err := inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
			done, applied = false, 0
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM parked_shards WHERE writer = ? AND shard = ? FOR UPDATE", writer, sh.Name).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				done = true // drained by another instance
				return nil
			}
			if err != nil {
				return err
			}
			// The oldest parts first; with the row held, every part parked
			// so far is committed.
			rows, err := tx.QueryContext(ctx, "SELECT id, body FROM parked_work WHERE writer = ? AND shard = ? ORDER BY id LIMIT ?",
				writer, sh.Name, drainChunk)
			if err != nil {
				return err
			}
			var ids []int64
			var bodies [][]byte
			for rows.Next() {
				var id int64
				var body []byte
				if err := rows.Scan(&id, &body); err != nil {
					rows.Close()
					return err
				}
				ids, bodies = append(ids, id), append(bodies, body)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(ids) == 0 {
				done = true
				_, err := tx.ExecContext(ctx, "DELETE FROM parked_shards WHERE writer = ? AND shard = ?", writer, sh.Name)
				return err
			}
			for _, body := range bodies {
				if err := s.applyParked(ctx, writer, sh, body, tx); err != nil {
					return err
				}
			}
			applied = len(ids)
			_, err = tx.ExecContext(ctx, "DELETE FROM parked_work WHERE id IN ("+placeholders(len(ids))+")", int64Args(ids)...)
			return err
		})
		if err != nil {
			return total, err
		}
		total += applied
		if done {
			return total, nil
		}
	}
}

// KeepDraining runs DrainParked for writer every interval until stop is
// called, logging what it finds: a shard down with parts waiting (at most
// once a minute per shard), and each drain.
func (s *Store) KeepDraining(writer string, every time.Duration, log *slog.Logger) (stop func()) {
	if s.directory() == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		told := map[string]time.Time{}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st, err := s.DrainParked(ctx, writer)
			if err != nil && ctx.Err() == nil {
				log.Warn("draining parked work", "error", err)
			}
			for name, n := range st.Waiting {
				if time.Since(told[name]) >= time.Minute {
					told[name] = time.Now()
					log.Warn("shard down: its part of each batch is parked in the main database until it answers", "shard", name, "parts", n)
				}
			}
			for name, n := range st.Drained {
				if n > 0 {
					log.Info("shard back: parked work applied", "shard", name, "parts", n)
				}
				delete(told, name)
			}
		}
	}()
	return func() { cancel(); <-done }
}
