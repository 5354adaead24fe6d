package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// chatTables are the chat-scoped tables: each has a chat_id column, lives on
// the chat's shard, and moves with it. A migration that adds a chat-scoped
// table adds it here (and routes its queries through the resolver).
var chatTables = []string{"messages", "read_positions", "hidden_messages", "history_cleared", "search_terms", "search_docs"}

// MoveStep is reported by MoveChat as it goes, for the operator.
type MoveStep func(step string)

// LogPositions are a shard's high-water marks of the log, per partition: the
// persister's (persister_progress) and the searcher's (search_progress).
type LogPositions struct {
	Persister, Search Progress
}

// CatchUp reads the log for a chat's changes between two positions of the
// source shard: the persister's events in (from.Persister[p],
// to.Persister[p]] as a batch, and the searcher's in (from.Search[p],
// to.Search[p]] as index operations, each in log order. (ingest shard move
// reads the stream; a batch's Chats and Progress are ignored.)
type CatchUp func(ctx context.Context, chatID int64, from, to LogPositions) (Batch, []SearchOp, error)

// MoveOption changes how MoveChat moves.
type MoveOption func(*moveOptions)

type moveOptions struct{ catchUp CatchUp }

// WithLogCatchUp makes MoveChat copy the chat without holding the writers
// back, then catch the target up from the log under the directory row,
// instead of copying it all under the row.
func WithLogCatchUp(c CatchUp) MoveOption { return func(o *moveOptions) { o.catchUp = c } }

