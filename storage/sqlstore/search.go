package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/logchat/shared/domain"
)

// The message search index (migration 00007): the searcher's projection of
// the log, kept on each chat's shard like the chat's messages. The store
// neither tokenises nor decides what matches: terms and prefixes are made by
// storage/searchtext on both sides.

// SearchOp is one event's effect on the index: a message's text as of the
// event Version (its id for message.created, the edit's sequence for
// message.edited), or its deletion.
type SearchOp struct {
	ChatID, MessageID int64
	Version           int64
	Delete            bool
	Terms             []string // distinct; ignored with Delete
}

// searchDoc is what the index holds of one message.
type searchDoc struct {
	version int64
	deleted bool
	terms   []string
}

// ApplySearch applies ops (each partition's in log order) to the index and
// moves the partitions' high-water marks (search_progress) on every shard,
// one transaction per shard. Idempotent and safe under replay from any
// sequence: a message's index entry changes only for a newer version of its
// text, never after its deletion (a tombstone stays), so a redelivered or
// replayed message.created or edit finds nothing to do.
func (s *Store) ApplySearch(ctx context.Context, ops []SearchOp, progress Progress) error {
	for _, op := range ops {
		if op.ChatID <= 0 || op.MessageID <= 0 || (!op.Delete && op.Version <= 0) {
			return fmt.Errorf("apply search: op %+v: %w", op, domain.ErrInvalid)
		}
		for _, t := range op.Terms {
			if t == "" || len(t) > 64 || strings.ContainsRune(t, '\n') {
				return fmt.Errorf("apply search: term %q of message %d: %w", t, op.MessageID, domain.ErrInvalid)
			}
		}
	}
	chats := make([]int64, len(ops))
	for i, op := range ops {
		chats[i] = op.ChatID
	}
	// The chats cannot move while their ops are written (shards.go).
	f, err := s.fenceChats(ctx, chats)
	if err != nil {
		return fmt.Errorf("apply search: %w", err)
	}
	defer f.done()
	parked := map[string]bool{}
	if f.tx != nil {
		if parked, err = parkedShards(ctx, f.tx, ParkSearcher); err != nil {
			return fmt.Errorf("apply search: %w", err)
		}
	}
	byShard := map[string][]SearchOp{}
	shards := map[string]Shard{}
	for _, sh := range s.shards.Shards() {
		byShard[sh.Name] = nil
		shards[sh.Name] = sh
	}
	for _, op := range ops {
		sh := f.shards[op.ChatID]
		byShard[sh.Name] = append(byShard[sh.Name], op)
		shards[sh.Name] = sh
	}
	names := make([]string, 0, len(byShard))
	for n := range byShard {
		names = append(names, n)
	}
	sort.Strings(names)
	now := dbTime(time.Now())
	// A shard that fails does not keep the others from their part: when it
	// is down, its part is parked (parked.go); otherwise the batch fails,
	// is redelivered whole, and what committed is a no-op then.
	var errs []error
	touched := len(ops) > 0
	for _, n := range names {
		if !parked[n] && touched && len(byShard[n]) == 0 && !s.idleProgressDue("searcher/"+n) {
			continue // its progress lags a little (idleProgressEvery)
		}
		var err error
		if !parked[n] {
			err = inTx(ctx, shards[n].DB, s.txOptions(), func(tx *sql.Tx) error {
				return applySearchShard(ctx, tx, byShard[n], progress, now)
			})
		}
		switch {
		case parked[n] || err != nil && f.tx != nil && shardDown(ctx, shards[n]):
			if len(byShard[n]) > 0 {
				if err := park(ctx, f.tx, ParkSearcher, n, searchPart{Ops: byShard[n], Progress: progress}); err != nil {
					errs = append(errs, fmt.Errorf("apply search: %w", err))
				}
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("apply search to shard %s: %w", n, err))
		}
	}
	if f.tx != nil && len(errs) == 0 {
		// The parked parts (if any) with the fence.
		if err := f.tx.Commit(); err != nil {
			errs = append(errs, fmt.Errorf("apply search: commit on main: %w", err))
		}
		f.tx = nil
	}
	return joinErrors(errs)
}

