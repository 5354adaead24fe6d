package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/logchat/shared/domain"
)

// ReadMove is a read position that moves forward to MessageID.
type ReadMove struct {
	ChatID, UserID, MessageID int64
}

// MessageEdit is a message's new text, from the event with sequence Seq.
type MessageEdit struct {
	ChatID, ID int64
	Text       string
	EditedAt   time.Time
	Seq        uint64
}

// MessageDelete deletes a message for everyone. AuthorID, ClientID and SentAt
// are the message's, for the tombstone stored when the message itself is not
// there (yet).
type MessageDelete struct {
	ChatID, ID, AuthorID int64
	ClientID             string
	SentAt, At           time.Time
}

// Hide removes messages from one user's own view of a chat: MessageID alone,
// or every message up to ThroughID (clear history).
type Hide struct {
	ChatID, UserID       int64
	MessageID, ThroughID int64
}

// Batch is what one handler call changes; it may span several partitions.
type Batch struct {
	Progress Progress         // recorded as each partition's high-water mark
	Messages []domain.Message // inserted if absent (by id, and by author+client_id)
	Reads    []ReadMove       // applied as max(current, new)
	Edits    []MessageEdit    // applied over older edits only, never to a deleted message
	Deletes  []MessageDelete  // tombstones: the text is gone for good
	Hides    []Hide           // per user; clear-history moves only forward
	// Chats are the gateway's changes of chats and members, in log order,
	// each applied only over an older version of its chat (chatreplay.go).
	Chats []ChatChange
}

// Progress maps a partition to the highest stream sequence a batch applies of it.
type Progress map[int]uint64

// ValidateMessage is domain.ValidateMessage: ApplyBatch inserts with INSERT
// IGNORE, which would turn a value that does not fit into a warning and a
// mangled row, so every message is checked first.
var ValidateMessage = domain.ValidateMessage

type shardWork struct {
	shard   Shard
	msgs    []domain.Message
	reads   []ReadMove
	edits   []MessageEdit
	deletes []MessageDelete
	hides   []Hide
}

