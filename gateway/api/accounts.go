package api

import (
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/shared/domain"
)

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a *API) register(c *fiber.Ctx) error {
	var req credentials
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := domain.ValidateName(req.Name); err != nil {
		return err
	}
	if err := domain.ValidatePassword(req.Password); err != nil {
		return err
	}
	hash, err := a.passwords.Hash(req.Password)
	if err != nil {
		return err
	}
	u, err := a.store.CreateUser(c.UserContext(), req.Name, hash, a.now())
	if errors.Is(err, domain.ErrConflict) {
		return &httpError{http.StatusConflict, codeConflict, "name is already taken"}
	}
	if err != nil {
		return err
	}
	token, _, err := a.tokens.Issue(u)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(authAnswer{User: u, Token: token})
}

func (a *API) login(c *fiber.Ctx) error {
	var req credentials
	if err := bind(c, &req); err != nil {
		return err
	}
	u, hash, err := a.store.UserByName(c.UserContext(), req.Name)
	if errors.Is(err, domain.ErrNotFound) {
		hash = nil // still spend a bcrypt comparison: see Passwords.Check
	} else if err != nil {
		return err
	}
	if !a.passwords.Check(hash, req.Password) {
		return errUnauth("wrong name or password")
	}
	token, _, err := a.tokens.Issue(u)
	if err != nil {
		return err
	}
	return c.JSON(authAnswer{User: u, Token: token})
}

func (a *API) me(c *fiber.Ctx) error {
	u, err := a.store.UserByID(c.UserContext(), caller(c).ID)
	if errors.Is(err, domain.ErrNotFound) {
		// A valid signature for an account this database does not know.
		return errUnauth("the token's user does not exist")
	}
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (a *API) searchUsers(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 20, 1, 100)
	if err != nil {
		return err
	}
	prefix := c.Query("prefix")
	if !utf8.ValidString(prefix) {
		return errInvalid("prefix is not valid UTF-8")
	}
	users, err := a.store.SearchUsers(c.UserContext(), prefix, int(limit))
	if err != nil {
		return err
	}
	if users == nil {
		users = []domain.User{}
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
