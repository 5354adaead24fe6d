package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/gateway/internal/accounts"
)

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func toAuthAnswer(s accounts.Session) authAnswer { return authAnswer{User: s.User, Token: s.Token} }

func (a *api) register(c *fiber.Ctx) error {
	var req credentials
	if err := bind(c, &req); err != nil {
		return err
	}
	s, err := a.accounts.Register(c.UserContext(), req.Name, req.Password)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(toAuthAnswer(s))
}

func (a *api) login(c *fiber.Ctx) error {
	var req credentials
	if err := bind(c, &req); err != nil {
		return err
	}
	s, err := a.accounts.Login(c.UserContext(), req.Name, req.Password)
	var limited *accounts.RateLimitedError
	if errors.As(err, &limited) {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
		return &httpError{http.StatusTooManyRequests, codeRateLimited,
			"too many failed logins for this account; retry after the time in Retry-After"}
	}
	if err != nil {
		return err
	}
	return c.JSON(toAuthAnswer(s))
}

// logout revokes the token the request came with, on every instance.
func (a *api) logout(c *fiber.Ctx) error {
	token, _ := c.Locals(keyToken).(string)
	if err := a.accounts.Logout(c.UserContext(), token); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (a *api) me(c *fiber.Ctx) error {
	u, err := a.accounts.Me(c.UserContext(), caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (a *api) searchUsers(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	users, err := a.accounts.Search(c.UserContext(), c.Query("prefix"), int(limit))
	if err != nil {
		return err
	}
	return c.JSON(userList{Users: users})
}

// queryInt reads an optional integer query parameter within [lo, hi]; an
// absent or empty one is def.
func queryInt(c *fiber.Ctx, name string, def, lo, hi int64) (int64, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errInvalid(name + " must be an integer from " + formatID(lo) + " to " + formatID(hi))
	}
	return n, nil
}

// pathID reads a positive id from the path. Anything else names no resource.
func pathID(c *fiber.Ctx, name string, notFound error) (int64, error) {
	n, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, notFound
	}
	return n, nil
}
