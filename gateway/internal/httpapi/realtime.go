package httpapi

import (
	"github.com/gofiber/fiber/v2"
)

func (a *api) realtimeToken(c *fiber.Ctx) error {
	conn, err := a.realtime.Connect(caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(realtimeTokenAnswer{URL: conn.URL, Token: conn.Token, ExpiresAt: apiTime(conn.ExpiresAt), PersonalChannel: conn.PersonalChannel})
}

type subscriptionRequest struct {
	Channel string `json:"channel"`
}

func (a *api) subscriptionToken(c *fiber.Ctx) error {
	var req subscriptionRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	token, err := a.realtime.Subscribe(c.UserContext(), caller(c).ID, req.Channel)
	if err != nil {
		return err
	}
	return c.JSON(subscriptionTokenAnswer{Token: token})
}
