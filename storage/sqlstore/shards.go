package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logchat/shared/config"
)

// Chat shards (docs/design.md, "Chat shards").
//
// Every chat-scoped row (messages, read_positions, hidden_messages,
// history_cleared, search_terms, search_docs) lives on the chat's shard; the
// directory chat_shards in the main database says which, one row per chat,
// written by the gateway in the transaction that creates the chat. A chat
// without a row lives on the main database (a chat the persister rebuilt
// from the log before the directory existed). Users, chats, members, blocks,
// avatars, the outbox and the directory itself live in the main database.
// Every database, main and shards, has the whole schema (the migrations run
// on each), so a shard's copy of the main tables simply stays empty, and the
// main database is itself the shard named "main".
//
// Invariants:
//   - Writers of chat-scoped rows (ApplyBatch, ApplySearch) read the chats'
//     directory rows with a shared lock (LOCK IN SHARE MODE) in a main
//     transaction held until their shard transactions have committed. The
//     mover (MoveChat) takes the row exclusively to copy and switch, so no
//     writer is ever half-way through a batch on the old shard when the
//     chat moves.
//   - Readers cache a chat's shard for DirectoryTTL, except while the row
//     names a move in progress (move_to set): then they read the row on
//     every call. The mover sets move_to and waits DirectoryTTL before it
//     switches, so by the switch no reader holds a cached entry, and every
//     reader sees the new shard as soon as it is committed.
//   - The mover deletes the source's rows one DirectoryTTL after the switch;
//     a read that outlasts its resolution's promise runs again (readShards).

// MainShard is the name of the main database as a shard.
const MainShard = "main"

// DefaultDirectoryTTL is how long a reader trusts a cached directory entry.
const DefaultDirectoryTTL = 10 * time.Second

// ShardDSN is one shard database beyond the main one.
type ShardDSN struct {
	Name string
	DSN  string
}

var shardName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ParseShards reads a MYSQL_SHARDS value: space-separated name=DSN entries.
// Errors never quote a DSN (it holds a password).
func ParseShards(spec string) ([]ShardDSN, error) {
	var out []ShardDSN
	seen := map[string]bool{}
	for i, entry := range strings.Fields(spec) {
		name, dsn, ok := strings.Cut(entry, "=")
		switch {
		case !ok || dsn == "":
			return nil, fmt.Errorf("entry %d is not name=DSN", i+1)
		case !shardName.MatchString(name):
			return nil, fmt.Errorf("entry %d: shard name %q must be lower-case letters, digits, '-' or '_', starting with a letter, at most 32", i+1, name)
		case name == MainShard:
			return nil, fmt.Errorf("entry %d: %q is the main database (MYSQL_DSN), not a shard of its own", i+1, name)
		case seen[name]:
			return nil, fmt.Errorf("shard %q is listed twice", name)
		}
		if err := CheckDSN(dsn); err != nil {
			return nil, fmt.Errorf("shard %q: %v", name, err)
		}
		seen[name] = true
		out = append(out, ShardDSN{Name: name, DSN: dsn})
	}
	return out, nil
}

// ParseShardWeights reads a MYSQL_SHARD_WEIGHTS value: space-separated
// name=weight entries over the shards named (main and the ones listed).
// Unlisted shards weigh 1. At least one shard must weigh more than 0.
func ParseShardWeights(spec string, names []string) (map[string]int, error) {
	out := map[string]int{}
	for _, n := range names {
		out[n] = 1
	}
	seen := map[string]bool{}
	for i, entry := range strings.Fields(spec) {
		name, w, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d is not name=weight", i+1)
		}
		if _, known := out[name]; !known {
			return nil, fmt.Errorf("shard %q is not configured (main or one of the shards' names)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("shard %q is listed twice", name)
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("weight of shard %q must be an integer >= 0", name)
		}
		seen[name] = true
		out[name] = n
	}
	total := 0
	for _, w := range out {
		total += w
	}
	if total == 0 {
		return nil, errors.New("every shard weighs 0: no shard would take new chats")
	}
	return out, nil
}

// ShardsFromEnv reads the shards beyond the main database from the variable
// key (MYSQL_SHARDS, or MIGRATE_MYSQL_SHARDS for the migrate command): a
// secret like the DSNs it holds, optional (unset: the main database is the
// one shard). Problems are collected in e, naming the variable, never a DSN.
func ShardsFromEnv(e *config.Env, key string) []ShardDSN {
	spec := e.Secret(key, "")
	shards, err := ParseShards(spec)
	e.Check(err == nil, "%s: %v (space-separated name=DSN entries, e.g. s1=user:password@tcp(host:3306)/logchat)", key, err)
	return shards
}

