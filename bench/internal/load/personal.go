package load

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/centrifugal/centrifuge-go"

	json "github.com/segmentio/encoding/json"
)

// The 1.1 client (API.md, "Per-user updates"): one subscription, the
// personal channel, whose publications carry a cursor "<n>.<stream>"; the
// client applies updates in n order, holds a later one back briefly when one
// is missing, and fills a gap, or a resubscription Centrifugo could not
// recover, with GET /updates from the last cursor it applied.

// UpdatesPage is GET /updates' answer.
type UpdatesPage struct {
	Updates []json.RawMessage `json:"updates"`
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
}

// Updates returns the caller's updates after cursor (all: the current cursor
// only, no updates). A 410 is a *StatusError with Status 410.
func (a *API) Updates(ctx context.Context, token, after string, limit int) (UpdatesPage, error) {
	var out UpdatesPage
	q := fmt.Sprintf("/updates?limit=%d", limit)
	if after != "" {
		q += "&after=" + url.QueryEscape(after)
	}
	_, err := a.Do(ctx, "GET", q, token, nil, &out)
	return out, err
}

// CursorN is the n of a cursor "<n>.<stream>" (API.md: n counts a user's
// updates 1, 2, 3, … without gaps); ok is false for anything else.
func CursorN(cursor string) (n int64, stream string, ok bool) {
	i := strings.IndexByte(cursor, '.')
	if i <= 0 || i == len(cursor)-1 {
		return 0, "", false
	}
	n, err := strconv.ParseInt(cursor[:i], 10, 64)
	if err != nil || n < 0 {
		return 0, "", false
	}
	return n, cursor[i+1:], true
}

// gapWait is how long a client holds back an update that came before the
// one it expects next, before it asks GET /updates (as the web client does).
const gapWait = 500 * time.Millisecond

// updatesLimit is the page size of a catch-up.
const updatesLimit = 100

// cursorState is a 1.1 client's position in its update stream: the last
// update applied and the ones that arrived early, held back until the gap
// before them fills. It is pure: the caller locks.
type cursorState struct {
	n       int64
	stream  string
	pending map[int64]publication
}

// offer takes one update and returns those now to be applied, in order
// (none when it is a duplicate, or early: then gap is true).
func (c *cursorState) offer(n int64, stream string, p publication) (apply []publication, gap bool) {
	if stream != c.stream || n <= c.n {
		return nil, false // an old stream's, or already applied
	}
	if n > c.n+1 {
		if c.pending == nil {
			c.pending = map[int64]publication{}
		}
		c.pending[n] = p
		return nil, true
	}
	apply = append(apply, p)
	c.n = n
	for {
		q, ok := c.pending[c.n+1]
		if !ok {
			break
		}
		delete(c.pending, c.n+1)
		apply = append(apply, q)
		c.n++
	}
	for k := range c.pending {
		if k <= c.n {
			delete(c.pending, k)
		}
	}
	return apply, len(c.pending) > 0
}

// cursor is the cursor of the last update applied.
func (c *cursorState) cursor() string { return strconv.FormatInt(c.n, 10) + "." + c.stream }

// reset starts again from a new cursor (after a 410), dropping what was held back.
func (c *cursorState) reset(n int64, stream string) {
	c.n, c.stream, c.pending = n, stream, nil
}

// msgKey is one message of one chat.
type msgKey struct{ chat, id int64 }

// personalState is the 1.1 part of a FleetSub.
type personalState struct {
	cur      cursorState
	msgs     map[msgKey]byte // 1 live, 2 GET /updates, 3 both (then duplicated)
	catching bool            // a catch-up is running
	again    bool            // a catch-up was asked for while one ran
	gapTimer bool            // a gap is being waited for
}

// HasMsg reports whether message id of chat chatID reached this personal subscription.
func (s *FleetSub) HasMsg(chatID, id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p != nil && s.p.msgs[msgKey{chatID, id}] != 0
}

// applyLocked applies updates (fs.mu held); via is 1 (live) or 2 (GET /updates).
func (f *Fleet) applyLocked(fs *FleetSub, ups []publication, via byte, now time.Time) {
	for _, p := range ups {
		if p.Type != "message.created" {
			continue
		}
		k := msgKey{p.Message.ChatID, p.Message.ID}
		had := fs.p.msgs[k]
		fs.p.msgs[k] |= via
		if had != 0 {
			f.RealtimeDup.Add(1) // one message under two cursors
			continue
		}
		if via == 2 {
			f.ViaReload.Add(1)
		} else {
			fs.arrived[p.Message.ID] = now
		}
	}
}

