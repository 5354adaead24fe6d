package updates

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// recentForRetry is how many of a user's newest updates Append searches for
// an update it is asked to write again, to give back its cursor. A retried
// event is recent; one further back gets no live publication again (the
// client has it, or finds the gap and asks GET /updates).
const recentForRetry = 64

// Members is a chat's membership as the stream knows it.
type Members struct {
	IDs     []int64 // ascending
	Version uint64  // log sequence of the last membership event applied; 0 for none
}

// Has tells whether uid is a member.
func (m Members) Has(uid int64) bool {
	i := sort.Search(len(m.IDs), func(i int) bool { return m.IDs[i] >= uid })
	return i < len(m.IDs) && m.IDs[i] == uid
}

// Members reads the membership of chats, in one round trip.
func (s *Store) Members(ctx context.Context, chatIDs []int64) (map[int64]Members, error) {
	pipe := s.rdb.Pipeline()
	sets := make([]*redis.StringSliceCmd, len(chatIDs))
	versions := make([]*redis.StringCmd, len(chatIDs))
	for i, cid := range chatIDs {
		sets[i] = pipe.SMembers(ctx, s.membersKey(cid))
		versions[i] = pipe.Get(ctx, s.mvKey(cid))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("updates: read members: %w", err)
	}
	out := make(map[int64]Members, len(chatIDs))
	for i, cid := range chatIDs {
		var m Members
		for _, v := range sets[i].Val() {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("updates: member %q of chat %d: %w", v, cid, err)
			}
			m.IDs = append(m.IDs, id)
		}
		sort.Slice(m.IDs, func(a, b int) bool { return m.IDs[a] < m.IDs[b] })
		if v, err := versions[i].Uint64(); err == nil {
			m.Version = v
		}
		out[cid] = m
	}
	return out, nil
}

// Batch is the writes of one batch of events, applied in the order they
// were added, in one round trip.
type Batch struct {
	ops     []op
	appends int
}

type op struct {
	// a membership change (members set) or an append (uid set)
	chatID      int64
	add, remove []int64
	uid         int64
	partition   int
	seq         uint64
	body        []byte
	result      int // index of an append's result
}

// NewBatch starts the writes of a batch of events.
func (s *Store) NewBatch() *Batch { return &Batch{} }

// SetMembers records the membership change of the event at seq: add and
// remove user ids. It is applied only if the chat's membership has not seen
// seq yet.
func (b *Batch) SetMembers(chatID int64, seq uint64, add, remove []int64) {
	b.ops = append(b.ops, op{chatID: chatID, seq: seq, add: add, remove: remove})
}

// Append adds an update to uid's stream: body is the publication without
// its cursor, partition and seq the log partition and sequence of the event
// it comes from (one update per user and event; a partition's events must
// be appended in log order). It returns the index of its result in Apply's
// answer.
func (b *Batch) Append(uid int64, partition int, seq uint64, body []byte) int {
	b.ops = append(b.ops, op{uid: uid, partition: partition, seq: seq, body: body, result: b.appends})
	b.appends++
	return b.appends - 1
}

// Appended is the result of one Append.
type Appended struct {
	Cursor Cursor
	// Known is false when the update had been applied before and is no
	// longer among the user's newest entries: its cursor is unknown, and
	// it is not published again.
	Known bool
	// New is true when this call stored it (false: it was there already).
	New bool
}

// Apply writes the batch.
func (s *Store) Apply(ctx context.Context, b *Batch) ([]Appended, error) {
	if len(b.ops) == 0 {
		return nil, nil
	}
	// The scripts must be in Redis's script cache before a pipeline of
	// EVALSHA; Load is cheap and idempotent.
	if err := s.loadScripts(ctx); err != nil {
		return nil, err
	}
	cmds, err := s.exec(ctx, b)
	if err != nil && strings.Contains(err.Error(), "NOSCRIPT") {
		// Redis restarted (or flushed its scripts) since they were loaded:
		// load them again and send the batch again at once. Every write is
		// idempotent, and an error here, with Redis answering, would count
		// as the events' fault.
		s.loaded.Store(false)
		if err := s.loadScripts(ctx); err != nil {
			return nil, err
		}
		cmds, err = s.exec(ctx, b)
	}
	if err != nil {
		return nil, fmt.Errorf("updates: apply %d writes: %w", len(b.ops), err)
	}
	out := make([]Appended, b.appends)
	for i, c := range cmds {
		res, err := c.Slice()
		if err != nil {
			return nil, fmt.Errorf("updates: append: %w", err)
		}
		status, _ := res[0].(int64)
		if status == 2 { // applied before, not found among the newest
			continue
		}
		id, _ := res[1].(string)
		n, _ := res[2].(int64)
		out[i] = Appended{Cursor: Cursor{N: n, Stream: id}, Known: true, New: status == 1}
	}
	return out, nil
}

// exec sends the batch's writes in one pipeline; cmds[i] is append i's reply.
func (s *Store) exec(ctx context.Context, b *Batch) ([]*redis.Cmd, error) {
	stream := newStreamID()
	ttl := int64(s.idleTTL / time.Second)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, b.appends)
	for _, o := range b.ops {
		if o.uid == 0 {
			args := []any{o.seq, len(o.add)}
			for _, id := range o.add {
				args = append(args, id)
			}
			for _, id := range o.remove {
				args = append(args, id)
			}
			membersScript.EvalSha(ctx, pipe, []string{s.membersKey(o.chatID), s.mvKey(o.chatID)}, args...)
			continue
		}
		cmds[o.result] = appendScript.EvalSha(ctx, pipe, []string{s.metaKey(o.uid), s.logKey(o.uid)},
			stream, o.partition, o.seq, s.keep, ttl, o.body, recentForRetry)
	}
	_, err := pipe.Exec(ctx)
	return cmds, err
}

func (s *Store) loadScripts(ctx context.Context) error {
	if s.loaded.Load() {
		return nil
	}
	for _, sc := range []*redis.Script{appendScript, membersScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("updates: load script: %w", err)
		}
	}
	s.loaded.Store(true)
	return nil
}
