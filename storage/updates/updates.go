// Package updates is each user's update stream (API.md, "Per-user updates"):
// every change a user sees, numbered 1, 2, 3, … in the order it was applied,
// kept in Redis so that a client that missed live publications can ask for
// everything after its cursor. The notifier writes it (Append) and publishes
// what it wrote; the gateway reads it (After, Current).
//
// # Why Redis
//
// The stream is a projection of the log like the chat cache: it can be
// rebuilt by a replay, so it needs no durability of its own (losing it costs
// clients a 410 and a reload, never a wrong answer). What it needs is a
// per-user counter that is assigned and made visible in one atomic step, and
// Redis's scripts give exactly that with one round trip per batch; MySQL
// would need a row lock per user and a transaction per update.
//
// # Ordering: why a cursor never skips an update
//
// The log is split into partitions that are applied concurrently, and one
// user's updates come from chats in any of them. A cursor made of log
// positions would then be unsafe: partition B could make seq 105 visible
// before partition A makes seq 100 visible, and a client reading in between
// would move past 100 for good. Instead the number n is assigned by the
// Append script itself, inside Redis, at the moment the update becomes
// visible: the script runs alone (Redis runs one script at a time), so when
// a reader sees update n, every update 1..n-1 of that user is already stored.
// Readers therefore never skip. The cost is that n is per user, so one event
// going to many members becomes one Append per member (see docs/design.md,
// "Per-user updates", for the fan-out's cost and limits).
//
// # Idempotency and replay
//
// A batch can be applied twice (redelivery, a replay, a crash between
// writing here and acking). Each user's meta hash keeps, per log partition,
// the highest sequence applied to that user (hw:<p>). Events of one
// partition are applied in log order, so an event at or below that mark was
// already applied to this user and is skipped: a replay from sequence 1 over
// a live stream changes nothing, and a replay into an empty store builds the
// same updates (numbered by application order, under a new stream id, so old
// cursors get 410). The skip also finds the update's n among the user's
// newest entries, so that a retried publication carries the same cursor.
//
// Membership, which decides who receives a chat's events, is kept here too
// (m:<cid>), updated from the same partition's events in log order and only
// when the event is newer than the last membership event applied (mv), so a
// replay never rolls it back.
//
// # Key layout
//
// Every key starts with the prefix P (REDIS_PREFIX). A user's two keys share
// a hash tag, so the scripts work on Redis Cluster too.
//
//	P up:{<uid>}       HASH  stream: the stream id; pts: the last n assigned;
//	                         floor: the highest n dropped by trimming;
//	                         hw:<partition>: the last log sequence applied
//	P up:{<uid>}:log   ZSET  score n; member "<seq>|<publication JSON without cursor>"
//	P upm:{<cid>}      SET   the chat's member ids, as of the last applied event
//	P upm:{<cid>}:v    STRING  mv: the sequence of the last membership event applied
//
// Both user keys expire IdleTTL after the user's last update; a stream keeps
// its newest Keep updates.
package updates

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/config"
	"github.com/logchat/storage/redisconn"
)

// Defaults of what a stream keeps (API.md promises at least 7 days or
// 10,000 updates; the newest 10,000 are kept whatever their age).
const (
	DefaultKeep    = 10_000
	DefaultIdleTTL = 30 * 24 * time.Hour
)

// Store is the update streams under one key prefix.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	keep    int
	idleTTL time.Duration
	loaded  atomic.Bool // the write scripts are in Redis's script cache
}

// New returns the streams under prefix. keep and idleTTL of 0 mean the defaults.
func New(rdb redis.UniversalClient, prefix string, keep int, idleTTL time.Duration) *Store {
	if keep <= 0 {
		keep = DefaultKeep
	}
	if idleTTL <= 0 {
		idleTTL = DefaultIdleTTL
	}
	return &Store{rdb: rdb, prefix: prefix, keep: keep, idleTTL: idleTTL}
}

// Ping checks that Redis serves every key: on Redis Cluster, every master
// (redisconn.Ping says why not any one).
func (s *Store) Ping(ctx context.Context) error { return redisconn.Ping(ctx, s.rdb) }

func (s *Store) metaKey(uid int64) string    { return s.prefix + "up:{" + itoa(uid) + "}" }
func (s *Store) logKey(uid int64) string     { return s.prefix + "up:{" + itoa(uid) + "}:log" }
func (s *Store) membersKey(cid int64) string { return s.prefix + "upm:{" + itoa(cid) + "}" }
func (s *Store) mvKey(cid int64) string      { return s.prefix + "upm:{" + itoa(cid) + "}:v" }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Cursor is a position in one user's stream: after the N-th update of
// stream Stream. Its text form is "<n>.<stream>".
type Cursor struct {
	N      int64
	Stream string
}

