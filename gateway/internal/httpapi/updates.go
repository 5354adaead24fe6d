package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/storage/updates"
)

// Updates is the per-user update streams (*updates.Store), which the
// notifier writes.
type Updates interface {
	Current(ctx context.Context, userID int64) (updates.Cursor, error)
	After(ctx context.Context, userID int64, after updates.Cursor, limit int) (updates.Page, error)
}

var _ Updates = (*updates.Store)(nil)

const codeGone = "gone"

type updatesAnswer struct {
	Updates []json.RawMessage `json:"updates"`
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
}

// updatesAfter is GET /updates (API.md, "Per-user updates").
func (a *api) updatesAfter(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	uid := caller(c).ID
	after := c.Query("after")
	if after == "" {
		cur, err := a.updates.Current(c.UserContext(), uid)
		if err != nil {
			return err
		}
		return c.JSON(updatesAnswer{Updates: []json.RawMessage{}, Cursor: cur.String()})
	}
	cur, err := updates.ParseCursor(after)
	if err != nil {
		return errInvalid("after is not a cursor this server gave out")
	}
	page, err := a.updates.After(c.UserContext(), uid, cur, int(limit))
	switch {
	case errors.Is(err, updates.ErrGone):
		return &httpError{http.StatusGone, codeGone, "the cursor is older than the updates kept; take a new cursor and reload the chat list"}
	case errors.Is(err, updates.ErrBadCursor):
		return errInvalid("after is ahead of the updates of this user")
	case err != nil:
		return err
	}
	out := updatesAnswer{Updates: make([]json.RawMessage, len(page.Updates)), Cursor: page.Cursor.String(), HasMore: page.HasMore}
	for i, u := range page.Updates {
		out.Updates[i] = u
	}
	return c.JSON(out)
}