// ApplyBatch writes a batch in one transaction per shard, with multi-row
// statements: messages (INSERT IGNORE: a replayed or duplicated event changes
// nothing), the authors' read positions moved to their messages, read moves,
// chats.last_message_id/updated_at, and each partition's high-water mark.
//
// Applying a batch again leaves every row as it was: messages are inserted
// only if absent, positions and chats only move forward, and a progress
// row changes only when last_seq grows.
//
// One transaction per shard whatever the number of partitions: the consumer
// runtime combines the partitions' batches into one call precisely so that a
// commit (an fsync) serves many of them.
//
// A message whose (chat, author, client_id) is already stored under another
// id (a send retried after the log's duplicate window) is dropped, and is
// treated as absent throughout: neither its author's read position nor the
// chat's last message point at an id that is not in the table.
//
// chats lives in the main database: with one shard it is updated in the
// shard's transaction; otherwise just after it, which a retried batch
// completes (the update is idempotent).
func (s *Store) ApplyBatch(ctx context.Context, b Batch) error {
	for _, m := range b.Messages {
		if err := ValidateMessage(m); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
	}
	for _, r := range b.Reads {
		if r.ChatID <= 0 || r.UserID <= 0 || r.MessageID < 0 {
			return fmt.Errorf("apply batch: read move %+v: %w", r, domain.ErrInvalid)
		}
	}
	for _, e := range b.Edits {
		if e.ChatID <= 0 || e.ID <= 0 || e.Seq == 0 || domain.ValidateText(e.Text) != nil {
			return fmt.Errorf("apply batch: edit of message %d: %w", e.ID, domain.ErrInvalid)
		}
	}
	for _, d := range b.Deletes {
		if d.ChatID <= 0 || d.ID <= 0 || d.AuthorID <= 0 || domain.ValidateClientID(d.ClientID) != nil {
			return fmt.Errorf("apply batch: delete of message %d: %w", d.ID, domain.ErrInvalid)
		}
	}
	for _, h := range b.Hides {
		if h.ChatID <= 0 || h.UserID <= 0 || (h.MessageID > 0) == (h.ThroughID > 0) {
			return fmt.Errorf("apply batch: hide %+v: %w", h, domain.ErrInvalid)
		}
	}
	for _, c := range b.Chats {
		if err := c.validate(); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
	}
	// Chats live in the main database. Their changes go first, in a
	// transaction of their own (rare, and idempotent by version: a crash
	// before the shards' commit applies them again as no-ops), so that a
	// replayed chat exists before its messages move its last message.
	if len(b.Chats) > 0 {
		if err := inTx(ctx, s.main, nil, func(tx *sql.Tx) error { return applyChatChanges(ctx, tx, b.Chats) }); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
	}
	// The chats cannot move while their rows are written (shards.go).
	var chats []int64
	for _, m := range b.Messages {
		chats = append(chats, m.ChatID)
	}
	for _, r := range b.Reads {
		chats = append(chats, r.ChatID)
	}
	for _, e := range b.Edits {
		chats = append(chats, e.ChatID)
	}
	for _, d := range b.Deletes {
		chats = append(chats, d.ChatID)
	}
	for _, h := range b.Hides {
		chats = append(chats, h.ChatID)
	}
	f, err := s.fenceChats(ctx, chats)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	defer f.done()
	parked := map[string]bool{}
	if f.tx != nil {
		if parked, err = parkedShards(ctx, f.tx, ParkPersister); err != nil {
			return fmt.Errorf("apply batch: %w", err)
		}
	}
	// Every shard records the partitions' progress, touched by the batch or
	// not: "everything up to last_seq is applied here" holds for it either way.
	work := map[string]*shardWork{}
	for _, sh := range s.shards.Shards() {
		work[sh.Name] = &shardWork{shard: sh}
	}
	get := func(chatID int64) *shardWork {
		sh := f.shards[chatID]
		w := work[sh.Name]
		if w == nil {
			w = &shardWork{shard: sh}
			work[sh.Name] = w
		}
		return w
	}
	for _, m := range b.Messages {
		w := get(m.ChatID)
		w.msgs = append(w.msgs, m)
	}
	for _, r := range b.Reads {
		w := get(r.ChatID)
		w.reads = append(w.reads, r)
	}
	for _, e := range b.Edits {
		w := get(e.ChatID)
		w.edits = append(w.edits, e)
	}
	for _, d := range b.Deletes {
		w := get(d.ChatID)
		w.deletes = append(w.deletes, d)
	}
	for _, h := range b.Hides {
		w := get(h.ChatID)
		w.hides = append(w.hides, h)
	}
	names := make([]string, 0, len(work))
	for n := range work {
		names = append(names, n)
	}
	sort.Strings(names)
	now := dbTime(time.Now())
	// A shard that fails does not keep the others from their part: when it
	// is down, its part is parked (parked.go); otherwise the batch fails,
	// is redelivered whole, and what committed is a no-op then.
	var errs []error
	var moves []chatMoves
	touched := false
	for _, w := range work {
		touched = touched || !w.empty()
	}
	// The shards' transactions run side by side: they are independent (each
	// shard's part is idempotent on its own), and a batch then waits for the
	// slowest commit, not for their sum.
	results := make([]struct {
		moves chatMoves
		err   error
		ran   bool
	}, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		w := work[n]
		if parked[n] || touched && w.empty() && !s.idleProgressDue("persister/"+n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.moves, r.err = s.applyShard(ctx, w, b.Progress, now, f.tx != nil)
			r.ran = true
		}()
	}
	wg.Wait()
	var toPark []string
	for i, r := range results {
		n := names[i]
		switch {
		case parked[n] || r.err != nil && f.tx != nil && shardDown(ctx, work[n].shard):
			if !work[n].empty() {
				toPark = append(toPark, n)
			}
		case r.err != nil:
			errs = append(errs, fmt.Errorf("apply batch to shard %s: %w", n, r.err))
		case r.ran:
			moves = append(moves, r.moves)
		}
	}
	// Parked only with a batch that succeeds: a failed one is redelivered
	// whole and parks its parts then (once).
	for _, n := range toPark {
		if len(errs) > 0 {
			break
		}
		if err := park(ctx, f.tx, ParkPersister, n, work[n].part(b.Progress)); err != nil {
			errs = append(errs, fmt.Errorf("apply batch: %w", err))
		}
	}
	// Sharded, the chats' last messages move in the fence's transaction on
	// main, after every shard has committed: one commit on main per batch.
	if f.tx != nil {
		for _, m := range moves {
			if err := moveChats(ctx, f.tx, m.heads, m.fallbacks, m.tops); err != nil {
				errs = append(errs, fmt.Errorf("apply batch: %w", err))
				break
			}
		}
		if err := f.tx.Commit(); err != nil {
			errs = append(errs, fmt.Errorf("apply batch: commit on main: %w", err))
		}
		f.tx = nil
	}
	return joinErrors(errs)
}

