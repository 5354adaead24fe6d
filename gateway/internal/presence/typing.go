package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/domain"
)

// TypingInterval is the least time between two typing publications of one
// user in one chat (API.md 1.1: at most one every 3 s).
const TypingInterval = 3 * time.Second

// Senders says who may send in a chat (*messages.Service): typing follows
// the rule of sending, with its errors.
type Senders interface {
	MaySend(ctx context.Context, uid, chatID int64) error
}

// People gives a user's current name and picture (*people.Service).
type People interface {
	Current(ctx context.Context, u domain.User) domain.User
}

// Publisher publishes ephemeral publications (*API).
type Publisher interface {
	Publish(ctx context.Context, pubs []Publication) error
}

// Typing publishes typing notices.
type Typing struct {
	senders Senders
	people  People
	pub     Publisher
	rdb     redis.UniversalClient
	prefix  string
}

// NewTyping returns the typing service; its throttle keys are rdb's under
// prefix.
func NewTyping(senders Senders, people People, pub Publisher, rdb redis.UniversalClient, prefix string) *Typing {
	return &Typing{senders: senders, people: people, pub: pub, rdb: rdb, prefix: prefix}
}

// Typing publishes that me is typing in chatID, unless it did less than
// TypingInterval ago. The throttle is a Redis key set only if absent, with
// the interval as its lifetime: every gateway instance shares it, and the
// one call that sets it publishes. Nothing is kept: a notice is not in the
// log, nor in the channel's history, nor in anyone's update stream.
func (t *Typing) Typing(ctx context.Context, me domain.User, chatID int64) error {
	if err := t.senders.MaySend(ctx, me.ID, chatID); err != nil {
		return err
	}
	key := t.prefix + "typ:" + strconv.FormatInt(chatID, 10) + ":" + strconv.FormatInt(me.ID, 10)
	first, err := t.rdb.SetNX(ctx, key, 1, TypingInterval).Result()
	if err != nil {
		return fmt.Errorf("typing throttle: %w", err)
	}
	if !first {
		return nil
	}
	data, err := json.Marshal(apijson.NewTyping(chatID, t.people.Current(ctx, me)))
	if err != nil {
		return err
	}
	if err := t.pub.Publish(ctx, []Publication{{Channel: domain.ChatChannel(chatID), Data: data}}); err != nil {
		// The throttle stays: a retry within 3 s publishes nothing, and a
		// lost typing notice costs nothing that the next one does not fix.
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return nil
}
