package chatcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// loadConcurrency bounds the MySQL reads of one batch (chats to load after a flush).
const loadConcurrency = 4

// maxRun bounds the messages of one script call: a script blocks Redis while
// it runs, and 100 messages take about a millisecond.
const maxRun = 100

// op is one event's effect: a script call (one message of a messagesScript
// run, for messages), or a plain command when script is nil.
type op struct {
	seq    uint64
	chatID int64
	script *redis.Script
	keys   []string
	args   []any
	// carriesMembers: a member.added whose event lists every member (a
	// direct chat, or an event written before groups' lists were left out).
	carriesMembers bool
}

// call is one command of a batch's pipeline: a single op, or a run of messages.
type call struct {
	script *redis.Script // nil: args is a plain command
	keys   []string
	args   []any
	msgs   []op // the messages of a run, in ARGV order
}

// ApplyEvents applies a batch of one partition's events in log order
// (MessageCreated, MessageEdited, MessageDeleted, MessageHidden, ReadMoved,
// ChatCreated, MemberAdded, MemberRemoved; other types are skipped). Pipelined; idempotent.
//
// A message for a chat whose members are not cached (Redis was flushed) loads
// the chat from the Loader first. An event that can never apply (its payload
// does not decode, or it is a message MySQL would refuse too) is an error
// that wraps domain.ErrInvalid and names the event; nothing of the batch is
// written then.
func (c *Cache) ApplyEvents(ctx context.Context, events []event.Event) error {
	ops := make([]op, 0, len(events))
	// Chats the batch needs cached before its first message or removal, unless
	// an earlier event of the batch carries the whole chat.
	need := map[int64]bool{}
	carried := map[int64]bool{}
	withMessages := map[int64]bool{}
	lastMessage := map[int64]int{} // chat -> index in ops of its last message
	for _, ev := range events {
		o, err := c.prepare(ev)
		if err != nil {
			return fmt.Errorf("event %d (%s): %w: %w", ev.Seq, ev.Type, domain.ErrInvalid, err)
		}
		if o.script == nil && o.args == nil {
			continue // a type this cache does not use
		}
		switch ev.Type {
		case event.ChatCreated:
			carried[ev.ChatID] = true
		case event.MemberAdded:
			if o.carriesMembers {
				carried[ev.ChatID] = true
			} else if !carried[ev.ChatID] {
				// A group's join names no other member: the chat must be
				// cached (from MySQL) first, and MySQL must have it (the
				// gateway commits it before the event leaves the outbox).
				need[ev.ChatID] = true
				withMessages[ev.ChatID] = true
			}
		case event.MessageCreated, event.MemberRemoved:
			if !carried[ev.ChatID] {
				need[ev.ChatID] = true
			}
		}
		if ev.Type == event.MessageCreated {
			withMessages[ev.ChatID] = true
			lastMessage[ev.ChatID] = len(ops)
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil
	}
	for _, i := range lastMessage {
		ops[i].args[messageFields-1] = "1"
	}
	calls, err := c.loadMissing(ctx, need, withMessages)
	if err != nil {
		return err
	}
	for _, o := range ops {
		if o.script != messagesScript {
			calls = append(calls, call{script: o.script, keys: o.keys, args: o.args})
			continue
		}
		if n := len(calls); n == 0 || calls[n-1].script != messagesScript || len(calls[n-1].msgs) == maxRun {
			calls = append(calls, call{script: messagesScript, args: []any{c.prefix, c.recent}})
		}
		run := &calls[len(calls)-1]
		run.args = append(run.args, o.args...)
		run.msgs = append(run.msgs, o)
	}
	// Not atomic: each script is, and a batch interrupted half way is retried.
	cmds, err := c.pipelined(ctx, false, func(p redis.Pipeliner) {
		for _, cl := range calls {
			if cl.script == nil {
				p.Do(ctx, cl.args...)
				continue
			}
			cl.script.EvalSha(ctx, p, cl.keys, cl.args...)
		}
	})
	if err != nil {
		return fmt.Errorf("apply events: %w", err)
	}
	for i, cmd := range cmds {
		if calls[i].script != messagesScript {
			continue
		}
		statuses, err := cmd.(*redis.Cmd).Int64Slice()
		if err != nil {
			return fmt.Errorf("apply messages: %w", err)
		}
		for j, st := range statuses {
			if st == scriptSkipped {
				// Loaded above, gone now: Redis was flushed mid-batch. The retry loads it again.
				o := calls[i].msgs[j]
				return fmt.Errorf("apply message %d: chat %d is no longer cached", o.seq, o.chatID)
			}
		}
	}
	return nil
}

// prepare turns one event into its script call; a zero op for types this
// cache does not use.
func (c *Cache) prepare(ev event.Event) (op, error) {
	o := op{seq: ev.Seq, chatID: ev.ChatID}
	switch ev.Type {
	case event.MessageCreated:
		m, err := ev.Message()
		if err != nil {
			return op{}, err
		}
		m.SentAt = m.SentAt.UTC()
		// What MySQL refuses must not count here either.
		if err := domain.ValidateMessage(m); err != nil {
			return op{}, err
		}
		last, err := messageJSON(m)
		if err != nil {
			return op{}, err
		}
		o.script = messagesScript
		o.args = []any{itoa(m.ID), itoa(m.Author.ID) + ":" + m.ClientID, itoa(m.ChatID), itoa(m.Author.ID),
			itoa(m.SentAt.UnixMilli()), string(last), "0"} // messageFields; the last is the fan-out flag
	case event.MessageEdited:
		m, err := ev.Edited()
		if err != nil {
			return op{}, err
		}
		body, err := messageJSON(m)
		if err != nil {
			return op{}, err
		}
		o.script = messageEditedScript
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.args = []any{itoa(m.ID), ev.Seq, string(body)}
	case event.MessageDeleted:
		d, err := ev.Deleted()
		if err != nil {
			return op{}, err
		}
		o.script = messageDeletedScript
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.args = []any{itoa(d.MessageID)}
	case event.MessageHidden:
		d, err := ev.Hidden()
		if err != nil {
			return op{}, err
		}
		// Plain commands: a user's hidden ids and cleared position only grow.
		if d.MessageID > 0 {
			o.args = []any{"ZADD", c.hiddenKey(d.UserID, ev.ChatID), itoa(d.MessageID), itoa(d.MessageID)}
		} else {
			o.args = []any{"ZADD", c.clearedKey(d.UserID), "GT", itoa(d.ThroughID), itoa(ev.ChatID)}
		}
	case event.ChatUpdated:
		d, err := event.Payload[event.ChatUpdatedData](ev.Envelope)
		if err != nil {
			return op{}, err
		}
		o.script = chatUpdatedScript
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.args = []any{ev.Seq, d.Chat.Title}
	case event.MemberUpdated:
		d, err := event.Payload[event.MemberUpdatedData](ev.Envelope)
		if err != nil {
			return op{}, err
		}
		u := d.Member.User
		if u.ID <= 0 {
			return op{}, fmt.Errorf("member.updated without a user: %w", domain.ErrInvalid)
		}
		var old, renamed []byte
		if d.Previous != nil && d.Previous.ID == u.ID {
			if old, err = json.Marshal(*d.Previous); err != nil {
				return op{}, err
			}
			if renamed, err = json.Marshal(u); err != nil {
				return op{}, err
			}
		}
		o.script = memberUpdatedScript
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.args = []any{itoa(u.ID), u.Name, string(old), string(renamed)}
	case event.ReadMoved:
		d, err := event.Payload[event.ReadMovedData](ev.Envelope)
		if err != nil {
			return op{}, err
		}
		if d.UserID <= 0 || d.MessageID < 0 {
			return op{}, fmt.Errorf("read.moved with user %d, message %d: %w", d.UserID, d.MessageID, domain.ErrInvalid)
		}
		// Not a script: ZADD GT moves a position only forward.
		o.args = []any{"ZADD", c.readKey(d.UserID), "GT", itoa(d.MessageID), itoa(ev.ChatID)}
	case event.ChatCreated:
		d, err := event.Payload[event.ChatCreatedData](ev.Envelope)
		if err != nil {
			return op{}, err
		}
		o.script = chatCreatedScript
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.args = append([]any{c.prefix, listMember(ev.ChatID), ev.Seq,
			string(d.Chat.Kind), d.Chat.Title, itoa(d.Chat.CreatedAt.UnixMilli())}, memberArgs(d.Chat.Members)...)
	case event.MemberAdded:
		d, err := event.Payload[event.MemberAddedData](ev.Envelope)
		if err != nil {
			return op{}, err
		}
		if d.Member.User.ID <= 0 {
			return op{}, fmt.Errorf("member.added without a user: %w", domain.ErrInvalid)
		}
		o.script = memberAddedScript
		o.carriesMembers = len(d.Chat.Members) > 0
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.args = append([]any{c.prefix, listMember(ev.ChatID), ev.Seq, itoa(d.Member.User.ID), d.Member.User.Name,
			string(d.Chat.Kind), d.Chat.Title, itoa(d.Chat.CreatedAt.UnixMilli())}, memberArgs(d.Chat.Members)...)
	case event.MemberRemoved:
		d, err := event.Payload[event.MemberRemovedData](ev.Envelope)
		if err != nil {
			return op{}, err
		}
		if d.UserID <= 0 {
			return op{}, fmt.Errorf("member.removed without a user: %w", domain.ErrInvalid)
		}
		o.script = memberRemovedScript
		o.keys = []string{c.chatKey(ev.ChatID), c.listKey(d.UserID)}
		o.args = []any{ev.Seq, itoa(d.UserID), listMember(ev.ChatID)}
	}
	return o, nil
}

// messageJSON is a message as the cache keeps it whole (a chat's last
// message, the recent ones), which every member's chat list shows: a
// forward's source chat is left out, since not every member may see it.
func messageJSON(m domain.Message) ([]byte, error) {
	if m.Forward != nil {
		f := *m.Forward
		f.ChatID = 0
		m.Forward = &f
	}
	return json.Marshal(m)
}

func memberArgs(ms []domain.Member) []any {
	out := make([]any, 0, 2*len(ms))
	for _, m := range ms {
		out = append(out, itoa(m.User.ID), m.User.Name)
	}
	return out
}

// loadMissing finds which of the needed chats are not cached and reads them
// from MySQL, returning the script calls that cache them. A chat missing from
// MySQL too is an error when the batch has messages for it (the gateway
// commits a chat just after publishing its event, so a retry usually finds
// it; one that never appears ends in the dead-letter stream), and is left
// alone when the batch only removes members from it.
func (c *Cache) loadMissing(ctx context.Context, need, withMessages map[int64]bool) ([]call, error) {
	if len(need) == 0 {
		return nil, nil
	}
	ids := make([]int64, 0, len(need))
	for id := range need {
		ids = append(ids, id)
	}
	cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Exists(ctx, c.chatKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check cached chats: %w", err)
	}
	var missing []int64
	for i, cmd := range cmds {
		if cmd.(*redis.IntCmd).Val() == 0 {
			missing = append(missing, ids[i])
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	chats := make([]*domain.Chat, len(missing))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for i, id := range missing {
		g.Go(func() error {
			ch, err := c.loader.Chat(gctx, id)
			if errors.Is(err, domain.ErrNotFound) && !withMessages[id] {
				return nil
			}
			if err != nil {
				return fmt.Errorf("load chat %d: %w", id, err)
			}
			chats[i] = &ch
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]call, 0, len(missing))
	for i, ch := range chats {
		if ch == nil {
			continue
		}
		out = append(out, call{script: loadChatScript, keys: []string{c.chatKey(missing[i])},
			args: append([]any{string(ch.Kind), ch.Title, itoa(ch.CreatedAt.UnixMilli())}, memberArgs(ch.Members)...)})
	}
	return out, nil
}
