package relay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/updates"
)

// The per-user update stream (API.md, "Per-user updates"): every event a
// member sees becomes an update in each member's stream (package updates),
// written before it is published, and published on the member's personal
// channel with the cursor the stream gave it.

// MembersLoader reads a chat's members from the database, for a chat whose
// membership the update stream does not know (created before the stream
// existed, or after Redis lost it). *sqlstore.Store implements it.
type MembersLoader interface {
	Chat(ctx context.Context, chatID int64) (domain.Chat, error)
	Ping(ctx context.Context) error
}

// MemberUpdatesMaxMembers is the largest chat whose other members hear of
// each member joining or leaving (member.added, member.removed). Every join
// would otherwise cost an update per member, and a group built one member at
// a time n²/2 updates: 50 million for 10,000 members. In a bigger chat only
// the member concerned gets an update (chat.added, chat.removed); the others
// see the new count when they next load the chat.
const MemberUpdatesMaxMembers = 1000

// personalUpdate is one update for one user's stream.
type personalUpdate struct {
	user int64
	body []byte // the publication, without its cursor
}

// fanout is what one event does to the update streams.
type fanout struct {
	updates     []personalUpdate
	add, remove []int64 // membership change, for membership events
}

// needsMembers tells whether an event's fan-out depends on the chat's members.
func needsMembers(t event.Type) bool {
	switch t {
	case event.MessageCreated, event.MessageEdited, event.MessageDeleted, event.ReadMoved, event.MemberAdded, event.MemberRemoved,
		event.ChatUpdated, event.MemberUpdated:
		return true
	}
	return false
}

// planFanout maps one event to updates, given the chat's members just
// before it (members is updated in place by membership events). An event
// type this code does not know gives nothing.
func planFanout(ev event.Event, members map[int64]bool) (fanout, error) {
	switch ev.Type {
	case event.MessageCreated, event.MessageEdited, event.MessageDeleted:
		body, err := messageBody(ev)
		if err != nil {
			return fanout{}, err
		}
		return fanout{updates: toAll(members, body)}, nil

	case event.ChatUpdated, event.MemberUpdated:
		// Renames and roles are rare, and every member's view shows them.
		body, err := chatChangeBody(ev)
		if err != nil {
			return fanout{}, err
		}
		return fanout{updates: toAll(members, body)}, nil

	case event.MessageHidden:
		// Only the user's own view changed: their other devices hear of it.
		d, err := ev.Hidden()
		if err != nil {
			return fanout{}, err
		}
		var pub any = apijson.NewMessageDeleted(ev.ChatID, d.MessageID)
		if d.ThroughID > 0 {
			pub = apijson.NewHistoryCleared(ev.ChatID, d.ThroughID)
		}
		body, err := json.Marshal(pub)
		if err != nil {
			return fanout{}, err
		}
		return fanout{updates: []personalUpdate{{user: d.UserID, body: body}}}, nil

	case event.ReadMoved:
		d, err := event.Payload[event.ReadMovedData](ev.Envelope)
		if err != nil {
			return fanout{}, err
		}
		if d.UserID <= 0 {
			return fanout{}, errors.New("read.moved without a user_id")
		}
		body, err := json.Marshal(apijson.NewReadUpdated(ev.ChatID, d.UserID, d.MessageID))
		if err != nil {
			return fanout{}, err
		}
		if len(members) > ReadReceiptsMaxMembers || !members[d.UserID] {
			// As on the chat channel: n members reading would cost n²
			// updates in a big group, so there only the reader's other
			// devices hear of it.
			return fanout{updates: []personalUpdate{{user: d.UserID, body: body}}}, nil
		}
		return fanout{updates: toAll(members, body)}, nil

	case event.ChatCreated:
		d, err := event.Payload[event.ChatCreatedData](ev.Envelope)
		if err != nil {
			return fanout{}, err
		}
		f := fanout{}
		for _, m := range d.Chat.Members {
			body, err := chatAddedBody(ev, d.Chat, len(d.Chat.Members), m.User.ID)
			if err != nil {
				return fanout{}, err
			}
			f.updates = append(f.updates, personalUpdate{user: m.User.ID, body: body})
			f.add = append(f.add, m.User.ID)
			members[m.User.ID] = true
		}
		return f, nil

	case event.MemberAdded:
		d, err := event.Payload[event.MemberAddedData](ev.Envelope)
		if err != nil {
			return fanout{}, err
		}
		uid := d.Member.User.ID
		mine, err := chatAddedBody(ev, d.Chat, d.Count(), uid)
		if err != nil {
			return fanout{}, err
		}
		delete(members, uid)
		f := fanout{add: []int64{uid}}
		if len(members) < MemberUpdatesMaxMembers {
			others, err := json.Marshal(apijson.NewMemberAdded(ev.ChatID, d.Member, d.Count()))
			if err != nil {
				return fanout{}, err
			}
			f.updates = toAll(members, others)
		}
		f.updates = append(f.updates, personalUpdate{user: uid, body: mine})
		members[uid] = true
		return f, nil

	case event.MemberRemoved:
		d, err := event.Payload[event.MemberRemovedData](ev.Envelope)
		if err != nil {
			return fanout{}, err
		}
		if d.UserID <= 0 {
			return fanout{}, errors.New("member.removed without a user_id")
		}
		mine, err := json.Marshal(apijson.NewChatRemoved(ev.ChatID))
		if err != nil {
			return fanout{}, err
		}
		delete(members, d.UserID)
		f := fanout{updates: []personalUpdate{{user: d.UserID, body: mine}}, remove: []int64{d.UserID}}
		if len(members) < MemberUpdatesMaxMembers {
			others, err := json.Marshal(apijson.NewMemberRemoved(ev.ChatID, d.UserID, d.MembersCount))
			if err != nil {
				return fanout{}, err
			}
			f.updates = append(f.updates, toAll(members, others)...)
		}
		return f, nil
	}
	return fanout{}, nil
}