// ShardWeightsFromEnv reads MYSQL_SHARD_WEIGHTS for the shards given (main
// and shards): how new chats are spread. The gateway places each new chat on
// the shard with the fewest chats per unit of weight.
func ShardWeightsFromEnv(e *config.Env, shards []ShardDSN) map[string]int {
	const key = "MYSQL_SHARD_WEIGHTS"
	spec := e.String(key, "")
	names := []string{MainShard}
	for _, s := range shards {
		names = append(names, s.Name)
	}
	w, err := ParseShardWeights(spec, names)
	e.Check(err == nil, "%s: %v (space-separated name=weight entries, integers >= 0; 0 takes no new chats)", key, err)
	return w
}

// Option adjusts Open and OpenProjection.
type Option func(*options)

type options struct {
	shards  []ShardDSN
	weights map[string]int
	ttl     time.Duration
}

// WithShards adds shard databases beyond the main one (MYSQL_SHARDS). Every
// process of an installation must be given the same shards.
func WithShards(shards []ShardDSN) Option { return func(o *options) { o.shards = shards } }

// WithShardWeights sets how new chats are spread (MYSQL_SHARD_WEIGHTS).
func WithShardWeights(w map[string]int) Option { return func(o *options) { o.weights = w } }

// WithDirectoryTTL sets how long readers trust a cached directory entry.
func WithDirectoryTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// Directory is the resolver of a sharded deployment: the chat_shards table
// of the main database, cached.
type Directory struct {
	main    Shard
	byName  map[string]Shard
	all     []Shard
	weights map[string]int
	ttl     time.Duration

	mu    sync.Mutex
	cache map[int64]cachedShard
	// load is the number of chats per shard as of loadAt, counted up as this
	// process places chats; placement reads it, refreshed now and then.
	load   map[string]int64
	loadAt time.Time
}

type cachedShard struct {
	name  string
	until time.Time
}

// maxCachedChats bounds the cache; past it the cache starts over.
const maxCachedChats = 1 << 20

func newDirectory(main Shard, shards []Shard, weights map[string]int, ttl time.Duration) *Directory {
	d := &Directory{main: main, byName: map[string]Shard{main.Name: main}, all: []Shard{main}, weights: weights,
		ttl: ttl, cache: map[int64]cachedShard{}}
	for _, s := range shards {
		d.byName[s.Name] = s
		d.all = append(d.all, s)
	}
	if d.ttl <= 0 {
		d.ttl = DefaultDirectoryTTL
	}
	if d.weights == nil {
		d.weights = map[string]int{}
		for _, s := range d.all {
			d.weights[s.Name] = 1
		}
	}
	return d
}

// Shards lists the main database and every shard, main first.
func (d *Directory) Shards() []Shard { return d.all }

// shard returns the named shard; a name the directory holds but this process
// was not given is a configuration error, reported, never guessed.
func (d *Directory) shard(name string) (Shard, error) {
	s, ok := d.byName[name]
	if !ok {
		return Shard{}, fmt.Errorf("the directory names shard %q, which this process is not configured with (MYSQL_SHARDS must be the same for every process)", name)
	}
	return s, nil
}

// Resolve returns the shard of each chat, from the cache where it is fresh.
func (d *Directory) Resolve(ctx context.Context, chatIDs []int64) (map[int64]Shard, error) {
	m, _, err := d.resolve(ctx, chatIDs, false)
	return m, err
}

