package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logchat/bench/internal/stats"
)

// Mix is the share of a phase's operations, in percent, that edit or delete
// (for everyone) a message the phase sent earlier (API.md 1.1, "Messages");
// the rest are sends. The zero Mix sends only.
type Mix struct {
	Edits, Deletes int
}

// ParseMix reads "edits=10,deletes=2" ("" is the zero Mix).
func ParseMix(s string) (Mix, error) {
	var m Mix
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return m, fmt.Errorf("--mix %q: want edits=N,deletes=N (percent of operations)", s)
		}
		switch k {
		case "edits":
			m.Edits = n
		case "deletes":
			m.Deletes = n
		default:
			return m, fmt.Errorf("--mix %q: unknown operation %q (edits, deletes)", s, k)
		}
	}
	if m.Edits+m.Deletes >= 100 {
		return m, fmt.Errorf("--mix %q: edits and deletes must leave room for sends", s)
	}
	return m, nil
}

// Zero reports whether the mix sends only.
func (m Mix) Zero() bool { return m.Edits == 0 && m.Deletes == 0 }

func (m Mix) String() string { return fmt.Sprintf("edits=%d,deletes=%d", m.Edits, m.Deletes) }

// target is an accepted message that no edit or delete holds right now.
type target struct {
	ci     int
	id     int64
	author int
	m      *msg
}

// mixState is a phase's edits and deletes: its own latencies and counts.
type mixState struct {
	mix    Mix
	mu     sync.Mutex
	pool   []target // accepted messages free to edit or delete
	Edit   *stats.Recorder
	Delete *stats.Recorder

	Edits, Deletes           atomic.Int64 // accepted
	EditFailed, DeleteFailed atomic.Int64
	editSeq                  atomic.Int64
	editText                 string
}

// SetMix makes the phase's open loop mix edits and deletes of its earlier
// messages into its sends. Call it before sending.
func (p *Phase) SetMix(m Mix) {
	if m.Zero() {
		p.mix = nil
		return
	}
	p.mix = &mixState{mix: m, Edit: stats.NewRecorder(p.Start), Delete: stats.NewRecorder(p.Start), editText: p.text}
}

// MixCounts is what a mixed phase did besides sending.
type MixCounts struct {
	Edits, Deletes, EditFailed, DeleteFailed int64
	Edit, Delete                             stats.Summary
}

// MixCounts reports the phase's edits and deletes (zero without a mix).
func (p *Phase) MixCounts() MixCounts {
	if p.mix == nil {
		return MixCounts{}
	}
	x := p.mix
	return MixCounts{Edits: x.Edits.Load(), Deletes: x.Deletes.Load(), EditFailed: x.EditFailed.Load(), DeleteFailed: x.DeleteFailed.Load(),
		Edit: x.Edit.Summary(0, 0), Delete: x.Delete.Summary(0, 0)}
}

// accepted offers a message to later edits and deletes.
func (x *mixState) accepted(t target) {
	x.mu.Lock()
	x.pool = append(x.pool, t)
	x.mu.Unlock()
}

// take removes a random free message from the pool: while an edit or a
// delete holds it, no other operation picks it, so a message's edits are
// applied in the order they were answered and never race its delete.
func (x *mixState) take() (target, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.pool) == 0 {
		return target{}, false
	}
	i := rand.IntN(len(x.pool))
	t := x.pool[i]
	x.pool[i] = x.pool[len(x.pool)-1]
	x.pool = x.pool[:len(x.pool)-1]
	return t, true
}

// doOne is one operation of the open loop, due at sched: an edit, a delete
// or a send, by the mix (a send when nothing can be edited or deleted yet).
func (p *Phase) doOne(ctx context.Context, ci int, sched time.Time) {
	x := p.mix
	if x == nil {
		p.sendOne(ctx, ci, sched)
		return
	}
	r := rand.IntN(100)
	if r < x.mix.Edits+x.mix.Deletes {
		if t, ok := x.take(); ok {
			if r < x.mix.Edits {
				p.editOne(ctx, t, sched)
			} else {
				p.deleteOne(ctx, t, sched)
			}
			return
		}
	}
	p.sendOne(ctx, ci, sched)
}

func (p *Phase) editOne(ctx context.Context, t target, sched time.Time) {
	x := p.mix
	n := x.editSeq.Add(1)
	// As long as the sends' texts, so that an edit costs what a send's body does.
	prefix := "edit " + strconv.FormatInt(n, 10) + " "
	text := prefix + x.editText[min(len(prefix), len(x.editText)):]
	err := p.w.API.Edit(ctx, p.w.Users[t.author].Token, p.w.Chats[t.ci].ID, t.id, text)
	now := time.Now()
	if err != nil {
		x.EditFailed.Add(1)
		p.noteError("edit: ", err)
	} else {
		t.m.text.Store(&text)
		x.Edits.Add(1)
		x.Edit.Add(now, now.Sub(sched))
	}
	x.accepted(t)
}

func (p *Phase) deleteOne(ctx context.Context, t target, sched time.Time) {
	x := p.mix
	err := p.w.API.Delete(ctx, p.w.Users[t.author].Token, p.w.Chats[t.ci].ID, t.id)
	now := time.Now()
	if err != nil {
		x.DeleteFailed.Add(1)
		p.noteError("delete: ", err)
		x.accepted(t)
		return
	}
	t.m.deleted.Store(true)
	x.Deletes.Add(1)
	x.Delete.Add(now, now.Sub(sched))
}

// noteError counts an error by its message (without the URL, so that errors group).
func (p *Phase) noteError(prefix string, err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := prefix + err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	p.errMu.Lock()
	p.errs[msg]++
	p.errMu.Unlock()
}