// toAll is the same update for every member, in id order (so that a
// retried batch builds its publications in the same order).
func toAll(members map[int64]bool, body []byte) []personalUpdate {
	out := make([]personalUpdate, 0, len(members))
	for uid := range members {
		out = append(out, personalUpdate{user: uid, body: body})
	}
	slices.SortFunc(out, func(a, b personalUpdate) int { return cmp.Compare(a.user, b.user) })
	return out
}

func chatAddedBody(ev event.Event, chat domain.Chat, membersCount int, viewer int64) ([]byte, error) {
	if viewer <= 0 {
		return nil, fmt.Errorf("%s: member without a user id", ev.Type)
	}
	return json.Marshal(apijson.NewChatAdded(Summary(ev, chat, membersCount, viewer)))
}

// fanoutPlan follows a batch's events through the chats' memberships and
// gathers their updates until flush writes them to the streams.
type fanoutPlan struct {
	r       *Relay
	members map[int64]chatMembers
	batch   *updates.Batch
	slots   []slot
}

// slot is one planned update: whose, from which event, and its result's index.
type slot struct {
	user   int64
	seq    uint64
	body   []byte
	result int
}

// newFanoutPlan reads the members of the batch's chats (and seeds, in the
// first flush, those the streams never saw).
func (r *Relay) newFanoutPlan(ctx context.Context, events []event.Event) (*fanoutPlan, error) {
	p := &fanoutPlan{r: r, batch: r.updates.NewBatch()}
	var err error
	p.members, err = r.membersOf(ctx, events, p.batch)
	return p, err
}

