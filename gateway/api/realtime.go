package api

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/shared/domain"
)

func (a *API) realtimeToken(c *fiber.Ctx) error {
	uid := caller(c).ID
	token, exp, err := a.rt.Connection(uid)
	if err != nil {
		return err
	}
	return c.JSON(realtimeTokenAnswer{
		URL: a.rtURL, Token: token, ExpiresAt: apiTime(exp),
		PersonalChannel: domain.PersonalChannel(uid),
	})
}

type subscriptionRequest struct {
	Channel string `json:"channel"`
}

func (a *API) subscriptionToken(c *fiber.Ctx) error {
	var req subscriptionRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	uid := caller(c).ID
	ok, err := a.maySubscribe(c.UserContext(), uid, req.Channel)
	if err != nil {
		return err
	}
	if !ok {
		return errForbidden("you may not subscribe to this channel")
	}
	token, _, err := a.rt.Subscription(uid, req.Channel)
	if err != nil {
		return err
	}
	return c.JSON(subscriptionTokenAnswer{Token: token})
}

// maySubscribe: a chat's channel is for its members, a personal channel for
// its owner, and no other channel exists. Ids must be written canonically:
// "chat:042" would be a different Centrifugo channel than "chat:42".
func (a *API) maySubscribe(ctx context.Context, uid int64, channel string) (bool, error) {
	ns, rest, ok := strings.Cut(channel, ":")
	if !ok {
		return false, nil
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return false, nil
	}
	switch ns {
	case "user":
		return id == uid, nil
	case "chat":
		_, err := a.store.MemberRole(ctx, id, uid)
		if errors.Is(err, domain.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	default:
		return false, nil
	}
}