// MoveChat moves a chat's rows to the shard named to, online: the persister
// and the searcher go on applying the chat's events, the gateway goes on
// reading it. The protocol (docs/design.md, "Chat shards"), each step's state
// kept in the chat's directory row so that running MoveChat again after a
// crash at any point resumes it:
//
//  1. move_to = to (the row still names the source): readers stop caching
//     the chat's entry; MoveChat waits the directory TTL, after which no
//     reader holds a cached one.
//  2. With WithLogCatchUp, the chat's rows are copied to the target from a
//     snapshot of the source, with the source's log positions as of that
//     snapshot, while the writers go on: the long part of a move holds
//     nobody back.
//  3. In one main transaction holding the directory row FOR UPDATE (which
//     waits for every writer's batch in flight, whose shared lock on it
//     lasts until its shard commit, and holds back the next ones): with
//     WithLogCatchUp, the target is caught up by applying the chat's events
//     the source applied after the snapshot, read from the log between the
//     snapshot's positions and the source's positions now; without it (or
//     when the catch-up does not make the target equal), the target's rows
//     are replaced by a copy of the source's. Then the copy is compared
//     with the source table by table, and the row switched to shard = to,
//     move_from = the source. Writers blocked meanwhile read the new shard
//     when they get the lock.
//  4. After another TTL (readers that resolved the source just before the
//     switch have finished), the source's rows are deleted and move_from
//     cleared.
//
// Why the positions bound the catch-up: a writer records a shard's
// high-water mark in the same transaction as its rows there, so a snapshot
// (or the quiet source under the row) holds exactly the chat's events up to
// the source's mark; events after the mark are applied by the writers, to
// the target, once they get the row.
//
// A crash before 3 commits leaves the source complete and authoritative
// (the target's partial copy is replaced by the next run); after, the
// target is complete and authoritative, and the next run only cleans up.
func (s *Store) MoveChat(ctx context.Context, chatID int64, to string, step MoveStep, opts ...MoveOption) error {
	var o moveOptions
	for _, opt := range opts {
		opt(&o)
	}
	if step == nil {
		step = func(string) {}
	}
	d := s.directory()
	if d == nil {
		return errors.New("move chat: no shards are configured (MYSQL_SHARDS)")
	}
	target, err := d.shard(to)
	if err != nil {
		return fmt.Errorf("move chat: %w", err)
	}
	e, err := s.directoryEntry(ctx, chatID)
	if err != nil {
		return err
	}
	if e.moveFrom != "" {
		step(fmt.Sprintf("chat %d: switched to %s already; cleaning up %s", chatID, e.shard, e.moveFrom))
		if err := s.cleanUpMove(ctx, d, chatID, e, step); err != nil {
			return err
		}
		e.moveFrom = ""
	}
	if e.shard == to {
		if e.moveTo != "" {
			// A move elsewhere that never switched: the chat is here.
			if _, err := s.main.ExecContext(ctx, "UPDATE chat_shards SET move_to = NULL WHERE chat_id = ? AND shard = ?", chatID, to); err != nil {
				return fmt.Errorf("move chat %d: %w", chatID, err)
			}
		}
		step(fmt.Sprintf("chat %d is on %s", chatID, to))
		d.forget(chatID)
		return nil
	}
	if e.moveTo != "" && e.moveTo != to {
		return fmt.Errorf("move chat %d: a move to %s is in progress: finish it first (--to %s)", chatID, e.moveTo, e.moveTo)
	}
	source, err := d.shard(e.shard)
	if err != nil {
		return fmt.Errorf("move chat: %w", err)
	}
	if err := refuseParked(ctx, s.main, source.Name, to); err != nil {
		return fmt.Errorf("move chat %d: %w", chatID, err)
	}
	// 1.
	if e.moveTo == "" {
		if _, err := s.main.ExecContext(ctx, "UPDATE chat_shards SET move_to = ? WHERE chat_id = ? AND shard = ?", to, chatID, source.Name); err != nil {
			return fmt.Errorf("move chat %d: mark: %w", chatID, err)
		}
	}
	step(fmt.Sprintf("chat %d: moving from %s to %s; waiting %s for the readers' cached directories", chatID, source.Name, to, d.ttl))
	if err := sleep(ctx, d.ttl); err != nil {
		return err
	}
	// 2.
	var from LogPositions
	if o.catchUp != nil {
		started := time.Now()
		var copied map[string]int
		if from, copied, err = copySnapshot(ctx, chatID, source, target); err != nil {
			return fmt.Errorf("move chat %d: copy: %w", chatID, err)
		}
		step(fmt.Sprintf("chat %d: copied %v from a snapshot of %s at log positions %v (search %v) in %s, writers running",
			chatID, copied, source.Name, from.Persister, from.Search, time.Since(started).Round(time.Millisecond)))
	}
	// 3.
	var copied map[string]int
	var caughtUp string
	err = inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		copied, caughtUp = nil, ""
		locked, err := readDirectory(ctx, tx, []int64{chatID}, " FOR UPDATE")
		if err != nil {
			return err
		}
		if cur := locked[chatID]; cur.shard != source.Name || cur.moveTo != to {
			return fmt.Errorf("the directory row changed under the move (%+v): run the move again", cur)
		}
		// Checked again under the row: no part of the chat can be parked
		// from here on (that takes this row), and none may be pending.
		if err := refuseParked(ctx, tx, source.Name, to); err != nil {
			return err
		}
		if o.catchUp != nil {
			started := time.Now()
			now, err := logPositions(ctx, source.DB)
			if err != nil {
				return err
			}
			b, ops, err := o.catchUp(ctx, chatID, from, now)
			if err != nil {
				return fmt.Errorf("catch up from the log: %w", err)
			}
			if err := s.applyCatchUp(ctx, target, b, ops); err != nil {
				return fmt.Errorf("catch up from the log: %w", err)
			}
			caughtUp = fmt.Sprintf("caught up %d messages, %d reads, %d edits, %d deletes, %d hides and %d index changes from the log up to %v (search %v) in %s",
				len(b.Messages), len(b.Reads), len(b.Edits), len(b.Deletes), len(b.Hides), len(ops), now.Persister, now.Search,
				time.Since(started).Round(time.Millisecond))
			err = compareChat(ctx, chatID, source, target)
			if err == nil {
				return s.switchChat(ctx, tx, chatID, to, source.Name)
			}
			// Safe either way: the copy below makes the target equal.
			caughtUp += fmt.Sprintf("; the target still differed (%v), copied again", err)
		}
		if copied, err = copyChat(ctx, chatID, source, target); err != nil {
			return err
		}
		if err := compareChat(ctx, chatID, source, target); err != nil {
			return err
		}
		return s.switchChat(ctx, tx, chatID, to, source.Name)
	})
	if err != nil {
		return fmt.Errorf("move chat %d: copy and switch: %w", chatID, err)
	}
	d.forget(chatID)
	switch {
	case caughtUp != "" && copied == nil:
		step(fmt.Sprintf("chat %d: %s, verified, switched to %s", chatID, caughtUp, to))
	case caughtUp != "":
		step(fmt.Sprintf("chat %d: %s %v, verified, switched to %s", chatID, caughtUp, copied, to))
	default:
		step(fmt.Sprintf("chat %d: copied %v, verified, switched to %s", chatID, copied, to))
	}
	// 4.
	return s.cleanUpMove(ctx, d, chatID, dirEntry{shard: to, moveFrom: source.Name}, step)
}