// resolve is Resolve (fresh: without the cache) that also says until when
// the answer may be read from: MoveChat deletes a chat's rows from the shard
// it left one TTL after the switch, which comes at least one TTL after the
// move was marked, so a shard read from a row without a move in progress
// holds the chat's rows until two TTLs after that row was read, and one read
// from a row with a move in progress until one TTL after. A read that ends
// later may have found the rows gone (Store.readShards).
func (d *Directory) resolve(ctx context.Context, chatIDs []int64, fresh bool) (map[int64]Shard, time.Time, error) {
	out := make(map[int64]Shard, len(chatIDs))
	var missing []int64
	now := time.Now()
	safe := now.Add(2 * d.ttl)
	d.mu.Lock()
	for _, c := range chatIDs {
		if e, ok := d.cache[c]; ok && now.Before(e.until) && !fresh {
			out[c] = d.byName[e.name]
			// Cached at until-TTL from a row with no move in progress.
			safe = minTime(safe, e.until.Add(d.ttl))
			continue
		}
		missing = append(missing, c)
	}
	d.mu.Unlock()
	missing = uniqueIDs(missing)
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), maxInList)]
		missing = missing[len(chunk):]
		entries, err := readDirectory(ctx, d.main.DB, chunk, "")
		if err != nil {
			return nil, time.Time{}, err
		}
		d.mu.Lock()
		if len(d.cache) > maxCachedChats {
			d.cache = map[int64]cachedShard{}
		}
		for _, c := range chunk {
			e, ok := entries[c]
			if !ok {
				// No entry: the main database, not cached (the chat may
				// not exist yet).
				out[c] = d.main
				continue
			}
			s, err := d.shard(e.shard)
			if err != nil {
				d.mu.Unlock()
				return nil, time.Time{}, err
			}
			out[c] = s
			if e.moveTo == "" {
				d.cache[c] = cachedShard{name: e.shard, until: now.Add(d.ttl)}
			} else {
				safe = minTime(safe, now.Add(d.ttl))
			}
		}
		d.mu.Unlock()
	}
	return out, safe, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// dirEntry is a directory row.
type dirEntry struct {
	shard, moveTo, moveFrom string
}

// readDirectory reads the directory rows of chats; lock is "" or a locking
// clause (" LOCK IN SHARE MODE", " FOR UPDATE").
func readDirectory(ctx context.Context, q querier, chats []int64, lock string) (map[int64]dirEntry, error) {
	out := map[int64]dirEntry{}
	if len(chats) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, "SELECT chat_id, shard, COALESCE(move_to, ''), COALESCE(move_from, '') FROM chat_shards WHERE chat_id IN ("+
		placeholders(len(chats))+") ORDER BY chat_id"+lock, int64Args(chats)...)
	if err != nil {
		return nil, fmt.Errorf("read the chat directory: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c int64
		var e dirEntry
		if err := rows.Scan(&c, &e.shard, &e.moveTo, &e.moveFrom); err != nil {
			return nil, fmt.Errorf("read the chat directory: %w", err)
		}
		out[c] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the chat directory: %w", err)
	}
	return out, nil
}

// loadRefresh is how often placement recounts the chats per shard; between
// recounts it counts the chats it places itself.
const loadRefresh = time.Minute

// place chooses the shard of a new chat: the one with the fewest chats per
// unit of weight among those that take new chats (ties: the first in the
// configured order, main first).
func (d *Directory) place(ctx context.Context, q querier) (string, error) {
	d.mu.Lock()
	stale := d.load == nil || time.Since(d.loadAt) > loadRefresh
	d.mu.Unlock()
	if stale {
		rows, err := q.QueryContext(ctx, "SELECT shard, COUNT(*) FROM chat_shards GROUP BY shard")
		if err != nil {
			return "", fmt.Errorf("count chats per shard: %w", err)
		}
		load := map[string]int64{}
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				rows.Close()
				return "", fmt.Errorf("count chats per shard: %w", err)
			}
			load[name] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("count chats per shard: %w", err)
		}
		d.mu.Lock()
		d.load, d.loadAt = load, time.Now()
		d.mu.Unlock()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	best, bestW := "", 0
	var bestN int64
	for _, s := range d.all {
		w := d.weights[s.Name]
		if w <= 0 {
			continue
		}
		n := d.load[s.Name]
		// n/w < bestN/bestW, without division.
		if best == "" || n*int64(bestW) < bestN*int64(w) {
			best, bestN, bestW = s.Name, n, w
		}
	}
	if best == "" {
		return "", errors.New("no shard takes new chats (MYSQL_SHARD_WEIGHTS)")
	}
	d.load[best]++
	return best, nil
}

// forget drops a chat's cached entry (after this process moved it).
func (d *Directory) forget(chatID int64) {
	d.mu.Lock()
	delete(d.cache, chatID)
	d.mu.Unlock()
}

// ---- the store's side ----

// directory returns the store's directory, nil when unsharded.
func (s *Store) directory() *Directory {
	d, _ := s.shards.(*Directory)
	return d
}