// chatMoves is what a shard's part of a batch does to its chats' rows in
// main (moveChats), when main is not the shard itself.
type chatMoves struct {
	heads, tops map[int64]chatHead
	fallbacks   []chatFallback
}

// workOf is a batch's chat-scoped changes as one shard's work (a parked
// part, a move's catch-up).
func workOf(sh Shard, b Batch) *shardWork {
	return &shardWork{shard: sh, msgs: b.Messages, reads: b.Reads, edits: b.Edits, deletes: b.Deletes, hides: b.Hides}
}

// part is the work as a batch of its own, to be parked.
func (w *shardWork) part(progress Progress) parkedPart {
	return parkedPart{Progress: progress, Messages: w.msgs, Reads: w.reads, Edits: w.edits, Deletes: w.deletes, Hides: w.hides}
}

func (w *shardWork) empty() bool {
	return len(w.msgs)+len(w.reads)+len(w.edits)+len(w.deletes)+len(w.hides) == 0
}

// idleProgressEvery is how often a shard that a writer's batch does not
// touch still records its progress (a batch that touches no shard records
// it on all). Its mark then lags, which is safe (everything up to it is
// applied there; a restore replays from the lowest mark), and saves a commit
// per untouched shard per batch; the highest mark of the shards is the
// writer's. The gateway's wait for a chat's change (AppliedThrough) reads
// the mark of the chat's shard, which the batch applying that change touched.
const idleProgressEvery = time.Second

// idleProgressDue tells whether an untouched shard records a writer's
// progress now; key names the writer and the shard.
func (s *Store) idleProgressDue(key string) bool {
	if s.directory() == nil {
		return true
	}
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.idleAt == nil {
		s.idleAt = map[string]time.Time{}
	}
	if time.Since(s.idleAt[key]) < idleProgressEvery {
		return false
	}
	s.idleAt[key] = time.Now()
	return true
}

// chatHead is the newest stored message of a chat within a batch.
type chatHead struct {
	id     int64
	sentAt time.Time
}