// switchChat points the chat's directory row at its new shard, leaving the
// source to clean up.
func (s *Store) switchChat(ctx context.Context, tx *sql.Tx, chatID int64, to, from string) error {
	_, err := tx.ExecContext(ctx, "UPDATE chat_shards SET shard = ?, move_to = NULL, move_from = ? WHERE chat_id = ?", to, from, chatID)
	return err
}

// logPositions reads a shard's high-water marks (q: the shard, or a
// snapshot transaction on it).
func logPositions(ctx context.Context, q querier) (LogPositions, error) {
	var pos LogPositions
	var err error
	if pos.Persister, err = readMarks(ctx, q, "persister_progress"); err != nil {
		return pos, err
	}
	pos.Search, err = readMarks(ctx, q, "search_progress")
	return pos, err
}

// copySnapshot replaces the target's rows of the chat by those of one
// consistent snapshot of the source, and returns the source's log positions
// in that snapshot and the rows copied per table.
func copySnapshot(ctx context.Context, chatID int64, source, target Shard) (LogPositions, map[string]int, error) {
	var pos LogPositions
	var counts map[string]int
	// REPEATABLE READ: every read of the transaction sees the snapshot its
	// first one took.
	err := inTx(ctx, source.DB, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, func(snap *sql.Tx) error {
		var err error
		if pos, err = logPositions(ctx, snap); err != nil {
			return err
		}
		counts, err = copyChatFrom(ctx, chatID, snap, source.Name, target)
		return err
	})
	return pos, counts, err
}

// applyCatchUp applies a catch-up's changes to the target, without moving
// any high-water mark (the target's marks are about its own chats) and
// without touching main (the live writers did, when they applied the
// events to the source).
func (s *Store) applyCatchUp(ctx context.Context, target Shard, b Batch, ops []SearchOp) error {
	if len(b.Messages)+len(b.Reads)+len(b.Edits)+len(b.Deletes)+len(b.Hides) > 0 {
		if _, err := s.applyShard(ctx, workOf(target, b), nil, dbTime(time.Now()), true); err != nil {
			return err
		}
	}
	if len(ops) == 0 {
		return nil
	}
	return inTx(ctx, target.DB, s.txOptions(), func(tx *sql.Tx) error { return applySearchShard(ctx, tx, ops, nil, dbTime(time.Now())) })
}

// refuseParked fails when parts of batches are parked for either shard
// (parked.go): they name the shard they are applied to, and the chat's
// changes may be among them.
func refuseParked(ctx context.Context, q querier, source, target string) error {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM parked_work WHERE shard IN (?, ?)", source, target).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%d parts of batches are parked for %s or %s after an outage: move the chat once the writers have applied them", n, source, target)
	}
	return nil
}

// directoryEntry reads a chat's directory row, creating it (on main) for a
// chat that has none.
func (s *Store) directoryEntry(ctx context.Context, chatID int64) (dirEntry, error) {
	var exists int
	if err := s.main.QueryRowContext(ctx, "SELECT COUNT(*) FROM chats WHERE id = ?", chatID).Scan(&exists); err != nil {
		return dirEntry{}, fmt.Errorf("move chat %d: %w", chatID, err)
	}
	if exists == 0 {
		return dirEntry{}, fmt.Errorf("move chat %d: no such chat", chatID)
	}
	if _, err := s.main.ExecContext(ctx, "INSERT IGNORE INTO chat_shards (chat_id, shard) VALUES (?, ?)", chatID, MainShard); err != nil {
		return dirEntry{}, fmt.Errorf("move chat %d: %w", chatID, err)
	}
	m, err := readDirectory(ctx, s.main, []int64{chatID}, "")
	if err != nil {
		return dirEntry{}, fmt.Errorf("move chat %d: %w", chatID, err)
	}
	return m[chatID], nil
}