// placeChat records a new chat's shard in the directory, in the transaction
// that creates the chat. Unsharded, the chat is placed on main, so that the
// directory is complete when shards are added later.
func (s *Store) placeChat(ctx context.Context, tx *sql.Tx, chatID int64) error {
	name := MainShard
	if d := s.directory(); d != nil {
		var err error
		if name, err = d.place(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO chat_shards (chat_id, shard) VALUES (?, ?)", chatID, name); err != nil {
		return fmt.Errorf("place chat %d: %w", chatID, err)
	}
	return nil
}

// shardOf is the shard of one chat, for a reader that reads no chat-scoped
// rows there (a move deletes only those).
func (s *Store) shardOf(ctx context.Context, chatID int64) (Shard, error) {
	m, err := s.shards.Resolve(ctx, []int64{chatID})
	if err != nil {
		return Shard{}, err
	}
	return m[chatID], nil
}

// readShards runs read with the shards that hold chats. If read ended later
// than the directory's answer holds (Directory.resolve: a read that stalled
// past a whole move, which then deleted the rows it read from the shard the
// chat left), the directory is read again without the cache, and read runs
// again where a chat changed shard. read must start its results afresh on
// each call.
func (s *Store) readShards(ctx context.Context, chats []int64, read func(map[int64]Shard) error) error {
	d := s.directory()
	if d == nil {
		m, err := s.shards.Resolve(ctx, chats)
		if err != nil {
			return err
		}
		return read(m)
	}
	m, safe, err := d.resolve(ctx, chats, false)
	for {
		if err != nil {
			return err
		}
		// An error too (a row not found may be a row deleted).
		readErr := read(m)
		if time.Now().Before(safe) {
			return readErr
		}
		var now map[int64]Shard
		if now, safe, err = d.resolve(ctx, chats, true); err == nil && sameShards(m, now) {
			// No chat moved: its rows were where read looked until now.
			return readErr
		}
		m = now
	}
}

// readChat is readShards for one chat.
func (s *Store) readChat(ctx context.Context, chatID int64, read func(Shard) error) error {
	return s.readShards(ctx, []int64{chatID}, func(m map[int64]Shard) error { return read(m[chatID]) })
}

func sameShards(a, b map[int64]Shard) bool {
	if len(a) != len(b) {
		return false
	}
	for c, sh := range a {
		if b[c].Name != sh.Name {
			return false
		}
	}
	return true
}

// fence is a writer's hold on its chats' directory rows: the shards they
// are on, valid until done is called (after the writer's shard transactions
// have committed or failed). Unsharded there is nothing to hold: no chat can
// move.
type fence struct {
	shards map[int64]Shard
	tx     *sql.Tx
}

func (f *fence) done() {
	if f.tx != nil {
		// Not committed (a writer that wrote nothing in main, or failed):
		// ending it releases the locks.
		_ = f.tx.Rollback()
	}
}

// fenceChats takes the shared locks a writer holds on its chats' directory
// rows while it writes their rows (see the invariants at the top).
func (s *Store) fenceChats(ctx context.Context, chatIDs []int64) (*fence, error) {
	d := s.directory()
	if d == nil || len(d.all) == 1 {
		m, err := s.shards.Resolve(ctx, chatIDs)
		if err != nil {
			return nil, err
		}
		return &fence{shards: m}, nil
	}
	tx, err := s.main.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, fmt.Errorf("fence chats: begin: %w", err)
	}
	f := &fence{shards: make(map[int64]Shard, len(chatIDs)), tx: tx}
	ids := uniqueIDs(chatIDs)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		entries, err := readDirectory(ctx, tx, chunk, " LOCK IN SHARE MODE")
		if err != nil {
			f.done()
			return nil, fmt.Errorf("fence chats: %w", err)
		}
		for _, c := range chunk {
			e, ok := entries[c]
			if !ok {
				f.shards[c] = d.main
				continue
			}
			sh, err := d.shard(e.shard)
			if err != nil {
				f.done()
				return nil, err
			}
			f.shards[c] = sh
		}
	}
	return f, nil
}

// joinErrors is errors.Join that returns a lone error as itself, so that a
// caller's type checks see it unchanged.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// ShardNames names the databases Versions reports, in its order: main, then
// each shard.
func (s *Store) ShardNames() []string {
	var out []string
	for _, sh := range s.shards.Shards() {
		out = append(out, sh.Name)
	}
	return out
}
