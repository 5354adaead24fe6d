package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

type sendRequest struct {
	Text      string `json:"text"`
	ClientID  string `json:"client_id"`
	ReplyToID *int64 `json:"reply_to_id"`
}

// sendMessage appends a message.created event to the log and answers with the
// message as the log accepted it. The idempotency key makes a retry return the
// original message: the log deduplicates by Nats-Msg-Id and acknowledges with
// the original sequence, which is read back for the original text and time.
func (a *API) sendMessage(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", errChatNotFound)
	if err != nil {
		return err
	}
	var req sendRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	text, err := domain.NormalizeText(req.Text)
	if err != nil {
		return err
	}
	if err := domain.ValidateClientID(req.ClientID); err != nil {
		return err
	}
	me := caller(c)
	ctx := c.UserContext()
	role, err := a.memberRole(ctx, chatID, me.ID)
	if err != nil {
		return err
	}
	if !role.CanSend() {
		return errForbidden("a muted member cannot send messages")
	}
	if req.ReplyToID != nil {
		if err := a.checkReplyTarget(ctx, chatID, *req.ReplyToID); err != nil {
			return err
		}
	}
	data := event.MessageCreatedData{Author: me, Text: text, ClientID: req.ClientID, ReplyToID: req.ReplyToID}
	env, err := event.New(event.MessageCreated, chatID, me.ID, a.now(), data)
	if err != nil {
		return err
	}
	ack, err := a.pub.Publish(ctx, env, fmt.Sprintf("m:%d:%d:%s", chatID, me.ID, req.ClientID))
	if err != nil {
		return err
	}
	if ack.Duplicate && a.syncSends {
		// No log to read the original from: it is in MySQL already.
		orig, err := a.store.Message(ctx, chatID, int64(ack.Seq))
		if err != nil {
			return fmt.Errorf("load original of duplicate send: %w", err)
		}
		return c.Status(http.StatusAccepted).JSON(sendAnswer{Message: toMessage(orig)})
	}
	if ack.Duplicate {
		// A retry: the answer is the original message, as the log holds it.
		orig, err := a.eventAt(ctx, ack.Seq)
		if err != nil {
			return fmt.Errorf("load original of duplicate send: %w", err)
		}
		m, err := orig.Message()
		if err != nil {
			return err
		}
		return c.Status(http.StatusAccepted).JSON(sendAnswer{Message: toMessage(m)})
	}
	// What event.Event.Message would decode from the event just appended.
	m := domain.Message{ID: int64(ack.Seq), ChatID: chatID, Author: data.Author, Text: data.Text,
		SentAt: env.At, ClientID: data.ClientID, ReplyToID: data.ReplyToID}
	return c.Status(http.StatusAccepted).JSON(sendAnswer{Message: toMessage(m)})
}

// checkReplyTarget makes sure id is a message of chatID. A message accepted a
// moment ago may not be in MySQL yet: then the log itself is asked.
func (a *API) checkReplyTarget(ctx context.Context, chatID, id int64) error {
	bad := errInvalid("reply_to_id is not a message of this chat")
	if id <= 0 {
		return bad
	}
	_, err := a.store.Message(ctx, chatID, id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	if a.syncSends {
		return bad // sends are in MySQL before they are answered
	}
	ev, err := a.eventAt(ctx, uint64(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return bad
	}
	if err != nil {
		return err
	}
	if ev.Type != event.MessageCreated || ev.ChatID != chatID {
		return bad
	}
	return nil
}

// eventAt reads the event with sequence seq back from the log.
func (a *API) eventAt(ctx context.Context, seq uint64) (event.Event, error) {
	raw, err := a.events.GetMsg(ctx, seq)
	if err != nil {
		return event.Event{}, fmt.Errorf("read event %d: %w", seq, err)
	}
	env, err := event.Decode(raw.Data)
	if err != nil {
		return event.Event{}, fmt.Errorf("event %d: %w", seq, err)
	}
	return event.Event{Seq: raw.Sequence, Envelope: env}, nil
}

// newestMessageID is the id of the newest message the log accepted in a chat
// (0 for none). The log, not MySQL, is asked: a message is readable from the
// moment its send was answered.
func (a *API) newestMessageID(ctx context.Context, chatID int64) (int64, error) {
	if a.syncSends {
		msgs, _, err := a.store.History(ctx, chatID, sqlstore.HistoryQuery{Limit: 1})
		if err != nil || len(msgs) == 0 {
			return 0, err
		}
		return msgs[0].ID, nil
	}
	raw, err := a.events.GetLastMsgForSubject(ctx, bus.StoredSubjectPattern(chatID, event.KindMessage))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("newest message of chat %d: %w", chatID, err)
	}
	return int64(raw.Sequence), nil
}

func (a *API) history(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", errChatNotFound)
	if err != nil {
		return err
	}
	const maxID = 1<<53 - 1
	before, err := queryInt(c, "before", 0, 1, maxID)
	if err != nil {
		return err
	}
	after, err := queryInt(c, "after", 0, 1, maxID)
	if err != nil {
		return err
	}
	if before > 0 && after > 0 {
		return errInvalid("before and after cannot be used together")
	}
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := a.memberRole(ctx, chatID, caller(c).ID); err != nil {
		return err
	}
	msgs, more, err := a.store.History(ctx, chatID, sqlstore.HistoryQuery{Before: before, After: after, Limit: int(limit)})
	if err != nil {
		return err
	}
	return c.JSON(messagePage{Messages: toMessages(msgs), HasMore: more})
}

type readRequest struct {
	MessageID int64 `json:"message_id"`
}

// markRead moves the caller's read position forward. The projections apply
// max(current, new), so publishing a stale move would be harmless; skipping
// it only saves the log an event.
func (a *API) markRead(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", errChatNotFound)
	if err != nil {
		return err
	}
	var req readRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.MessageID <= 0 {
		return errInvalid("message_id must be a positive message id")
	}
	uid := caller(c).ID
	ctx := c.UserContext()
	if _, err := a.memberRole(ctx, chatID, uid); err != nil {
		return err
	}
	newest, err := a.newestMessageID(ctx, chatID)
	if err != nil {
		return err
	}
	if req.MessageID > newest {
		return errInvalid("message_id is beyond the newest message of the chat")
	}
	if req.MessageID <= a.readPosition(ctx, uid, chatID) {
		return c.SendStatus(http.StatusNoContent)
	}
	data := event.ReadMovedData{UserID: uid, MessageID: req.MessageID}
	key := fmt.Sprintf("r:%d:%d:%d", chatID, uid, req.MessageID)
	if err := a.append(ctx, event.ReadMoved, chatID, uid, a.now(), data, key); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// readPosition is the caller's read position as the projections know it
// (cache first, then MySQL), or 0 when neither answers.
func (a *API) readPosition(ctx context.Context, uid, chatID int64) int64 {
	if s, err := a.cache.Summary(ctx, uid, chatID); err == nil {
		return s.ReadMessageID
	}
	if pos, err := a.store.ReadPositions(ctx, uid, []int64{chatID}); err == nil {
		return pos[chatID]
	}
	return 0
}

// append publishes one event; msgID, if not empty, is its idempotency key.
func (a *API) append(ctx context.Context, t event.Type, chatID, actor int64, at time.Time, data any, msgID string) error {
	env, err := event.New(t, chatID, actor, at, data)
	if err != nil {
		return err
	}
	if _, err := a.pub.Publish(ctx, env, msgID); err != nil {
		return fmt.Errorf("append %s: %w", t, err)
	}
	return nil
}