// cleanUpMove deletes the chat's rows from the shard it left, once readers
// that may have resolved it before the switch are done.
func (s *Store) cleanUpMove(ctx context.Context, d *Directory, chatID int64, e dirEntry, step MoveStep) error {
	from, err := d.shard(e.moveFrom)
	if err != nil {
		return fmt.Errorf("move chat: %w", err)
	}
	step(fmt.Sprintf("chat %d: waiting %s before deleting its rows from %s", chatID, d.ttl, from.Name))
	if err := sleep(ctx, d.ttl); err != nil {
		return err
	}
	for _, t := range chatTables {
		if err := deleteChatRows(ctx, from.DB, t, chatID); err != nil {
			return fmt.Errorf("move chat %d: clean up %s: %w", chatID, from.Name, err)
		}
	}
	if _, err := s.main.ExecContext(ctx, "UPDATE chat_shards SET move_from = NULL WHERE chat_id = ? AND move_from = ?", chatID, from.Name); err != nil {
		return fmt.Errorf("move chat %d: %w", chatID, err)
	}
	step(fmt.Sprintf("chat %d: its rows are deleted from %s; the move is complete", chatID, from.Name))
	return nil
}

// deleteChatRows deletes a chat's rows of a table in chunks, so that no
// transaction grows with the chat.
func deleteChatRows(ctx context.Context, db *sql.DB, table string, chatID int64) error {
	for {
		res, err := db.ExecContext(ctx, "DELETE FROM "+table+" WHERE chat_id = ? LIMIT 5000", chatID)
		if err != nil {
			return fmt.Errorf("delete from %s: %w", table, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
	}
}

// copyChat replaces the target's rows of the chat by the source's, in one
// target transaction, and returns the rows copied per table.
func copyChat(ctx context.Context, chatID int64, source, target Shard) (map[string]int, error) {
	return copyChatFrom(ctx, chatID, source.DB, source.Name, target)
}

// copyChatFrom is copyChat reading through src (the source, or a snapshot
// of it).
func copyChatFrom(ctx context.Context, chatID int64, src querier, sourceName string, target Shard) (map[string]int, error) {
	counts := map[string]int{}
	err := inTx(ctx, target.DB, nil, func(tx *sql.Tx) error {
		for _, t := range chatTables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE chat_id = ?", chatID); err != nil {
				return fmt.Errorf("clear %s on %s: %w", t, target.Name, err)
			}
			n, err := copyTable(ctx, src, tx, t, chatID)
			if err != nil {
				return fmt.Errorf("copy %s from %s to %s: %w", t, sourceName, target.Name, err)
			}
			counts[t] = n
		}
		return nil
	})
	return counts, err
}

// copyTable streams one table's rows of a chat into tx, in multi-row
// INSERTs. Values travel as the driver reads them (bytes, integers, times),
// so the copy is byte for byte; compareChat checks it.
func copyTable(ctx context.Context, src querier, tx *sql.Tx, table string, chatID int64) (int, error) {
	rows, err := src.QueryContext(ctx, "SELECT * FROM "+table+" WHERE chat_id = ?", chatID)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	head := "INSERT INTO " + table + " (`" + strings.Join(cols, "`, `") + "`) VALUES "
	tuple := "(" + placeholders(len(cols)) + ")"
	var args []any
	n, pending := 0, 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		q := head + strings.TrimSuffix(strings.Repeat(tuple+",", pending), ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		args, pending = args[:0], 0
		return nil
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		args = append(args, vals...)
		pending++
		n++
		if pending == maxRowsPerInsert {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return n, flush()
}

// compareChat checks that the target holds exactly the source's rows of the
// chat: per table, the row count and a checksum of every column.
func compareChat(ctx context.Context, chatID int64, source, target Shard) error {
	for _, t := range chatTables {
		cols, err := tableColumns(ctx, source.DB, t)
		if err != nil {
			return err
		}
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = "COALESCE(HEX(`" + c + "`), 'NULL')"
		}
		q := "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', " + strings.Join(parts, ", ") + "))), 0) FROM " + t + " WHERE chat_id = ?"
		var sn, sc, tn, tc int64
		if err := source.DB.QueryRowContext(ctx, q, chatID).Scan(&sn, &sc); err != nil {
			return fmt.Errorf("checksum %s on %s: %w", t, source.Name, err)
		}
		// The copy is committed on the target, and the source cannot
		// change: the writers wait for the directory row this holds.
		if err := target.DB.QueryRowContext(ctx, q, chatID).Scan(&tn, &tc); err != nil {
			return fmt.Errorf("checksum %s on %s: %w", t, target.Name, err)
		}
		if sn != tn || sc != tc {
			return fmt.Errorf("%s differs after the copy: %s has %d rows (checksum %d), %s %d (%d)", t, source.Name, sn, sc, target.Name, tn, tc)
		}
	}
	return nil
}

func tableColumns(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	return rows.Columns()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
