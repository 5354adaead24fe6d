package verify

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Who writes which table decides what the check does with it. This is the
// one place to change when the schema changes; a table the migrations add
// and this file does not name is taken for the persister's and compared row
// by row, every column.

// gatewayTable is a table the gateway writes in the transaction that stages
// its event: the log cannot rebuild it, so the scratch database gets a copy
// of the live rows. projected are the columns the persister maintains in it,
// with the expression that gives their value when the gateway creates a row;
// only those columns are compared.
type gatewayTable struct {
	name      string
	projected map[string]string
}

// Chats and chat_members are not among them: the gateway writes them first,
// but every change is also an event with the chat's version, which the
// persister applies to a database that lacks it (storage/sqlstore/
// chatreplay.go), so they are rebuilt and compared like its own tables.
// Users, blocks and avatars are not in the log.
//
// The chat directory (chat_shards) is the gateway's too: where a chat's rows
// are is not an event. The rebuild uses a copy of the live one, so each
// chat's rows are rebuilt on the scratch shard of the same name.
var gatewayTables = []gatewayTable{
	{name: "users"},
	{name: "chat_shards"},
	{name: "blocks"},
	{name: "avatars"},
}

// notProjections are neither the gateway's nor a projection of the log: the
// migrations' bookkeeping, the gateway's outbox (drained to the log) and the
// persister's and searcher's per-partition progress (it depends on how
// batches fell). The searcher's index (search_terms, search_docs) is a
// projection like the persister's tables, rebuilt and compared row by row.
var notProjections = []string{"goose_db_version", "outbox", "persister_progress", "search_progress"}

// seqColumns name, per table, columns that hold a log sequence (a message id
// is one). A live row where one of them is above S was changed by an event
// the check did not replay: it is left out of the comparison and counted.
// (A delete records no sequence: a message deleted after S shows as a
// difference of deleted_at and text. Run the check on a quiet system.)
var seqColumns = map[string][]string{
	"messages":        {"id", "edit_seq"},
	"read_positions":  {"message_id"},
	"chats":           {"last_message_id"},
	"hidden_messages": {"message_id"},
	"history_cleared": {"through_id"},
	// An edit after S changes a message's terms but names no sequence in
	// them: on a busy system its old and new terms show as differences.
	"search_docs":  {"message_id", "version"},
	"search_terms": {"message_id"},
}

// column is one column of a table.
type column struct {
	name string
	key  bool // part of the primary key
}

// columns lists a table's columns in order, with its primary key marked.
func columns(ctx context.Context, db *sql.DB, schema, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, `
		SELECT c.COLUMN_NAME, COALESCE(k.ORDINAL_POSITION, 0)
		FROM information_schema.COLUMNS c
		LEFT JOIN information_schema.KEY_COLUMN_USAGE k
		  ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
		 AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
		WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ?
		ORDER BY c.ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		var keyPos int
		if err := rows.Scan(&c.name, &keyPos); err != nil {
			return nil, err
		}
		c.key = keyPos > 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("table %s.%s has no columns (does it exist?)", schema, table)
	}
	return out, nil
}

// tableSpec is one table as compared: its key, and the columns compared.
type tableSpec struct {
	name   string
	key    []string
	values []string
	seq    []string
}

// projectionTables discovers from the scratch schema (this build's
// migrations) what to compare.
func projectionTables(ctx context.Context, db *sql.DB, schema string) ([]tableSpec, error) {
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`, schema)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []tableSpec
	for _, n := range names {
		if slices.Contains(notProjections, n) {
			continue
		}
		var projected map[string]string
		gateway := false
		for _, g := range gatewayTables {
			if g.name == n {
				gateway, projected = true, g.projected
			}
		}
		if gateway && len(projected) == 0 {
			continue
		}
		cols, err := columns(ctx, db, schema, n)
		if err != nil {
			return nil, err
		}
		spec := tableSpec{name: n, seq: seqColumns[n]}
		for _, c := range cols {
			switch {
			case c.key:
				spec.key = append(spec.key, c.name)
			case !gateway:
				spec.values = append(spec.values, c.name)
			default:
				if _, ok := projected[c.name]; ok {
					spec.values = append(spec.values, c.name)
				}
			}
		}
		if len(spec.key) == 0 {
			return nil, fmt.Errorf("table %s has no primary key: the check cannot pair its rows", n)
		}
		out = append(out, spec)
	}
	return out, nil
}

// row is one table row as text: NULL is distinct from every string.
type row struct {
	key    []string
	values []sql.NullString
}

// tableRows streams a table's rows in primary-key order.
type tableRows struct {
	rows *sql.Rows
	spec tableSpec
	cur  *row
	err  error
}

func openRows(ctx context.Context, db *sql.DB, schema string, spec tableSpec) (*tableRows, error) {
	cols := make([]string, 0, len(spec.key)+len(spec.values))
	for _, c := range append(append([]string{}, spec.key...), spec.values...) {
		cols = append(cols, quoteIdent(c))
	}
	keys := make([]string, len(spec.key))
	for i, k := range spec.key {
		keys[i] = quoteIdent(k)
	}
	q := fmt.Sprintf("SELECT %s FROM %s.%s ORDER BY %s", strings.Join(cols, ", "), quoteIdent(schema), quoteIdent(spec.name), strings.Join(keys, ", "))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read %s.%s: %w", schema, spec.name, err)
	}
	t := &tableRows{rows: rows, spec: spec}
	t.next()
	return t, t.err
}

