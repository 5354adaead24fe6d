package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/gateway/internal/membership"
	"github.com/logchat/gateway/internal/messages"
	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

type sendRequest struct {
	Text      string `json:"text"`
	ClientID  string `json:"client_id"`
	ReplyToID *int64 `json:"reply_to_id"`
	Forward   *struct {
		ChatID    int64 `json:"chat_id"`
		MessageID int64 `json:"message_id"`
	} `json:"forward"`
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
	d := messages.Draft{Text: req.Text, ClientID: req.ClientID, ReplyToID: req.ReplyToID}
	if req.Forward != nil {
		d.Forward = &messages.Source{ChatID: req.Forward.ChatID, MessageID: req.Forward.MessageID}
	}
	m, err := a.messages.Send(c.UserContext(), caller(c), chatID, d)
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

type editRequest struct {
	Text *string `json:"text"`
}

func (a *api) editMessage(c *fiber.Ctx) error {
	chatID, mid, err := messagePath(c)
	if err != nil {
		return err
	}
	var req editRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Text == nil {
		return errInvalid("text is required")
	}
	m, err := a.messages.Edit(c.UserContext(), caller(c), chatID, mid, *req.Text)
	if err != nil {
		return err
	}
	return c.JSON(sendAnswer{Message: toMessage(m)})
}

// deleteMessage deletes for everyone, or with ?for=me hides the message from
// the caller's own view.
func (a *api) deleteMessage(c *fiber.Ctx) error {
	chatID, mid, err := messagePath(c)
	if err != nil {
		return err
	}
	switch c.Query("for") {
	case "":
		err = a.messages.Delete(c.UserContext(), caller(c).ID, chatID, mid)
	case "me":
		err = a.messages.Hide(c.UserContext(), caller(c).ID, chatID, mid)
	default:
		return errInvalid(`for must be "me" or absent`)
	}
	if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (a *api) clearHistory(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	if err := a.messages.ClearHistory(c.UserContext(), caller(c).ID, chatID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// messagePath reads /chats/{id}/messages/{mid}; a malformed id is no such
// chat or message (404), like any path that names nothing.
func messagePath(c *fiber.Ctx) (chatID, mid int64, err error) {
	if chatID, err = pathID(c, "id", membership.ErrNoSuchChat); err != nil {
		return 0, 0, err
	}
	mid, err = pathID(c, "mid", domain.ErrNotFound)
	return chatID, mid, err
}

// searchMessages is GET /search/messages (API.md 1.1, "Search").
func (a *api) searchMessages(c *fiber.Ctx) error {
	const maxID = 1<<53 - 1
	chatID, err := queryInt(c, "chat_id", 0, 1, maxID)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 20, 1, messages.MaxSearchLimit)
	if err != nil {
		return err
	}
	msgs, next, err := a.messages.Search(c.UserContext(), caller(c).ID, messages.SearchRequest{
		Query: c.Query("q"), ChatID: chatID, Limit: int(limit), Cursor: c.Query("cursor")})
	if err != nil {
		return err
	}
	out := searchPage{Messages: toMessages(msgs)}
	if next != "" {
		out.NextCursor = &next
	}
	return c.JSON(out)
}