func (c Cursor) String() string { return strconv.FormatInt(c.N, 10) + "." + c.Stream }

// ErrBadCursor means a cursor that this server never gave out (HTTP 400).
var ErrBadCursor = errors.New("updates: malformed cursor")

// ErrGone means a cursor older than what the stream keeps, or from a stream
// that no longer exists (HTTP 410): the client must reload.
var ErrGone = errors.New("updates: cursor older than the updates kept")

// ParseCursor reads the text form of a cursor.
func ParseCursor(s string) (Cursor, error) {
	n, stream, ok := strings.Cut(s, ".")
	if !ok || stream == "" || len(stream) > 32 || len(n) == 0 || len(n) > 18 {
		return Cursor{}, ErrBadCursor
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || v < 0 || (len(n) > 1 && n[0] == '0') {
		return Cursor{}, ErrBadCursor
	}
	for _, r := range stream {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return Cursor{}, ErrBadCursor
		}
	}
	return Cursor{N: v, Stream: stream}, nil
}

// newStreamID names a stream that Append or Current may create: random, so
// that a stream rebuilt after a loss never accepts the cursors of the old one.
func newStreamID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// WithCursor returns a publication's JSON object with "cursor" added as its
// first field. data must be a JSON object.
func WithCursor(data []byte, c Cursor) []byte {
	out := make([]byte, 0, len(data)+48)
	out = append(out, `{"cursor":"`...)
	out = append(out, c.String()...)
	out = append(out, '"')
	if len(data) > 2 {
		out = append(out, ',')
	}
	return append(out, data[1:]...)
}

// Page is what After returns.
type Page struct {
	Updates [][]byte // publications, cursor included, oldest first
	Cursor  Cursor   // the last one returned, or the one asked after
	HasMore bool
}

// Current returns the user's current cursor, creating the user's stream
// when it does not exist yet, so that a cursor taken before the user's first
// update stays valid after it.
func (s *Store) Current(ctx context.Context, uid int64) (Cursor, error) {
	res, err := currentScript.Run(ctx, s.rdb, []string{s.metaKey(uid), s.logKey(uid)},
		newStreamID(), int64(s.idleTTL/time.Second)).StringSlice()
	if err != nil {
		return Cursor{}, fmt.Errorf("updates: current cursor of user %d: %w", uid, err)
	}
	n, _ := strconv.ParseInt(res[1], 10, 64)
	return Cursor{N: n, Stream: res[0]}, nil
}

// After returns up to limit of the user's updates after c, oldest first.
func (s *Store) After(ctx context.Context, uid int64, c Cursor, limit int) (Page, error) {
	res, err := afterScript.Run(ctx, s.rdb, []string{s.metaKey(uid), s.logKey(uid)},
		c.Stream, c.N, limit+1).Slice()
	if err != nil {
		return Page{}, fmt.Errorf("updates: updates of user %d: %w", uid, err)
	}
	switch res[0] {
	case "gone":
		return Page{}, ErrGone
	case "ahead":
		return Page{}, ErrBadCursor
	}
	page := Page{Cursor: c}
	entries := res[1:]
	for i := 0; i+1 < len(entries); i += 2 {
		if len(page.Updates) == limit {
			page.HasMore = true
			break
		}
		member, _ := entries[i].(string)
		n, err := strconv.ParseInt(fmt.Sprint(entries[i+1]), 10, 64)
		if err != nil {
			return Page{}, fmt.Errorf("updates: bad entry of user %d: %w", uid, err)
		}
		_, body, ok := strings.Cut(member, "|")
		if !ok {
			return Page{}, fmt.Errorf("updates: bad entry of user %d", uid)
		}
		page.Cursor = Cursor{N: n, Stream: c.Stream}
		page.Updates = append(page.Updates, WithCursor([]byte(body), page.Cursor))
	}
	return page, nil
}

// Settings are what a stream keeps: its newest Keep updates, and the stream
// itself for IdleTTL after its last update.
type Settings struct {
	Keep    int
	IdleTTL time.Duration
}

// SettingsFromEnv reads UPDATES_KEEP and UPDATES_IDLE_TTL, for the notifier
// (which writes the streams) and the gateway (which creates an empty one for
// a cursor taken before a user's first update). Problems are collected in env.
func SettingsFromEnv(env *config.Env) Settings {
	s := Settings{
		Keep:    env.Int("UPDATES_KEEP", DefaultKeep),
		IdleTTL: env.Duration("UPDATES_IDLE_TTL", DefaultIdleTTL),
	}
	env.Check(s.Keep >= 100, "UPDATES_KEEP must be at least 100")
	env.Check(s.IdleTTL >= 7*24*time.Hour, "UPDATES_IDLE_TTL must be at least 168h: API.md promises 7 days of updates")
	return s
}