// applyShard applies a shard's part of a batch in one transaction. With
// deferMain, the chats' moves in main are returned for the caller to apply
// (in the fence's transaction); otherwise they are applied here.
func (s *Store) applyShard(ctx context.Context, w *shardWork, progress Progress, now time.Time, deferMain bool) (chatMoves, error) {
	// Rows in primary-key order, so that concurrent batches (other
	// partitions) lock in one order and rarely deadlock.
	sort.Slice(w.msgs, func(i, j int) bool {
		a, b := w.msgs[i], w.msgs[j]
		return a.ChatID < b.ChatID || a.ChatID == b.ChatID && a.ID < b.ID
	})
	sameDB := w.shard.DB == s.main
	var heads, tops map[int64]chatHead
	var fallbacks []chatFallback
	// READ COMMITTED: no gap locks, so batches of other partitions, which
	// touch other chats, do not block each other on neighbouring keys. The
	// persister's sessions are READ COMMITTED already (OpenProjection).
	opts := &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	if s.readCommitted {
		opts = nil
	}
	err := inTx(ctx, w.shard.DB, opts, func(tx *sql.Tx) error {
		inserted, err := insertMessages(ctx, tx, w.msgs)
		if err != nil {
			return err
		}
		var stored []storedHead
		if inserted == int64(len(w.msgs)) {
			// Every message is new (the usual case): the batch is what is
			// stored, and reading it back would be a statement for nothing.
			stored = make([]storedHead, len(w.msgs))
			for i, m := range w.msgs {
				stored[i] = storedHead{chatID: m.ChatID, id: m.ID, authorID: m.Author.ID, sentAt: dbTime(m.SentAt)}
			}
		} else if stored, err = storedMessages(ctx, tx, w.msgs); err != nil {
			return err
		}
		if err := applyEdits(ctx, tx, w.edits); err != nil {
			return err
		}
		deleted, err := applyDeletes(ctx, tx, w.deletes)
		if err != nil {
			return err
		}
		if err := applyHides(ctx, tx, w.hides); err != nil {
			return err
		}
		// Sending moves the sender's own read position to the message. A
		// chat's last message is its newest one not deleted.
		positions := map[[2]int64]int64{}
		heads, tops = map[int64]chatHead{}, map[int64]chatHead{}
		for _, m := range stored {
			k := [2]int64{m.chatID, m.authorID}
			positions[k] = max(positions[k], m.id)
			if m.deleted {
				continue
			}
			if deleted[[2]int64{m.chatID, m.id}] {
				// Created and deleted in this batch. One event at a time,
				// its creation moved updated_at and its delete left it
				// (API.md 1.1): so must a batch, or the result would depend
				// on where batches fall (ingest verify found it).
				if t, ok := tops[m.chatID]; !ok || m.id > t.id {
					tops[m.chatID] = chatHead{id: m.id, sentAt: m.sentAt}
				}
				continue
			}
			if h, ok := heads[m.chatID]; !ok || m.id > h.id {
				heads[m.chatID] = chatHead{id: m.id, sentAt: m.sentAt}
			}
		}
		if fallbacks, err = newestRemaining(ctx, tx, w.deletes); err != nil {
			return err
		}
		for _, r := range w.reads {
			k := [2]int64{r.ChatID, r.UserID}
			positions[k] = max(positions[k], r.MessageID)
		}
		if err := upsertReadPositions(ctx, tx, positions); err != nil {
			return err
		}
		if sameDB {
			if err := moveChats(ctx, tx, heads, fallbacks, tops); err != nil {
				return err
			}
		}
		return recordProgress(ctx, tx, progress, now)
	})
	if err != nil || sameDB || len(heads)+len(fallbacks)+len(tops) == 0 {
		return chatMoves{}, err
	}
	if deferMain {
		return chatMoves{heads: heads, tops: tops, fallbacks: fallbacks}, nil
	}
	return chatMoves{}, inTx(ctx, s.main, opts, func(tx *sql.Tx) error { return moveChats(ctx, tx, heads, fallbacks, tops) })
}

// applyEdits sets the edited texts. An edit applies only over an older one
// (edit_seq), so edits end in log order whatever order a replay brings them
// in, and never to a deleted message, which an edit must not bring back.
func applyEdits(ctx context.Context, tx *sql.Tx, edits []MessageEdit) error {
	newest := map[[2]int64]MessageEdit{}
	for _, e := range edits {
		k := [2]int64{e.ChatID, e.ID}
		if cur, ok := newest[k]; !ok || e.Seq > cur.Seq {
			newest[k] = e
		}
	}
	keys := sortedPairs(newest)
	// One multi-table UPDATE per chunk, as moveChats does: a statement per
	// edit made the persister's lag grow with the share of edits.
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxRowsPerInsert)]
		keys = keys[len(chunk):]
		args := make([]any, 0, 5*len(chunk))
		for _, k := range chunk {
			e := newest[k]
			args = append(args, e.ChatID, e.ID, e.Text, dbTime(e.EditedAt), e.Seq)
		}
		q := "UPDATE messages m JOIN (" + rowsTable(len(chunk), "chat_id", "id", "text", "edited_at", "seq") + `) e
			ON m.chat_id = e.chat_id AND m.id = e.id
			SET m.text = e.text, m.edited_at = e.edited_at, m.edit_seq = e.seq
			WHERE m.deleted_at IS NULL AND m.edit_seq < e.seq`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("edit messages: %w", err)
		}
	}
	return nil
}

