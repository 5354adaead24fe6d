package load

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logchat/bench/internal/stats"
)

// Phase is one measured stretch of sending.
type Phase struct {
	w       *World
	T       *Tracker
	Start   time.Time
	End     time.Time // when the last send was answered
	Send    *stats.Recorder
	Persist *stats.Recorder
	seq     atomic.Int64

	Sent     atomic.Int64
	Accepted atomic.Int64
	Failed   atomic.Int64
	errMu    sync.Mutex
	errs     map[string]int

	// PersistEvery samples the persist lag of every n-th accepted send (0: none).
	PersistEvery int64
	persistSem   chan struct{}
	persistWG    sync.WaitGroup
	text         string
	mix          *mixState // edits and deletes mixed into the open loop (SetMix)
}

var phaseCount atomic.Int64

// NewPhase starts a phase: publications of its sends are tracked from now.
func (w *World) NewPhase(textLen int) *Phase {
	now := time.Now()
	tag := fmt.Sprintf("p%d-%d-", now.UnixNano()%1e9, phaseCount.Add(1))
	p := &Phase{w: w, T: newTracker(tag, now), Start: now, Send: stats.NewRecorder(now), Persist: stats.NewRecorder(now),
		errs: map[string]int{}, persistSem: make(chan struct{}, 64), text: strings.Repeat("x", max(textLen, 1))}
	w.cur.Store(p.T)
	return p
}

// sendOne sends one message to chat ci, due at sched.
func (p *Phase) sendOne(ctx context.Context, ci int, sched time.Time) {
	c := &p.w.Chats[ci]
	author := c.Members[int(p.w.nextSender[ci].Add(1))%len(c.Members)]
	clientID := p.T.tag + strconv.FormatInt(p.seq.Add(1), 36)
	m := p.T.register(clientID, ci, sched)
	p.Sent.Add(1)
	id, err := p.w.API.Send(ctx, p.w.Users[author].Token, c.ID, p.text, clientID)
	now := time.Now()
	if err != nil {
		p.Failed.Add(1)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, so that errors group
		}
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		p.errMu.Lock()
		p.errs[msg]++
		p.errMu.Unlock()
		return
	}
	m.id.Store(id)
	m.accepted.Store(true)
	n := p.Accepted.Add(1)
	p.Send.Add(now, now.Sub(sched))
	if p.mix != nil {
		p.mix.accepted(target{ci: ci, id: id, author: author, m: m})
	}
	if p.PersistEvery > 0 && n%p.PersistEvery == 0 {
		p.samplePersist(c.ID, p.w.Users[author].Token, id, now)
	}
}

// samplePersist polls history until the message is readable there.
func (p *Phase) samplePersist(chatID int64, token string, id int64, accepted time.Time) {
	select {
	case p.persistSem <- struct{}{}:
	default:
		return // too many polls in flight: skip this sample
	}
	p.persistWG.Add(1)
	go func() {
		defer p.persistWG.Done()
		defer func() { <-p.persistSem }()
		deadline := accepted.Add(60 * time.Second)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			msgs, _, err := p.w.API.HistoryAfter(ctx, token, chatID, max(id-1, 0), 1)
			cancel()
			if err == nil && len(msgs) > 0 && msgs[0].ID == id {
				now := time.Now()
				p.Persist.Add(now, now.Sub(accepted))
				return
			}
			time.Sleep(5 * time.Millisecond) // the lag is known to 5 ms; the target is 100 ms
		}
	}()
}

// OpenLoopSenders is how many requests an open-loop phase keeps in flight
// at most (each on its own keep-alive connection). Sends that fall due while
// all are busy wait in a queue: their latency still counts from when they were
// due, so back-pressure is measured, not hidden, and the gateway is not
// flooded with new connections.
const OpenLoopSenders = 512

// OpenLoop sends at a fixed rate for d, whatever the answers take: a slow
// answer does not delay when the next send falls due. Latency counts from
// when a send was due.
func (p *Phase) OpenLoop(ctx context.Context, rate float64, d time.Duration, pick func() int) {
	type due struct {
		chat  int
		sched time.Time
	}
	queue := make(chan due, int(rate*d.Seconds())+1)
	var wg sync.WaitGroup
	for range OpenLoopSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range queue {
				p.doOne(ctx, s.chat, s.sched)
			}
		}()
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var issued int64
	for {
		el := time.Since(start)
		if el >= d || ctx.Err() != nil {
			break
		}
		// Send i is due at i/rate: everything due by now (el) is issued now.
		// (Issuing only those due before el would hold each send back one
		// interval, which its latency, counted from when it was due, includes.)
		for n := int64(el.Seconds()*rate) + 1; issued < n; issued++ {
			queue <- due{chat: pick(), sched: start.Add(time.Duration(float64(issued) / rate * float64(time.Second)))}
		}
		<-tick.C
	}
	close(queue)
	wg.Wait()
	p.End = time.Now()
}

// ClosedLoop runs k senders, each sending its next message as soon as the
// previous one is answered, for d.
func (p *Phase) ClosedLoop(ctx context.Context, k int, d time.Duration, pick func() int) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p.sendOne(context.Background(), pick(), time.Now())
			}
		}()
	}
	wg.Wait()
	p.End = time.Now()
}

// ClosedLoopN is ClosedLoop until n sends were made.
func (p *Phase) ClosedLoopN(ctx context.Context, k int, n int64, pick func() int) {
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(n)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && left.Add(-1) >= 0 {
				p.sendOne(ctx, pick(), time.Now())
			}
		}()
	}
	wg.Wait()
	p.End = time.Now()
}

