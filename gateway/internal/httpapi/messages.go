package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/gateway/internal/membership"
	"github.com/logchat/gateway/internal/messages"
	"github.com/logchat/storage/sqlstore"
)

type sendRequest struct {
	Text      string `json:"text"`
	ClientID  string `json:"client_id"`
	ReplyToID *int64 `json:"reply_to_id"`
}

func (a *api) sendMessage(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	var req sendRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	m, err := a.messages.Send(c.UserContext(), caller(c), chatID,
		messages.Draft{Text: req.Text, ClientID: req.ClientID, ReplyToID: req.ReplyToID})
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(sendAnswer{Message: toMessage(m)})
}

func (a *api) history(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
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
	msgs, more, err := a.messages.History(c.UserContext(), caller(c).ID, chatID,
		sqlstore.HistoryQuery{Before: before, After: after, Limit: int(limit)})
	if err != nil {
		return err
	}
	return c.JSON(messagePage{Messages: toMessages(msgs), HasMore: more})
}

type readRequest struct {
	MessageID int64 `json:"message_id"`
}

func (a *api) markRead(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	var req readRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := a.messages.MarkRead(c.UserContext(), caller(c).ID, chatID, req.MessageID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
