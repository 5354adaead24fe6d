package chatcache

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/storage/sqlstore"
)

// viewsLoader is what a Loader may also offer (*sqlstore.Store does): what
// a user hid or cleared from their own view of their chats.
type viewsLoader interface {
	Views(ctx context.Context, userID int64, chatIDs []int64) (map[int64]sqlstore.View, error)
}

// rebuildTimeout bounds one rebuild, which may serve several callers at once.
const rebuildTimeout = 15 * time.Second

// Rebuild loads userID's chat list from MySQL into the cache and marks it
// complete. Concurrent calls for one user share one rebuild. Safe at any time:
// it never overwrites what events wrote (see the package comment).
func (c *Cache) Rebuild(ctx context.Context, userID int64) error { return c.rebuild(ctx, userID) }

func (c *Cache) rebuild(ctx context.Context, userID int64) error {
	ch := c.rebuilds.DoChan(itoa(userID), func() (any, error) {
		// Detached from the first caller: the others wait for it too.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rebuildTimeout)
		defer cancel()
		return nil, c.rebuildNow(rctx, userID)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Cache) rebuildNow(ctx context.Context, userID int64) error {
	rows, err := c.loader.AllUserChats(ctx, userID)
	if err != nil {
		return fmt.Errorf("rebuild chat list of user %d: %w", userID, err)
	}
	chatIDs := make([]int64, 0, len(rows))
	var lastChats, lastIDs []int64
	for _, r := range rows {
		chatIDs = append(chatIDs, r.Chat.ID)
		if r.LastMessageID > 0 {
			lastChats = append(lastChats, r.Chat.ID)
			lastIDs = append(lastIDs, r.LastMessageID)
		}
	}
	positions := map[int64]int64{}
	if len(chatIDs) > 0 {
		if positions, err = c.loader.ReadPositions(ctx, userID, chatIDs); err != nil {
			return fmt.Errorf("rebuild chat list of user %d: %w", userID, err)
		}
	}
	lasts := map[int64]string{}
	if len(lastIDs) > 0 {
		msgs, err := c.loader.MessagesByID(ctx, lastChats, lastIDs)
		if err != nil {
			return fmt.Errorf("rebuild chat list of user %d: %w", userID, err)
		}
		for id, m := range msgs {
			if m.Deleted {
				// The chat's row not moved back yet by the persister: the
				// list reads the newest message left from MySQL ("?").
				lasts[id] = "?"
				continue
			}
			m.SentAt = m.SentAt.UTC()
			b, err := messageJSON(m)
			if err != nil {
				return err
			}
			lasts[id] = string(b)
		}
	}
	// What the user hid or cleared, which the list's last messages and
	// unread counts leave out: lost with the rest when Redis was flushed.
	var views map[int64]sqlstore.View
	if vl, ok := c.loader.(viewsLoader); ok && len(chatIDs) > 0 {
		if views, err = vl.Views(ctx, userID, chatIDs); err != nil {
			return fmt.Errorf("rebuild chat list of user %d: %w", userID, err)
		}
	}
	// First each chat's keys (a script per chat: its own slot on Redis
	// Cluster), with what the user hid in it.
	cmds, err := c.pipelined(ctx, false, func(p redis.Pipeliner) {
		for _, r := range rows {
			id := r.Chat.ID
			updated := r.UpdatedAt
			if updated.IsZero() {
				updated = r.Chat.CreatedAt
			}
			last := lasts[r.LastMessageID] // ""  when the chat is empty or the message is missing
			args := append([]any{itoa(userID), string(r.Chat.Kind), r.Chat.Title,
				itoa(r.Chat.CreatedAt.UnixMilli()), itoa(r.LastMessageID), itoa(updated.UnixMilli()), last},
				memberArgs(r.Chat.Members)...)
			rebuildScript.EvalSha(ctx, p, []string{c.chatKey(id)}, args...)
		}
		for chat, v := range views {
			if len(v.Hidden) > 0 {
				args := []any{"ZADD", c.hiddenKey(userID, chat)}
				for _, id := range v.Hidden {
					args = append(args, itoa(id), itoa(id))
				}
				p.Do(ctx, args...)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("rebuild chat list of user %d: %w", userID, err)
	}
	// Then the user's keys, in one transaction (one slot): the list is
	// marked complete together with its entries, never after a flush that
	// removed some of them. Other members' lists learn the time of a chat
	// whose last message was filled in here, outside it.
	var others [][]any
	_, err = c.pipelined(ctx, true, func(p redis.Pipeliner) {
		for i, r := range rows {
			id := r.Chat.ID
			res, _ := cmds[i].(*redis.Cmd).Slice()
			if len(res) < 2 {
				continue
			}
			if pos := positions[id]; pos > 0 {
				p.Do(ctx, "ZADD", c.readKey(userID), "GT", itoa(pos), itoa(id))
			}
			if upd, _ := res[1].(string); res[0].(int64) == 1 && upd != "" {
				p.Do(ctx, "ZADD", c.listKey(userID), upd, listMember(id))
			}
			others = c.addToLists(others, listMember(id), res[1], res[2:])
		}
		for chat, v := range views {
			if v.Cleared > 0 {
				p.Do(ctx, "ZADD", c.clearedKey(userID), "GT", itoa(v.Cleared), itoa(chat))
			}
		}
		p.Do(ctx, "ZADD", c.listKey(userID), "-inf", warmMember)
	})
	if err == nil && len(others) > 0 {
		_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, args := range others {
				p.Do(ctx, args...)
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("rebuild chat list of user %d: %w", userID, err)
	}
	return nil
}