func (t *tableRows) next() {
	t.cur = nil
	if !t.rows.Next() {
		t.err = t.rows.Err()
		return
	}
	n := len(t.spec.key) + len(t.spec.values)
	vals := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := t.rows.Scan(ptrs...); err != nil {
		t.err = err
		return
	}
	r := &row{values: vals[len(t.spec.key):]}
	for _, v := range vals[:len(t.spec.key)] {
		r.key = append(r.key, v.String)
	}
	t.cur = r
}

// compareKeys orders two primary keys as MySQL does for the integer keys
// every projection table has (and bytewise for anything else).
func compareKeys(a, b []string) int {
	for i := range a {
		x, errx := strconv.ParseInt(a[i], 10, 64)
		y, erry := strconv.ParseInt(b[i], 10, 64)
		var c int
		if errx == nil && erry == nil {
			c = cmpInt(x, y)
		} else {
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// afterS reports whether a live row was changed by an event after S.
func (s tableSpec) afterS(r *row, lastSeq uint64) bool {
	for _, c := range s.seq {
		var v sql.NullString
		if i := slices.Index(s.key, c); i >= 0 {
			v = sql.NullString{String: r.key[i], Valid: true}
		} else if i := slices.Index(s.values, c); i >= 0 {
			v = r.values[i]
		}
		if n, err := strconv.ParseInt(v.String, 10, 64); v.Valid && err == nil && n > int64(lastSeq) {
			return true
		}
	}
	return false
}

func (s tableSpec) keyString(key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = s.key[i] + "=" + k
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (s tableSpec) rowString(r *row) string {
	if r == nil {
		return "(no row)"
	}
	parts := make([]string, len(r.values))
	for i, v := range r.values {
		parts[i] = s.values[i] + "=" + showValue(v)
	}
	return strings.Join(parts, " ")
}

// diffString shows only the columns that differ.
func (s tableSpec) diffString(live, rebuilt *row) (string, string) {
	var l, r []string
	for i := range live.values {
		if live.values[i] != rebuilt.values[i] {
			l = append(l, s.values[i]+"="+showValue(live.values[i]))
			r = append(r, s.values[i]+"="+showValue(rebuilt.values[i]))
		}
	}
	return strings.Join(l, " "), strings.Join(r, " ")
}

func showValue(v sql.NullString) string {
	if !v.Valid {
		return "NULL"
	}
	if len(v.String) > 80 {
		return strconv.Quote(v.String[:77] + "...")
	}
	return strconv.Quote(v.String)
}

// compareTables compares every projection table of the scratch database
// with the live one, in primary-key order, streaming both sides.
func compareTables(ctx context.Context, live, scratch *sql.DB, liveName string, lastSeq uint64, col *collector) ([]ViewResult, error) {
	var scratchName string
	if err := scratch.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&scratchName); err != nil {
		return nil, err
	}
	specs, err := projectionTables(ctx, scratch, scratchName)
	if err != nil {
		return nil, err
	}
	var out []ViewResult
	for _, spec := range specs {
		res, err := compareTable(ctx, live, scratch, liveName, scratchName, spec, lastSeq, col)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func compareTable(ctx context.Context, live, scratch *sql.DB, liveName, scratchName string, spec tableSpec, lastSeq uint64, col *collector) (ViewResult, error) {
	res := ViewResult{View: spec.name}
	l, err := openRows(ctx, live, liveName, spec)
	if err != nil {
		return res, err
	}
	defer l.rows.Close()
	r, err := openRows(ctx, scratch, scratchName, spec)
	if err != nil {
		return res, err
	}
	defer r.rows.Close()
	for l.cur != nil || r.cur != nil {
		var c int
		switch {
		case l.cur == nil:
			c = 1
		case r.cur == nil:
			c = -1
		default:
			c = compareKeys(l.cur.key, r.cur.key)
		}
		switch {
		case c < 0: // only live has it
			if spec.afterS(l.cur, lastSeq) {
				res.AfterS++
			} else {
				res.Compared++
				res.Differences++
				col.add(Diff{View: spec.name, Key: spec.keyString(l.cur.key), Live: spec.rowString(l.cur), Rebuilt: "(no row)"})
			}
			l.next()
		case c > 0: // only the rebuild has it
			res.Compared++
			res.Differences++
			col.add(Diff{View: spec.name, Key: spec.keyString(r.cur.key), Live: "(no row)", Rebuilt: spec.rowString(r.cur)})
			r.next()
		default:
			if spec.afterS(l.cur, lastSeq) {
				res.AfterS++
			} else {
				res.Compared++
				if !slices.Equal(l.cur.values, r.cur.values) {
					res.Differences++
					lv, rv := spec.diffString(l.cur, r.cur)
					col.add(Diff{View: spec.name, Key: spec.keyString(l.cur.key), Live: lv, Rebuilt: rv})
				}
			}
			l.next()
			r.next()
		}
		if l.err != nil {
			return res, fmt.Errorf("read live %s: %w", spec.name, l.err)
		}
		if r.err != nil {
			return res, fmt.Errorf("read rebuilt %s: %w", spec.name, r.err)
		}
	}
	return res, nil
}
