package chatcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

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
	// userID is the member a member.added or member.removed is about, the
	// author of a message: whose keys the script's answer says to write.
	userID int64
	msgID  int64
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
	calls = append(calls, c.chatCalls(ops)...)
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
	userCmds, err := c.userWrites(calls, cmds)
	if err != nil {
		return err
	}
	if len(userCmds) == 0 {
		return nil
	}
	// The users' side of the batch, in the order of the chats' scripts: a
	// (user, chat) pair's writes are on one slot, where a pipeline keeps
	// their order (a removal after a message leaves the chat out).
	if _, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, args := range userCmds {
			p.Do(ctx, args...)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("apply events to chat lists: %w", err)
	}
	return nil
}

// chatCalls turns ops into the calls of a batch: grouped by chat (in the
// order of each chat's first event, every chat's own events in log order,
// which is all the cache's order depends on), with a chat's consecutive
// messages in one messagesScript call. A call touches one chat's keys, so
// on Redis Cluster it runs on the chat's slot.
func (c *Cache) chatCalls(ops []op) []call {
	var chats []int64
	byChat := map[int64][]op{}
	for _, o := range ops {
		if _, ok := byChat[o.chatID]; !ok {
			chats = append(chats, o.chatID)
		}
		byChat[o.chatID] = append(byChat[o.chatID], o)
	}
	calls := make([]call, 0, len(ops))
	for _, chat := range chats {
		for _, o := range byChat[chat] {
			if o.script != messagesScript {
				calls = append(calls, call{script: o.script, keys: o.keys, args: o.args, msgs: []op{o}})
				continue
			}
			if n := len(calls); n == 0 || calls[n-1].script != messagesScript || calls[n-1].msgs[0].chatID != chat || len(calls[n-1].msgs) == maxRun {
				calls = append(calls, call{script: messagesScript, keys: []string{c.chatKey(chat)}, args: []any{itoa(chat), c.recent}})
			}
			run := &calls[len(calls)-1]
			run.args = append(run.args, o.args...)
			run.msgs = append(run.msgs, o)
		}
	}
	return calls
}

// userWrites reads the chats' scripts' answers into the writes to users'
// keys they ask for: chat lists (a chat's time, a member added or removed)
// and authors' read positions.
func (c *Cache) userWrites(calls []call, cmds []redis.Cmder) ([][]any, error) {
	var out [][]any
	for i, cmd := range cmds {
		cl := calls[i]
		switch {
		case len(cl.msgs) == 0:
			continue
		case cl.script == messagesScript, cl.script == chatCreatedScript,
			cl.script == memberAddedScript, cl.script == memberRemovedScript:
		default:
			continue // nothing for users' keys
		}
		res, err := cmd.(*redis.Cmd).Slice()
		if err != nil {
			return nil, fmt.Errorf("apply events: %w", err)
		}
		first := cl.msgs[0]
		member := listMember(first.chatID)
		switch cl.script {
		case messagesScript:
			statuses, _ := res[0].([]any)
			for j, st := range statuses {
				o := cl.msgs[j]
				switch st.(int64) {
				case scriptSkipped:
					// Loaded above, gone now: Redis was flushed mid-batch. The retry loads it again.
					return nil, fmt.Errorf("apply message %d: chat %d is no longer cached", o.seq, o.chatID)
				case scriptDuplicate, scriptKeptDeleted:
					// Nothing of the user's: a retried send, or a message deleted before.
				case scriptApplied:
					// An author has read their own message: so none of a
					// user's own messages counts as unread (package comment).
					out = append(out, []any{"ZADD", c.readKey(o.userID), "GT", itoa(o.msgID), itoa(o.chatID)})
				}
			}
			if fan, _ := res[1].([]any); len(fan) > 1 {
				out = c.addToLists(out, member, fan[0], fan[1:])
			}
		case chatCreatedScript:
			out = c.addToLists(out, member, res[1], res[2:])
		case memberAddedScript:
			if res[2].(int64) == 1 {
				out = c.addToLists(out, member, res[1], []any{itoa(first.userID)})
			}
		case memberRemovedScript:
			if res[1].(int64) == 0 {
				out = append(out, []any{"ZREM", c.listKey(first.userID), member})
			}
		}
	}
	return out, nil
}

// addToLists appends the ZADDs that put a chat (member) at time upd in the
// lists of users; nothing when upd is unknown ("" or nil: the chat is not
// cached).
func (c *Cache) addToLists(out [][]any, member string, upd any, users []any) [][]any {
	if u, _ := upd.(string); u == "" {
		return out
	}
	for _, uid := range users {
		u := str(uid)
		id, err := strconv.ParseInt(u, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, []any{"ZADD", c.listKey(id), upd, member})
	}
	return out
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
		o.userID, o.msgID = m.Author.ID, m.ID
		o.args = []any{itoa(m.ID), itoa(m.Author.ID) + ":" + m.ClientID, itoa(m.Author.ID),
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
		o.args = append([]any{ev.Seq,
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
		o.userID = d.Member.User.ID
		o.args = append([]any{ev.Seq, itoa(d.Member.User.ID), d.Member.User.Name,
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
		o.keys = []string{c.chatKey(ev.ChatID)}
		o.userID = d.UserID
		o.args = []any{ev.Seq, itoa(d.UserID)}
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