// add plans one event's updates, in log order after those added before.
func (p *fanoutPlan) add(ev event.Event) error {
	m := p.members[ev.ChatID]
	f, err := planFanout(ev, m.set)
	if err != nil {
		return bus.PermanentAt(ev.Seq, fmt.Errorf("%s: %w", ev.Type, err))
	}
	if len(f.add)+len(f.remove) > 0 && ev.Seq > m.version {
		p.batch.SetMembers(ev.ChatID, ev.Seq, f.add, f.remove)
	}
	for _, u := range f.updates {
		p.slots = append(p.slots, slot{user: u.user, seq: ev.Seq, body: u.body, result: p.batch.Append(u.user, ev.Partition, ev.Seq, u.body)})
	}
	return nil
}

// size is the number of updates planned and not yet flushed.
func (p *fanoutPlan) size() int { return len(p.slots) }

// flush writes the planned updates and membership changes in one round trip
// and returns, by event sequence, the personal publications to send: each
// with the cursor its update got. The plan is empty afterwards.
func (p *fanoutPlan) flush(ctx context.Context) (map[uint64][]pending, error) {
	res, err := p.r.updates.Apply(ctx, p.batch)
	if err != nil {
		return nil, err
	}
	out := make(map[uint64][]pending)
	for _, s := range p.slots {
		a := res[s.result]
		if !a.Known {
			continue
		}
		out[s.seq] = append(out[s.seq], pending{
			Publication: Publication{Channel: domain.PersonalChannel(s.user), Data: updates.WithCursor(s.body, a.Cursor)},
			key:         pubKey{seq: s.seq, user: s.user},
		})
	}
	p.batch, p.slots = p.r.updates.NewBatch(), nil
	return out, nil
}

// chatMembers is a chat's membership while a batch is planned.
type chatMembers struct {
	set     map[int64]bool
	version uint64 // membership events at or below it are in set already
}

// membersOf reads the members of the batch's chats from the stream store,
// loading from the database those it does not know (and writing them to the
// store first in batch). Membership events of the batch at or below a chat's
// version are already in its set (a retried batch) and are not applied again.
//
// Members loaded from the database are its current ones, which may be a few
// events ahead of or behind the event being applied; this happens only for
// chats the store never saw (an upgrade, or Redis lost), once per chat.
func (r *Relay) membersOf(ctx context.Context, events []event.Event, batch *updates.Batch) (map[int64]chatMembers, error) {
	var ids []int64
	seen := make(map[int64]bool)
	for _, ev := range events {
		if !seen[ev.ChatID] {
			seen[ev.ChatID] = true
			ids = append(ids, ev.ChatID)
		}
	}
	known, err := r.updates.Members(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]chatMembers, len(ids))
	for _, id := range ids {
		k := known[id]
		cm := chatMembers{set: make(map[int64]bool, len(k.IDs)), version: k.Version}
		for _, uid := range k.IDs {
			cm.set[uid] = true
		}
		if len(k.IDs) == 0 && k.Version == 0 && r.loader != nil && r.coldChat(events, id) {
			chat, err := r.loader.Chat(ctx, id)
			if err != nil && !errors.Is(err, domain.ErrNotFound) {
				return nil, fmt.Errorf("load members of chat %d: %w", id, err)
			}
			seed := make([]int64, 0, len(chat.Members))
			for _, m := range chat.Members {
				cm.set[m.User.ID] = true
				seed = append(seed, m.User.ID)
			}
			if len(seed) > 0 {
				batch.SetMembers(id, 0, seed, nil)
			}
			r.log.Info("update stream: members of a chat it did not know loaded from the database", "chat_id", id, "members", len(chat.Members))
		}
		out[id] = cm
	}
	return out, nil
}

// coldChat tells whether the batch's first event of the chat needs members
// the stream never saw: anything but the chat's creation.
func (r *Relay) coldChat(events []event.Event, chatID int64) bool {
	for _, ev := range events {
		if ev.ChatID == chatID {
			return ev.Type != event.ChatCreated && needsMembers(ev.Type)
		}
	}
	return false
}
