// Package presence is the gateway's ephemeral realtime (API.md 1.1, "Typing
// and presence"): typing notices on chat channels, and who is online, with
// the partner of each direct chat told of every change. Nothing of it is in
// the log.
//
// Who detects that a user went offline: this package, by asking Centrifugo.
// Centrifugo v6 calls no backend when a connection closes (its proxies are
// connect — only for connections without a token, never ours —, refresh,
// subscribe, publish, sub_refresh, RPC and the map and stream ones), and
// join/leave messages reach only the subscribers of the same channel. So one
// gateway instance at a time (a Redis lease) sweeps: it asks Centrifugo which
// personal channels have subscribers (the channels API, one call for every
// user), compares with the users online at the previous sweep (a Redis set),
// records the time of each departure in users.last_seen_at, and publishes
// presence.updated to each direct chat of each user who came or went. See
// docs/design.md, "Typing and presence".
package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

// Centrifugo is what the tracker asks of Centrifugo (*API).
type Centrifugo interface {
	Publisher
	Subscribed(ctx context.Context) (map[int64]struct{}, error)
}

// Store is MySQL (*sqlstore.Store).
type Store interface {
	SetLastSeen(ctx context.Context, ids []int64, at time.Time) error
	PresenceAudience(ctx context.Context, ids []int64) ([]sqlstore.PresenceTarget, error)
}

// DefaultInterval is how often the lease holder sweeps.
const DefaultInterval = 2 * time.Second

// Tracker keeps who is online.
type Tracker struct {
	cent     Centrifugo
	store    Store
	rdb      redis.UniversalClient
	online   string // the set of online user ids
	lease    string // the sweeper's lease
	id       string // this instance's name on the lease
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	sweeps, changes, published prometheus.Counter
}

// NewTracker returns the tracker; its keys are rdb's under prefix; interval
// 0 is DefaultInterval. Its counters (what presence costs) are registered
// in reg.
func NewTracker(cent Centrifugo, st Store, rdb redis.UniversalClient, prefix string, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *Tracker {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{cent: cent, store: st, rdb: rdb, online: prefix + "presence:online", lease: prefix + "presence:lease",
		id:       strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatUint(uint64(rand.Uint32()), 36),
		interval: interval, log: log, now: time.Now,
		sweeps: promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "logchat_presence_sweeps_total",
			Help: "Presence sweeps made by this instance (each one Centrifugo channels call and one Redis SMEMBERS)."}),
		changes: promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "logchat_presence_changes_total",
			Help: "Users found to have come online or gone offline."}),
		published: promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "logchat_presence_publications_total",
			Help: "presence.updated publications made (one per direct chat of a changed user whose partner may see it)."}),
	}
}

// Online says whether a user has at least one realtime connection (as of
// the last sweep).
func (t *Tracker) Online(ctx context.Context, uid int64) (bool, error) {
	return t.rdb.SIsMember(ctx, t.online, uid).Result()
}

// Run sweeps every interval while this instance holds the lease, and tries
// to take it every interval otherwise, until ctx ends. A failed sweep is
// logged and tried again at the next tick: presence is ephemeral, and the
// next sweep compares from the state the last good one left.
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.release()
			return nil
		case <-tick.C:
		}
		held, err := t.hold(ctx)
		if err != nil {
			t.log.Warn("presence lease", "err", err)
			continue
		}
		if !held {
			continue
		}
		if err := t.Sweep(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("presence sweep", "err", err)
		}
	}
}

// holdScript takes the lease when it is free and prolongs it when this
// instance holds it: three intervals, so that a holder that dies is replaced
// within three sweeps and a slow sweep does not lose it.
var holdScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

func (t *Tracker) hold(ctx context.Context) (bool, error) {
	n, err := holdScript.Run(ctx, t.rdb, []string{t.lease}, t.id, (3 * t.interval).Milliseconds()).Int()
	return n == 1, err
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// release gives the lease up at shutdown, so that another instance takes
// over at its next tick instead of after the lease runs out.
func (t *Tracker) release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, t.rdb, []string{t.lease}, t.id).Err()
}

// Sweep compares who is subscribed to their personal channel with who was
// online, and makes the difference known. The order makes a failure
// harmless: MySQL's last_seen_at is written before the set changes, so a
// sweep that fails halfway is redone whole by the next one (the departure
// time then being that sweep's).
func (t *Tracker) Sweep(ctx context.Context) error {
	// Milliseconds, as MySQL keeps it and the API shows it: the
	// publication and the profile then say the same time.
	now := t.now().UTC().Truncate(time.Millisecond)
	subscribed, err := t.cent.Subscribed(ctx)
	if err != nil {
		return err
	}
	members, err := t.rdb.SMembers(ctx, t.online).Result()
	if err != nil {
		return fmt.Errorf("online set: %w", err)
	}
	t.sweeps.Inc()
	known := make(map[int64]struct{}, len(members))
	var left []int64
	for _, m := range members {
		id, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			continue
		}
		known[id] = struct{}{}
		if _, ok := subscribed[id]; !ok {
			left = append(left, id)
		}
	}
	var came []int64
	for id := range subscribed {
		if _, ok := known[id]; !ok {
			came = append(came, id)
		}
	}
	if len(came)+len(left) == 0 {
		return nil
	}
	if len(left) > 0 {
		if err := t.store.SetLastSeen(ctx, left, now); err != nil {
			return err
		}
	}
	pipe := t.rdb.TxPipeline()
	if len(came) > 0 {
		pipe.SAdd(ctx, t.online, int64sToAny(came)...)
	}
	if len(left) > 0 {
		pipe.SRem(ctx, t.online, int64sToAny(left)...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("online set: %w", err)
	}
	t.changes.Add(float64(len(came) + len(left)))
	return t.announce(ctx, came, left, now)
}

// announce publishes presence.updated on each direct chat of the users who
// came or went whose partner may see it. last_seen_at is the time recorded
// for the user (for one who came: when they were last seen before).
func (t *Tracker) announce(ctx context.Context, came, left []int64, now time.Time) error {
	changed := append(append([]int64{}, came...), left...)
	targets, err := t.store.PresenceAudience(ctx, changed)
	if err != nil {
		return err
	}
	online := make(map[int64]bool, len(came))
	for _, id := range came {
		online[id] = true
	}
	pubs := make([]Publication, 0, len(targets))
	for _, tg := range targets {
		seen := tg.LastSeenAt
		if !online[tg.UserID] {
			seen = &now // the value just written
		}
		data, err := json.Marshal(apijson.NewPresenceUpdated(tg.UserID, online[tg.UserID], seen))
		if err != nil {
			return err
		}
		pubs = append(pubs, Publication{Channel: domain.ChatChannel(tg.ChatID), Data: data})
	}
	if err := t.cent.Publish(ctx, pubs); err != nil {
		// The change is recorded: a lost announcement leaves the partner's
		// view stale until the next change or a reload of the profile.
		return err
	}
	t.published.Add(float64(len(pubs)))
	return nil
}

func int64sToAny(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