// AddPersonal subscribes m to its personal channel only, as the 1.1 client:
// it takes its cursor first (GET /updates without after), then subscribes.
func (f *Fleet) AddPersonal(ctx context.Context, m *Member, channel string) error {
	page, err := f.API.Updates(ctx, m.User.Token, "", 1)
	if err != nil {
		return fmt.Errorf("initial cursor: %w", err)
	}
	n, stream, ok := CursorN(page.Cursor)
	if !ok {
		return fmt.Errorf("initial cursor %q is not <n>.<stream>", page.Cursor)
	}
	fs := &FleetSub{Channel: channel, ids: map[int64]byte{}, arrived: map[int64]time.Time{},
		p: &personalState{cur: cursorState{n: n, stream: stream}, msgs: map[msgKey]byte{}}}
	sub, err := f.newSubscription(m, channel)
	if err != nil {
		return err
	}
	fs.sub = sub
	f.watch(fs, func(e centrifuge.SubscribedEvent, _ int64) {
		if e.WasRecovering {
			if e.Recovered {
				f.Recovered.Add(1)
			} else {
				f.NotRecovered.Add(1)
				f.catchUp(m, fs)
			}
		}
	})
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		now := time.Now()
		var p publication
		if json.Unmarshal(e.Data, &p) != nil {
			return
		}
		n, stream, ok := CursorN(p.Cursor)
		if !ok {
			return
		}
		fs.mu.Lock()
		apply, gap := fs.p.cur.offer(n, stream, p)
		f.applyLocked(fs, apply, 1, now)
		wait := gap && !fs.p.gapTimer && !fs.p.catching
		if wait {
			fs.p.gapTimer = true
		}
		fs.mu.Unlock()
		if wait {
			time.AfterFunc(gapWait, func() {
				fs.mu.Lock()
				fs.p.gapTimer = false
				still := len(fs.p.cur.pending) > 0
				fs.mu.Unlock()
				if still {
					f.Gaps.Add(1)
					f.catchUp(m, fs)
				}
			})
		}
	})
	m.Subs = append(m.Subs, fs)
	m.byChannel[channel] = fs
	m.Personal = fs
	if err := sub.Subscribe(); err != nil {
		f.subErr(err.Error())
	}
	return nil
}

// catchUp asks GET /updates from the last cursor applied, page after page
// while has_more; on 410 it takes a new cursor and reloads the chat list.
// Failed requests are retried as a reload's are (Fleet.retry).
func (f *Fleet) catchUp(m *Member, fs *FleetSub) {
	fs.mu.Lock()
	if fs.p.catching {
		fs.p.again = true
		fs.mu.Unlock()
		return
	}
	fs.p.catching = true
	fs.mu.Unlock()
	f.reloadWG.Add(1)
	go func() {
		defer f.reloadWG.Done()
		f.CatchUps.Add(1)
		api := f.ReloadAPI
		if api == nil {
			api = f.API
		}
		for round := 0; ; round++ {
			fs.mu.Lock()
			after := fs.p.cur.cursor()
			fs.p.again = false
			fs.mu.Unlock()
			var page UpdatesPage
			gone := false
			ok := f.retry(m, func(ctx context.Context) error {
				f.UpdatesCalls.Add(1)
				var err error
				page, err = api.Updates(ctx, m.User.Token, after, updatesLimit)
				if se, isStatus := err.(*StatusError); isStatus && se.Status == 410 {
					gone = true
					return nil
				}
				return err
			})
			if !ok {
				break
			}
			if gone {
				f.Gone.Add(1)
				var fresh UpdatesPage
				f.retry(m, func(ctx context.Context) error {
					f.UpdatesCalls.Add(1)
					var err error
					fresh, err = api.Updates(ctx, m.User.Token, "", 1)
					return err
				})
				f.retry(m, func(ctx context.Context) error {
					f.Reloads.Add(1)
					_, _, err := api.ListChats(ctx, m.User.Token, 50, "")
					return err
				})
				n, stream, _ := CursorN(fresh.Cursor)
				fs.mu.Lock()
				fs.p.cur.reset(n, stream)
				fs.mu.Unlock()
				break
			}
			now := time.Now()
			fs.mu.Lock()
			for _, raw := range page.Updates {
				var p publication
				if json.Unmarshal(raw, &p) != nil {
					continue
				}
				if n, stream, ok := CursorN(p.Cursor); ok {
					apply, _ := fs.p.cur.offer(n, stream, p)
					f.applyLocked(fs, apply, 2, now)
				}
			}
			more := page.HasMore && len(page.Updates) > 0
			again := fs.p.again || len(fs.p.cur.pending) > 0 && !more
			fs.mu.Unlock()
			if !more && !again || round >= 100 {
				break
			}
			if !more {
				// Early updates still held: the ones before them were not
				// yet visible; ask again after a pause.
				time.Sleep(gapWait)
			}
		}
		fs.mu.Lock()
		fs.p.catching = false
		fs.mu.Unlock()
	}()
}