// Expected is how many first deliveries the accepted sends should make.
func (p *Phase) Expected() int64 {
	var n int64
	p.T.each(func(_ string, m *msg) {
		if m.accepted.Load() {
			n += int64(p.w.Chats[m.chat].Subscribers)
		}
	})
	return n
}

// WaitDelivered waits until every accepted send reached every subscriber of
// its chat, or timeout passes; it also waits for the persist-lag polls.
func (p *Phase) WaitDelivered(timeout time.Duration) {
	want := p.Expected()
	deadline := time.Now().Add(timeout)
	for p.T.Deliveries.Load() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	p.persistWG.Wait()
}

// Errors returns the send errors seen, by message.
func (p *Phase) Errors() map[string]int {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	out := make(map[string]int, len(p.errs))
	for k, v := range p.errs {
		out[k] = v
	}
	return out
}

// Delivery is the realtime side of a phase.
type Delivery struct {
	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	OutOfOrder int64 `json:"out_of_order"`
	Unexpected int64 `json:"unexpected"`
	// Complete counts accepted messages that reached every subscriber of their chat.
	Complete int64 `json:"complete"`
}

// Delivery counts what reached the subscribers.
func (p *Phase) Delivery() Delivery {
	d := Delivery{Duplicated: p.T.Duplicated.Load(), OutOfOrder: p.T.OutOfOrder.Load(), Unexpected: p.T.Unexpected.Load()}
	p.T.each(func(_ string, m *msg) {
		if !m.accepted.Load() {
			return
		}
		want := int64(p.w.Chats[m.chat].Subscribers)
		got := int64(m.delivered.Load())
		d.Expected += want
		d.Delivered += got
		if got < want {
			d.Lost += want - got
		} else {
			d.Complete++
		}
	})
	return d
}

// HistoryCheck is the final check that every accepted send is in history once.
type HistoryCheck struct {
	Chats      int   `json:"chats"`
	Accepted   int64 `json:"accepted"`
	Missing    int64 `json:"missing"`
	Duplicated int64 `json:"duplicated"`   // an accepted client_id more than once
	WrongID    int64 `json:"wrong_id"`     // found under another id than the send was answered with
	OutOfOrder int64 `json:"out_of_order"` // history not ascending by id
	// A mixed phase's (SetMix): a message deleted for everyone still shown,
	// an edited one without its last accepted text.
	DeletedShown int64 `json:"deleted_shown,omitempty"`
	StaleEdit    int64 `json:"stale_edit,omitempty"`
}

// CheckHistory reads every chat's whole history once the projections caught
// up (it retries missing messages until timeout).
func (p *Phase) CheckHistory(ctx context.Context, timeout time.Duration) (HistoryCheck, error) {
	byChat := map[int32]map[string]*msg{}
	var accepted int64
	p.T.each(func(cid string, m *msg) {
		if !m.accepted.Load() {
			return
		}
		if byChat[m.chat] == nil {
			byChat[m.chat] = map[string]*msg{}
		}
		byChat[m.chat][cid] = m
		accepted++
	})
	chats := make([]int32, 0, len(byChat))
	for c := range byChat {
		chats = append(chats, c)
	}
	deadline := time.Now().Add(timeout)
	var mu sync.Mutex
	res := HistoryCheck{Chats: len(chats), Accepted: accepted}
	err := parallel(ctx, len(chats), 16, func(ctx context.Context, i int) error {
		ci := chats[i]
		want := byChat[ci]
		c := p.w.Chats[ci]
		for {
			hist, err := p.w.API.AllHistory(ctx, p.w.Users[c.Members[0]].Token, c.ID)
			if err != nil {
				return err
			}
			var r HistoryCheck
			count := map[string]int{}
			ids := map[string]int64{}
			texts := map[string]string{}
			for j, h := range hist {
				if j > 0 && h.ID <= hist[j-1].ID {
					r.OutOfOrder++
				}
				if _, ok := want[h.ClientID]; ok {
					count[h.ClientID]++
					ids[h.ClientID] = h.ID
					texts[h.ClientID] = h.Text
				}
			}
			var missing []string
			for cid, m := range want {
				id := m.id.Load()
				switch n := count[cid]; {
				case m.deleted.Load():
					r.DeletedShown += int64(n)
				case n == 0:
					r.Missing++
					missing = append(missing, fmt.Sprintf("%s (answered id %d)", cid, id))
				case n > 1:
					r.Duplicated += int64(n - 1)
				case ids[cid] != id:
					r.WrongID++
				default:
					if t := m.text.Load(); t != nil && texts[cid] != *t {
						r.StaleEdit++
					}
				}
			}
			if r.Missing+r.DeletedShown+r.StaleEdit > 0 && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				continue // the persister may still be behind
			}
			if len(missing) > 0 {
				// What the 202 said, for whoever looks into the log.
				log.Printf("history of chat %d lacks %d accepted messages: %s", c.ID, len(missing), strings.Join(missing[:min(len(missing), 5)], ", "))
			}
			mu.Lock()
			res.Missing += r.Missing
			res.Duplicated += r.Duplicated
			res.WrongID += r.WrongID
			res.OutOfOrder += r.OutOfOrder
			res.DeletedShown += r.DeletedShown
			res.StaleEdit += r.StaleEdit
			mu.Unlock()
			return nil
		}
	})
	return res, err
}

// Finish stops tracking publications.
func (p *Phase) Finish() { p.w.cur.CompareAndSwap(p.T, nil) }

// RandomChat picks a chat uniformly.
func (w *World) RandomChat() int { return w.randomChat() }
