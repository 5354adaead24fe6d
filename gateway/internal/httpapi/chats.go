package httpapi

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/gateway/internal/chats"
	"github.com/logchat/gateway/internal/membership"
	"github.com/logchat/shared/domain"
)

type createChatRequest struct {
	Title     *string `json:"title"`
	MemberIDs []int64 `json:"member_ids"`
}

func (a *api) createChat(c *fiber.Ctx) error {
	var req createChatRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	v, created, err := a.chats.Create(c.UserContext(), caller(c), req.Title, req.MemberIDs)
	if err != nil {
		return err
	}
	if created {
		c.Status(http.StatusCreated)
	}
	return c.JSON(toChatJSON(v))
}

func (a *api) getChat(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	v, err := a.chats.Get(c.UserContext(), caller(c).ID, chatID)
	if err != nil {
		return err
	}
	return c.JSON(toChatJSON(v))
}

type addMemberRequest struct {
	UserID int64 `json:"user_id"`
}

func (a *api) addMember(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	var req addMemberRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	v, err := a.chats.AddMember(c.UserContext(), caller(c).ID, chatID, req.UserID)
	if err != nil {
		return err
	}
	return c.JSON(toChatJSON(v))
}

func (a *api) removeMember(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	target, err := pathID(c, "user_id", domain.NotFound("no such member"))
	if err != nil {
		return err
	}
	if err := a.chats.RemoveMember(c.UserContext(), caller(c).ID, chatID, target); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (a *api) listChats(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	page, err := a.chats.List(c.UserContext(), caller(c).ID, c.Query("cursor"), int(limit))
	if err != nil {
		return err
	}
	out := chatPage{Chats: make([]summaryJSON, len(page.Chats))}
	for i, s := range page.Chats {
		out.Chats[i] = toSummary(s)
	}
	if page.Next != "" {
		out.NextCursor = &page.Next
	}
	return c.JSON(out)
}

func toChatJSON(v chats.View) chatJSON {
	members := v.Chat.Members
	if members == nil {
		members = []domain.Member{}
	}
	return chatJSON{ChatSummary: toSummary(v.Summary), CreatedAt: apiTime(v.Chat.CreatedAt), Members: members}
}

type titleRequest struct {
	Title *string `json:"title"`
}

func (a *api) updateChat(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	var req titleRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Title == nil {
		return errInvalid("title is required")
	}
	v, err := a.chats.SetTitle(c.UserContext(), caller(c).ID, chatID, *req.Title)
	if err != nil {
		return err
	}
	return c.JSON(toChatJSON(v))
}

type roleRequest struct {
	Role string `json:"role"`
}

func (a *api) setRole(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", membership.ErrNoSuchChat)
	if err != nil {
		return err
	}
	userID, err := pathID(c, "user_id", domain.NotFound("no such member"))
	if err != nil {
		return err
	}
	var req roleRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	v, err := a.chats.SetRole(c.UserContext(), caller(c).ID, chatID, userID, domain.Role(req.Role))
	if err != nil {
		return err
	}
	return c.JSON(toChatJSON(v))
}
