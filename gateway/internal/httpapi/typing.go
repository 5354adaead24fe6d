package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/gateway/internal/membership"
	"github.com/logchat/shared/domain"
)

// typing: POST /chats/{id}/typing, no body (API.md 1.1). 204 whether or not
// the notice was published (at most one every 3 s per user and chat).
func (a *api) typing(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	if a.typer == nil {
		return domain.ErrUnavailable
	}
	if err := a.typer.Typing(c.UserContext(), caller(c), chatID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