// txOptions are the options of a projection's transaction: READ COMMITTED
// (no gap locks between partitions' batches), set per transaction only when
// the pool's sessions are not READ COMMITTED already.
func (s *Store) txOptions() *sql.TxOptions {
	if s.readCommitted {
		return nil
	}
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

func applySearchShard(ctx context.Context, tx *sql.Tx, ops []SearchOp, progress Progress, now time.Time) error {
	if len(ops) > 0 {
		// Fold each message's ops in log order into the state the batch
		// leaves it in: the newest text, or deleted (for good).
		want := map[[2]int64]searchDoc{}
		var keys [][2]int64
		for _, op := range ops {
			k := [2]int64{op.ChatID, op.MessageID}
			cur, seen := want[k]
			if !seen {
				keys = append(keys, k)
			}
			switch {
			case seen && cur.deleted:
			case op.Delete:
				want[k] = searchDoc{deleted: true}
			case !seen || op.Version > cur.version:
				want[k] = searchDoc{version: op.Version, terms: op.Terms}
			}
		}
		// Primary-key order: concurrent batches lock rows in one order.
		sort.Slice(keys, func(i, j int) bool {
			return keys[i][0] < keys[j][0] || (keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1])
		})
		have, err := searchDocs(ctx, tx, keys)
		if err != nil {
			return err
		}
		var drop [][3]any // (chat, term, message)
		var add []termRow
		var docs []any
		ndocs := 0
		for _, k := range keys {
			w := want[k]
			h, exists := have[k]
			if exists && h.deleted {
				continue // a tombstone: nothing brings the message back
			}
			if !w.deleted && exists && h.version >= w.version {
				continue // this text, or a newer one, is indexed already
			}
			if exists {
				for _, t := range h.terms {
					drop = append(drop, [3]any{k[0], t, k[1]})
				}
			}
			if !w.deleted {
				for _, t := range w.terms {
					add = append(add, termRow{k[0], t, k[1]})
				}
			}
			docs = append(docs, k[0], k[1], w.version, w.deleted, strings.Join(w.terms, "\n"))
			ndocs++
		}
		if err := deleteTerms(ctx, tx, drop); err != nil {
			return err
		}
		if err := insertTerms(ctx, tx, add); err != nil {
			return err
		}
		for len(docs) > 0 {
			n := min(len(docs)/5, maxRowsPerInsert)
			if _, err := tx.ExecContext(ctx, `INSERT INTO search_docs (chat_id, message_id, version, deleted, terms) VALUES `+
				rowsOf(n, 5)+` ON DUPLICATE KEY UPDATE version = VALUES(version), deleted = VALUES(deleted), terms = VALUES(terms)`,
				docs[:5*n]...); err != nil {
				return fmt.Errorf("search docs: %w", err)
			}
			docs = docs[5*n:]
		}
	}
	return recordProgressIn(ctx, tx, "search_progress", progress, now)
}

// rowsOf is "(?, ?, …), (…)": n rows of cols placeholders.
func rowsOf(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + "),"
	return strings.TrimSuffix(strings.Repeat(row, n), ",")
}

// searchDocs reads (and locks) the index entries of keys.
//
// By (chat_id, message_id) pairs: one primary-key lookup per message.
// (`chat_id IN (…) AND message_id IN (…)` was measured first: MariaDB ranges
// over the chats only, so every batch read every indexed message of every
// chat it touched, the big chats' thousands too, and more as the index grew.)
func searchDocs(ctx context.Context, tx *sql.Tx, keys [][2]int64) (map[[2]int64]searchDoc, error) {
	out := make(map[[2]int64]searchDoc, len(keys))
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxInList)]
		keys = keys[len(chunk):]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k[0], k[1])
		}
		rows, err := tx.QueryContext(ctx, "SELECT chat_id, message_id, version, deleted, terms FROM search_docs WHERE (chat_id, message_id) IN ("+
			rowsOf(len(chunk), 2)+") FOR UPDATE", args...)
		if err != nil {
			return nil, fmt.Errorf("search docs: %w", err)
		}
		for rows.Next() {
			var k [2]int64
			var d searchDoc
			var terms []byte
			if err := rows.Scan(&k[0], &k[1], &d.version, &d.deleted, &terms); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search docs: %w", err)
			}
			if len(terms) > 0 {
				d.terms = strings.Split(string(terms), "\n")
			}
			out[k] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("search docs: %w", err)
		}
	}
	return out, nil
}