// rowsTable is a derived table of n rows of placeholders with the given
// column names ("SELECT ? AS a, ? AS b UNION ALL SELECT ?, ? …"), for a
// multi-table UPDATE that sets many rows to their own values at once.
func rowsTable(n int, columns ...string) string {
	var q strings.Builder
	for i := range n {
		if i == 0 {
			q.WriteString("SELECT ")
			for j, c := range columns {
				if j > 0 {
					q.WriteString(", ")
				}
				q.WriteString("? AS " + c)
			}
			continue
		}
		q.WriteString(" UNION ALL SELECT ")
		q.WriteString(strings.TrimSuffix(strings.Repeat("?, ", len(columns)), ", "))
	}
	return q.String()
}

// sortedPairs is the keys of m in (chat, other) order: rows locked in one
// order by every batch, so that concurrent batches rarely deadlock.
func sortedPairs[V any](m map[[2]int64]V) [][2]int64 {
	keys := make([][2]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	return keys
}

// applyDeletes turns messages into tombstones: the row stays (a replayed
// message.created then inserts nothing), its text is emptied. A message not
// stored yet gets its tombstone now. It returns the (chat, id) pairs deleted.
func applyDeletes(ctx context.Context, tx *sql.Tx, deletes []MessageDelete) (map[[2]int64]bool, error) {
	out := map[[2]int64]bool{}
	if len(deletes) == 0 {
		return out, nil
	}
	sort.Slice(deletes, func(i, j int) bool {
		a, b := deletes[i], deletes[j]
		return a.ChatID < b.ChatID || a.ChatID == b.ChatID && a.ID < b.ID
	})
	var q strings.Builder
	q.WriteString("INSERT IGNORE INTO messages (chat_id, id, author_id, client_id, text, sent_at, deleted_at) VALUES ")
	args := make([]any, 0, 6*len(deletes))
	for i, d := range deletes {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,'',?,?)")
		args = append(args, d.ChatID, d.ID, d.AuthorID, d.ClientID, dbTime(d.SentAt), dbTime(d.At))
		out[[2]int64{d.ChatID, d.ID}] = true
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return nil, fmt.Errorf("delete messages: %w", err)
	}
	for _, d := range deletes {
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET text = '', deleted_at = COALESCE(deleted_at, ?)
			WHERE chat_id = ? AND id = ?`, dbTime(d.At), d.ChatID, d.ID); err != nil {
			return nil, fmt.Errorf("delete message %d: %w", d.ID, err)
		}
	}
	return out, nil
}

// applyHides records what users hid from their own views.
func applyHides(ctx context.Context, tx *sql.Tx, hides []Hide) error {
	var one, through []any
	for _, h := range hides {
		if h.MessageID > 0 {
			one = append(one, h.ChatID, h.UserID, h.MessageID)
		} else {
			through = append(through, h.ChatID, h.UserID, h.ThroughID)
		}
	}
	if len(one) > 0 {
		if _, err := tx.ExecContext(ctx, "INSERT IGNORE INTO hidden_messages (chat_id, user_id, message_id) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?,?,?),", len(one)/3), ","), one...); err != nil {
			return fmt.Errorf("hide messages: %w", err)
		}
	}
	if len(through) > 0 {
		if _, err := tx.ExecContext(ctx, "INSERT INTO history_cleared (chat_id, user_id, through_id) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?,?,?),", len(through)/3), ",")+
			" ON DUPLICATE KEY UPDATE through_id = GREATEST(through_id, VALUES(through_id))", through...); err != nil {
			return fmt.Errorf("clear histories: %w", err)
		}
	}
	return nil
}

// chatFallback is where a chat's last message goes when it was deleted: to
// newest, the newest message left (0 for none), if the last message is one
// of deleted.
type chatFallback struct {
	chatID  int64
	newest  int64
	deleted []int64
}

// newestRemaining finds, for each chat with deletes, its newest message
// still there (on the chat's shard; chats may live elsewhere).
func newestRemaining(ctx context.Context, tx *sql.Tx, deletes []MessageDelete) ([]chatFallback, error) {
	byChat := map[int64][]int64{}
	for _, d := range deletes {
		byChat[d.ChatID] = append(byChat[d.ChatID], d.ID)
	}
	out := make([]chatFallback, 0, len(byChat))
	for chat, ids := range byChat {
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT MAX(id) FROM messages WHERE chat_id = ? AND deleted_at IS NULL", chat).Scan(&newest); err != nil {
			return nil, fmt.Errorf("newest message of chat %d: %w", chat, err)
		}
		out = append(out, chatFallback{chatID: chat, newest: newest.Int64, deleted: ids})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].chatID < out[j].chatID })
	return out, nil
}

// recordProgress moves the partitions' high-water marks forward, in one
// statement, in partition order (a consistent lock order across batches).
func recordProgress(ctx context.Context, tx *sql.Tx, progress Progress, now time.Time) error {
	return recordProgressIn(ctx, tx, "persister_progress", progress, now)
}

// recordProgressIn is recordProgress into a projection's own progress table
// (persister_progress, search_progress).
func recordProgressIn(ctx context.Context, tx *sql.Tx, table string, progress Progress, now time.Time) error {
	partitions := make([]int, 0, len(progress))
	for p, seq := range progress {
		if seq > 0 {
			partitions = append(partitions, p)
		}
	}
	if len(partitions) == 0 {
		return nil
	}
	sort.Ints(partitions)
	args := make([]any, 0, 3*len(partitions))
	for _, p := range partitions {
		args = append(args, p, progress[p], now)
	}
	// updated_at is assigned first, while last_seq still holds the old
	// value, so a replay (no growth) leaves the row untouched.
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO `+table+` (partition_id, last_seq, updated_at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(partitions)), ",")+`
		 ON DUPLICATE KEY UPDATE
		   updated_at = IF(VALUES(last_seq) > last_seq, VALUES(updated_at), updated_at),
		   last_seq = GREATEST(last_seq, VALUES(last_seq))`,
		args...); err != nil {
		return fmt.Errorf("record progress: %w", err)
	}
	return nil
}

// Statement size bounds: a multi-row INSERT stays well under MariaDB's
// default max_allowed_packet (16 MiB) even with 4096-character texts.
const (
	maxRowsPerInsert  = 500
	maxBytesPerInsert = 2 << 20
)

// insertMessages inserts the messages that are absent and returns how many
// were (INSERT IGNORE counts only the rows it inserted).
func insertMessages(ctx context.Context, tx *sql.Tx, msgs []domain.Message) (int64, error) {
	const head = "INSERT IGNORE INTO messages (chat_id, id, author_id, client_id, text, reply_to_id, sent_at, " +
		"fwd_message_id, fwd_chat_id, fwd_author_id, fwd_sent_at) VALUES "
	var inserted int64
	for len(msgs) > 0 {
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, 11*min(len(msgs), maxRowsPerInsert))
		n, size := 0, 0
		for n < len(msgs) && n < maxRowsPerInsert && (n == 0 || size < maxBytesPerInsert) {
			m := msgs[n]
			if n > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
			var reply, fwdID, fwdChat, fwdAuthor, fwdSent any
			if m.ReplyToID != nil {
				reply = *m.ReplyToID
			}
			if f := m.Forward; f != nil {
				fwdID, fwdChat, fwdAuthor, fwdSent = f.MessageID, f.ChatID, f.Author.ID, dbTime(f.SentAt)
			}
			args = append(args, m.ChatID, m.ID, m.Author.ID, m.ClientID, m.Text, reply, dbTime(m.SentAt),
				fwdID, fwdChat, fwdAuthor, fwdSent)
			size += len(m.Text) + len(m.ClientID) + 64
			n++
		}
		res, err := tx.ExecContext(ctx, q.String(), args...)
		if err != nil {
			return 0, fmt.Errorf("insert messages: %w", err)
		}
		rows, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("insert messages: %w", err)
		}
		inserted += rows
		msgs = msgs[n:]
	}
	return inserted, nil
}

type storedHead struct {
	chatID, id, authorID int64
	sentAt               time.Time
	deleted              bool // a tombstone: never a chat's last message
}

// IDConflictError means a message's id is already taken in its chat by
// another message (another author or client_id): MySQL and the log disagree
// on what that id is, as after a stream recreated empty over a database that
// holds messages. Inserting nothing would lose the message without a trace,
// so it is reported instead (the persister dead-letters the event). It is a
// domain.ErrConflict.
type IDConflictError struct {
	ChatID, ID int64
}

func (e *IDConflictError) Unwrap() error { return domain.ErrConflict }

func (e *IDConflictError) Error() string {
	return fmt.Sprintf("message %d of chat %d: the id is already taken by another message", e.ID, e.ChatID)
}

// storedMessages returns the rows now in the table under the batch's
// (chat, id) pairs: the batch minus the messages INSERT IGNORE dropped as
// duplicates of an earlier client_id. A row under a pair that is another
// message is an *IDConflictError.
func storedMessages(ctx context.Context, tx *sql.Tx, msgs []domain.Message) ([]storedHead, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	type origin struct {
		author   int64
		clientID string
	}
	want := make(map[[2]int64]origin, len(msgs))
	chats := make([]int64, 0, len(msgs))
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		want[[2]int64{m.ChatID, m.ID}] = origin{m.Author.ID, m.ClientID}
		chats = append(chats, m.ChatID)
		ids = append(ids, m.ID)
	}
	chats = uniqueIDs(chats)
	var out []storedHead
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		for cs := chats; len(cs) > 0; {
			cchunk := cs[:min(len(cs), maxInList)]
			cs = cs[len(cchunk):]
			rows, err := tx.QueryContext(ctx,
				"SELECT chat_id, id, author_id, client_id, sent_at, deleted_at IS NOT NULL FROM messages WHERE chat_id IN ("+placeholders(len(cchunk))+
					") AND id IN ("+placeholders(len(chunk))+")",
				append(int64Args(cchunk), int64Args(chunk)...)...)
			if err != nil {
				return nil, fmt.Errorf("read back messages: %w", err)
			}
			for rows.Next() {
				var h storedHead
				var clientID string
				if err := rows.Scan(&h.chatID, &h.id, &h.authorID, &clientID, &h.sentAt, &h.deleted); err != nil {
					rows.Close()
					return nil, fmt.Errorf("read back messages: %w", err)
				}
				o, ok := want[[2]int64{h.chatID, h.id}]
				if !ok {
					continue
				}
				if o.author != h.authorID || o.clientID != clientID {
					rows.Close()
					return nil, &IDConflictError{ChatID: h.chatID, ID: h.id}
				}
				out = append(out, h)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("read back messages: %w", err)
			}
		}
	}
	return out, nil
}

func upsertReadPositions(ctx context.Context, tx *sql.Tx, positions map[[2]int64]int64) error {
	keys := sortedPairs(positions)
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxRowsPerInsert)]
		keys = keys[len(chunk):]
		args := make([]any, 0, 3*len(chunk))
		for _, k := range chunk {
			args = append(args, k[0], k[1], positions[k])
		}
		// VALUES() in ON DUPLICATE KEY UPDATE: MySQL 8 deprecates it for the
		// row alias syntax, which MariaDB does not have.
		_, err := tx.ExecContext(ctx,
			"INSERT INTO read_positions (chat_id, user_id, message_id) VALUES "+
				strings.TrimSuffix(strings.Repeat("(?,?,?),", len(chunk)), ",")+
				" ON DUPLICATE KEY UPDATE message_id = GREATEST(message_id, VALUES(message_id))", args...)
		if err != nil {
			return fmt.Errorf("upsert read positions: %w", err)
		}
	}
	return nil
}

// moveChats moves each chat's last message forward to its head, with
// updated_at the head's sent_at. A chat whose last message is already as new
// is left alone, so neither column ever moves back. Then a chat whose last
// message was deleted falls back to its newest message left, updated_at
// unchanged (API.md 1.1). Last, tops are the newest messages created and
// deleted within the batch: updated_at moves to their time as their creation
// would have moved it, unless the chat's last message is newer already (a
// replay).
func moveChats(ctx context.Context, tx *sql.Tx, heads map[int64]chatHead, fallbacks []chatFallback, tops map[int64]chatHead) error {
	if err := moveChatsForward(ctx, tx, heads); err != nil {
		return err
	}
	for _, f := range fallbacks {
		args := append([]any{f.newest, f.chatID}, int64Args(f.deleted)...)
		if _, err := tx.ExecContext(ctx, "UPDATE chats SET last_message_id = ? WHERE id = ? AND last_message_id IN ("+
			placeholders(len(f.deleted))+")", args...); err != nil {
			return fmt.Errorf("last message of chat %d: %w", f.chatID, err)
		}
	}
	ids := make([]int64, 0, len(tops))
	for id := range tops {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		t := tops[id]
		if _, err := tx.ExecContext(ctx, "UPDATE chats SET updated_at = GREATEST(updated_at, ?) WHERE id = ? AND last_message_id < ?",
			dbTime(t.sentAt), id, t.id); err != nil {
			return fmt.Errorf("updated_at of chat %d: %w", id, err)
		}
	}
	return nil
}

func moveChatsForward(ctx context.Context, tx *sql.Tx, heads map[int64]chatHead) error {
	ids := make([]int64, 0, len(heads))
	for id := range heads {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxRowsPerInsert)]
		ids = ids[len(chunk):]
		args := make([]any, 0, 3*len(chunk))
		for _, id := range chunk {
			args = append(args, id, heads[id].id, dbTime(heads[id].sentAt))
		}
		// The condition, not GREATEST() per column: a multi-table UPDATE does
		// not promise the order of its assignments, so one column cannot
		// depend on the other's old value.
		q := "UPDATE chats c JOIN (" + rowsTable(len(chunk), "id", "mid", "sent_at") +
			") n ON c.id = n.id SET c.last_message_id = n.mid, c.updated_at = n.sent_at WHERE c.last_message_id < n.mid"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("move chats: %w", err)
		}
	}
	return nil
}

// Progress returns each partition's high-water mark on each shard.
func (s *Store) Progress(ctx context.Context) (map[string]map[int]uint64, error) {
	return s.marksOnShards(ctx, "persister_progress")
}

// marksOnShards reads a progress table (persister_progress,
// search_progress) on every shard.
func (s *Store) marksOnShards(ctx context.Context, table string) (map[string]map[int]uint64, error) {
	out := map[string]map[int]uint64{}
	for _, sh := range s.shards.Shards() {
		m, err := readMarks(ctx, sh.DB, table)
		if err != nil {
			return nil, fmt.Errorf("progress of shard %s: %w", sh.Name, err)
		}
		out[sh.Name] = m
	}
	return out, nil
}

// readMarks reads one progress table's high-water marks (q: a shard, or a
// transaction on it).
func readMarks(ctx context.Context, q querier, table string) (Progress, error) {
	rows, err := q.QueryContext(ctx, "SELECT partition_id, last_seq FROM "+table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	m := Progress{}
	for rows.Next() {
		var p int
		var seq uint64
		if err := rows.Scan(&p, &seq); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		m[p] = seq
	}
	return m, rows.Err()
}
