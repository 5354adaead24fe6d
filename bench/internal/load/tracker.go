package load

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	// A faster drop-in encoding/json: the load generator shares the CPU with the stack.
	json "github.com/segmentio/encoding/json"

	"github.com/logchat/bench/internal/stats"
)

// msg is one send the load generator made.
type msg struct {
	chat     int32
	sched    time.Time // when the send was due (open loop) or started (closed loop)
	id       atomic.Int64
	accepted atomic.Bool
	// delivered counts the subscribers that got it (first deliveries only).
	delivered atomic.Int32
	// text is the message's last accepted edit (nil: never edited), and
	// deleted says it was deleted for everyone (a mixed phase, SetMix).
	text    atomic.Pointer[string]
	deleted atomic.Bool
}

// Tracker follows every send of one phase from request to each subscriber.
type Tracker struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.Mutex
		m  map[string]*msg
	}
	start      time.Time
	tag        string // client_id prefix of this phase
	E2E        *stats.Recorder
	chans      sync.Map // chanKey -> *chanState
	Duplicated atomic.Int64
	OutOfOrder atomic.Int64
	Unexpected atomic.Int64 // publications of this phase's sends that were never registered
	Deliveries atomic.Int64
}

type chanKey struct{ sub, chat int32 }

type chanState struct {
	mu   sync.Mutex
	last int64
	seen map[int64]struct{}
}

func newTracker(tag string, start time.Time) *Tracker {
	t := &Tracker{seed: maphash.MakeSeed(), start: start, tag: tag, E2E: stats.NewRecorder(start)}
	for i := range t.shards {
		t.shards[i].m = map[string]*msg{}
	}
	return t
}

func (t *Tracker) shard(clientID string) *struct {
	mu sync.Mutex
	m  map[string]*msg
} {
	return &t.shards[maphash.String(t.seed, clientID)%uint64(len(t.shards))]
}

func (t *Tracker) register(clientID string, chat int, sched time.Time) *msg {
	m := &msg{chat: int32(chat), sched: sched}
	s := t.shard(clientID)
	s.mu.Lock()
	s.m[clientID] = m
	s.mu.Unlock()
	return m
}

func (t *Tracker) lookup(clientID string) *msg {
	s := t.shard(clientID)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[clientID]
}

// publication is what the checks read of a realtime publication.
type publication struct {
	Type    string `json:"type"`
	Cursor  string `json:"cursor"` // personal channels only
	Message struct {
		ID       int64  `json:"id"`
		ChatID   int64  `json:"chat_id"`
		ClientID string `json:"client_id"`
	} `json:"message"`
}

// deliver records one publication received by subscriber sub on chat's channel.
func (t *Tracker) deliver(sub, chat int, data []byte, at time.Time) {
	var p publication
	if json.Unmarshal(data, &p) != nil || p.Type != "message.created" {
		return
	}
	t.record(sub, chat, &p, at)
}

// deliverPersonal records one publication received by subscriber sub on its
// personal channel; its chat is found by the message's chat_id.
func (t *Tracker) deliverPersonal(sub int, chatIndex map[int64]int, data []byte, at time.Time) {
	var p publication
	if json.Unmarshal(data, &p) != nil || p.Type != "message.created" {
		return
	}
	chat, ok := chatIndex[p.Message.ChatID]
	if !ok {
		return // a chat of another world
	}
	t.record(sub, chat, &p, at)
}

func (t *Tracker) record(sub, chat int, p *publication, at time.Time) {
	if len(p.Message.ClientID) < len(t.tag) || p.Message.ClientID[:len(t.tag)] != t.tag {
		return // another phase's message, delivered late
	}
	k := chanKey{int32(sub), int32(chat)}
	v, ok := t.chans.Load(k)
	if !ok {
		v, _ = t.chans.LoadOrStore(k, &chanState{seen: map[int64]struct{}{}})
	}
	cs := v.(*chanState)
	cs.mu.Lock()
	_, dup := cs.seen[p.Message.ID]
	if !dup {
		cs.seen[p.Message.ID] = struct{}{}
		if p.Message.ID < cs.last {
			t.OutOfOrder.Add(1)
		}
		cs.last = max(cs.last, p.Message.ID)
	}
	cs.mu.Unlock()
	if dup {
		t.Duplicated.Add(1)
		return
	}
	m := t.lookup(p.Message.ClientID)
	if m == nil {
		t.Unexpected.Add(1)
		return
	}
	m.delivered.Add(1)
	t.Deliveries.Add(1)
	t.E2E.Add(at, at.Sub(m.sched))
}

// each calls f for every registered send.
func (t *Tracker) each(f func(clientID string, m *msg)) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, m := range s.m {
			f(k, m)
		}
		s.mu.Unlock()
	}
}