// deleteTerms deletes index rows by primary key: one statement per message
// (chat_id = ? AND term IN (…) AND message_id = ?: point lookups), since
// edits and deletes are few beside sends.
func deleteTerms(ctx context.Context, tx *sql.Tx, rows [][3]any) error {
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && n < maxInList && rows[n][0] == rows[0][0] && rows[n][2] == rows[0][2] {
			n++
		}
		args := []any{rows[0][0], rows[0][2]}
		for _, r := range rows[:n] {
			args = append(args, r[1])
		}
		rows = rows[n:]
		if _, err := tx.ExecContext(ctx, "DELETE FROM search_terms WHERE chat_id = ? AND message_id = ? AND term IN ("+placeholders(n)+")", args...); err != nil {
			return fmt.Errorf("delete search terms: %w", err)
		}
	}
	return nil
}

// termRow is one row of search_terms.
type termRow struct {
	chat    int64
	term    string
	message int64
}

// insertTerms inserts index rows; a row already there is left (a replay).
//
// In primary-key order: a batch's rows of one chat and term (a common word
// in a busy chat) then go into one B-tree page one after the other instead of
// each finding it again, statements lock in one order, and a big index that
// does not fit in the buffer pool reads each page once per batch.
func insertTerms(ctx context.Context, tx *sql.Tx, rows []termRow) error {
	const perInsert = 2000
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.chat != b.chat {
			return a.chat < b.chat
		}
		if a.term != b.term {
			return a.term < b.term
		}
		return a.message < b.message
	})
	for len(rows) > 0 {
		n := min(len(rows), perInsert)
		args := make([]any, 0, 3*n)
		for _, r := range rows[:n] {
			args = append(args, r.chat, r.term, r.message)
		}
		rows = rows[n:]
		if _, err := tx.ExecContext(ctx, "INSERT IGNORE INTO search_terms (chat_id, term, message_id) VALUES "+rowsOf(n, 3), args...); err != nil {
			return fmt.Errorf("insert search terms: %w", err)
		}
	}
	return nil
}

// SearchProgress returns the searcher's high-water mark of each partition on
// each shard.
func (s *Store) SearchProgress(ctx context.Context) (map[string]map[int]uint64, error) {
	return s.marksOnShards(ctx, "search_progress")
}

// SearchQuery asks the index for the messages, newest first, of Chats whose
// terms begin with every one of Prefixes, with ids below Before (0: no
// bound), at most Limit. Viewer's cleared history is left out.
type SearchQuery struct {
	Viewer   int64
	Chats    []int64
	Prefixes []string
	Before   int64
	Limit    int
}

// SearchHit names one message the index found.
type SearchHit struct{ ChatID, MessageID int64 }

// chatsPerQuery bounds the chats of one statement.
const chatsPerQuery = 500

