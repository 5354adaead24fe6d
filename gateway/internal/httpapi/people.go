package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/shared/domain"
)

var errNoSuchUser = domain.NotFound("no such user")

func (a *api) profile(c *fiber.Ctx) error {
	id, err := pathID(c, "id", errNoSuchUser)
	if err != nil {
		return err
	}
	p, err := a.people.Profile(c.UserContext(), caller(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(toProfile(p))
}

type updateMeRequest struct {
	About *string `json:"about"`
	Name  *string `json:"name"`
}

func (a *api) updateMe(c *fiber.Ctx) error {
	var req updateMeRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := a.people.UpdateMe(c.UserContext(), caller(c).ID, req.About, req.Name)
	if err != nil {
		return err
	}
	return c.JSON(toProfile(p))
}

func (a *api) setAvatar(c *fiber.Ctx) error {
	p, err := a.people.SetAvatar(c.UserContext(), caller(c).ID, c.Get(fiber.HeaderContentType), c.Request().Body())
	if err != nil {
		return err
	}
	return c.JSON(toProfile(p))
}

func (a *api) deleteAvatar(c *fiber.Ctx) error {
	p, err := a.people.DeleteAvatar(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(toProfile(p))
}

// avatar serves an avatar's image, cacheable forever: its key changes with
// the picture. ?size= picks the smallest stored size at least that big.
func (a *api) avatar(c *fiber.Ctx) error {
	key := c.Params("key")
	if len(key) == 0 || len(key) > 64 {
		return errNotFoundAvatar
	}
	size := 0
	if s := c.Query("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 4096 {
			return errInvalid("size must be a number of pixels, 1 to 4096")
		}
		size = n
	}
	img, err := a.people.Avatar(c.UserContext(), key, size)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, img.ContentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Send(img.Data)
}

var errNotFoundAvatar = domain.NotFound("no such avatar")

func (a *api) blocked(c *fiber.Ctx) error {
	users, err := a.people.Blocked(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(userList{Users: users})
}

func (a *api) block(c *fiber.Ctx) error {
	id, err := pathID(c, "user_id", errNoSuchUser)
	if err != nil {
		return err
	}
	if err := a.people.Block(c.UserContext(), caller(c).ID, id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (a *api) unblock(c *fiber.Ctx) error {
	id, err := pathID(c, "user_id", errNoSuchUser)
	if err != nil {
		return err
	}
	if err := a.people.Unblock(c.UserContext(), caller(c).ID, id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (a *api) privacy(c *fiber.Ctx) error {
	p, err := a.people.Privacy(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

type privacyRequest struct {
	LastSeen       *string `json:"last_seen"`
	DirectMessages *string `json:"direct_messages"`
}

func (a *api) setPrivacy(c *fiber.Ctx) error {
	var req privacyRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := a.people.SetPrivacy(c.UserContext(), caller(c).ID, req.LastSeen, req.DirectMessages)
	if err != nil {
		return err
	}
	return c.JSON(p)
}