// SearchCandidates returns what the index finds for q, newest first (ids
// are log sequences: unique across chats, and newer is larger). The answer
// is the index's: a message deleted, hidden or edited a moment ago may still
// be in it, so callers read the messages (VisibleMessages) and check their
// text.
//
// One statement per shard (per 500 chats): `chat_id IN (…) AND (term LIKE
// 'p1%' OR …)` is one range of the primary key per chat and prefix; the rows
// are grouped by message (a message must have every prefix) and the newest
// Limit kept, one sort for all the chats. (A UNION with a part per chat, each
// with its own LIMIT, was measured first: its temporary table per part cost
// more than the sort it saved, docs/performance.md "Search".) No statement
// spans two databases.
func (s *Store) SearchCandidates(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	if q.Limit <= 0 || len(q.Prefixes) == 0 {
		return nil, domain.Invalid("search needs prefixes and a positive limit")
	}
	var out []SearchHit
	err := s.readByShard(ctx, uniqueIDs(q.Chats), nil, func(groups map[string]*shardKeys) error {
		out = nil
		for _, k := range groups {
			cleared, err := clearedBounds(ctx, k.db, q.Viewer, k.chats)
			if err != nil {
				return err
			}
			for chats := k.chats; len(chats) > 0; {
				chunk := chats[:min(len(chats), chatsPerQuery)]
				chats = chats[len(chunk):]
				hits, err := searchChunk(ctx, k.db, q, chunk, cleared)
				if err != nil {
					return err
				}
				out = append(out, hits...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MessageID > out[j].MessageID })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func searchChunk(ctx context.Context, db *sql.DB, q SearchQuery, chats []int64, cleared map[int64]int64) ([]SearchHit, error) {
	likes := make([]string, len(q.Prefixes))
	for i, p := range q.Prefixes {
		likes[i] = escapeLike(p) + "%"
	}
	var sb strings.Builder
	args := make([]any, 0, len(chats)+3*len(likes)+4)
	sb.WriteString("SELECT chat_id, message_id FROM search_terms WHERE chat_id IN (" + placeholders(len(chats)) + ") AND (")
	args = append(args, int64Args(chats)...)
	for i, l := range likes {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		sb.WriteString("term LIKE ? ESCAPE '!'")
		args = append(args, l)
	}
	sb.WriteString(")")
	if q.Before > 0 {
		sb.WriteString(" AND message_id < ?")
		args = append(args, q.Before)
	}
	// What the viewer cleared (few chats, if any): left out here, so that
	// it never takes the places of the page.
	for _, c := range chats {
		if b := cleared[c]; b > 0 {
			sb.WriteString(" AND NOT (chat_id = ? AND message_id <= ?)")
			args = append(args, c, b)
		}
	}
	sb.WriteString(" GROUP BY chat_id, message_id")
	if len(likes) > 1 {
		sb.WriteString(" HAVING " + strings.TrimSuffix(strings.Repeat("MAX(term LIKE ? ESCAPE '!') = 1 AND ", len(likes)), " AND "))
		for _, l := range likes {
			args = append(args, l)
		}
	}
	sb.WriteString(" ORDER BY message_id DESC LIMIT ?")
	args = append(args, q.Limit)
	rows, err := db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []SearchHit
	for rows.Next() {
		var h SearchHit
		if err := rows.Scan(&h.ChatID, &h.MessageID); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// clearedBounds is, per chat, the id through which viewer cleared their
// history (absent: never).
func clearedBounds(ctx context.Context, db *sql.DB, viewer int64, chats []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if viewer <= 0 {
		return out, nil
	}
	for len(chats) > 0 {
		chunk := chats[:min(len(chats), maxInList)]
		chats = chats[len(chunk):]
		rows, err := db.QueryContext(ctx, "SELECT chat_id, through_id FROM history_cleared WHERE user_id = ? AND chat_id IN ("+
			placeholders(len(chunk))+")", append([]any{viewer}, int64Args(chunk)...)...)
		if err != nil {
			return nil, fmt.Errorf("cleared history: %w", err)
		}
		for rows.Next() {
			var c, through int64
			if err := rows.Scan(&c, &through); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cleared history: %w", err)
			}
			out[c] = through
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("cleared history: %w", err)
		}
	}
	return out, nil
}

// VisibleMessages returns, of the hits, the messages viewer may see in
// history (not deleted, not hidden by them, above what they cleared), keyed
// by id, with their authors.
func (s *Store) VisibleMessages(ctx context.Context, viewer int64, hits []SearchHit) (map[int64]domain.Message, error) {
	chats := make([]int64, len(hits))
	ids := make([]int64, len(hits))
	want := make(map[[2]int64]bool, len(hits))
	for i, h := range hits {
		chats[i], ids[i] = h.ChatID, h.MessageID
		want[[2]int64{h.ChatID, h.MessageID}] = true
	}
	var found []domain.Message
	err := s.readByShard(ctx, chats, ids, func(groups map[string]*shardKeys) error {
		found = nil
		for _, k := range groups {
			cleared, err := clearedBounds(ctx, k.db, viewer, uniqueIDs(k.chats))
			if err != nil {
				return err
			}
			rows, err := k.db.QueryContext(ctx, "SELECT "+messageColumns+" FROM messages WHERE chat_id IN ("+placeholders(len(uniqueIDs(k.chats)))+
				") AND id IN ("+placeholders(len(uniqueIDs(k.ids)))+") AND deleted_at IS NULL AND "+notHiddenFrom,
				append(append(int64Args(uniqueIDs(k.chats)), int64Args(uniqueIDs(k.ids))...), viewer)...)
			if err != nil {
				return fmt.Errorf("visible messages: %w", err)
			}
			msgs, err := scanMessages(rows)
			if err != nil {
				return fmt.Errorf("visible messages: %w", err)
			}
			for _, m := range msgs {
				if want[[2]int64{m.ChatID, m.ID}] && m.ID > cleared[m.ChatID] {
					found = append(found, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.fillAuthors(ctx, found); err != nil {
		return nil, fmt.Errorf("visible messages: %w", err)
	}
	out := make(map[int64]domain.Message, len(found))
	for _, m := range found {
		out[m.ID] = m
	}
	return out, nil
}

// MemberChatIDs lists the chats userID is a member of now.
func (s *Store) MemberChatIDs(ctx context.Context, userID int64) ([]int64, error) {
	rows, err := s.main.QueryContext(ctx, "SELECT chat_id FROM chat_members WHERE user_id = ?", userID)
	if err != nil {
		return nil, fmt.Errorf("member chats: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("member chats: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
