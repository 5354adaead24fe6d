package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/shared/domain"
)

// The message life-cycle through the whole system, processes and all: an
// edit and a delete reach every member's chat channel, in log order after the
// messages they change; a delete "for me" reaches only the caller's other
// devices, on their personal channel; history and chat lists agree.
func TestMessageLifecycleLive(t *testing.T) {
	sys := harness.Start(t, harness.Options{})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")
	chat := alice.DirectChat(bob.User.ID)

	bobRT := bob.Connect()
	bobRT.Subscribe(chat.Channel)
	aliceOther := alice.Connect() // alice's second device
	personal := domain.PersonalChannel(alice.User.ID)
	aliceOther.Subscribe(personal)

	var sent []domain.Message
	for i := range 3 {
		m, err := alice.Send(chat.ID, fmt.Sprint("m", i), fmt.Sprint("lc-", i, "-", time.Now().UnixNano()))
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	var edited struct{ Message domain.Message }
	alice.Must(http.StatusOK, "PATCH", fmt.Sprintf("/chats/%d/messages/%d", chat.ID, sent[0].ID), map[string]string{"text": "m0, edited"}, &edited)
	if edited.Message.EditedAt == nil || edited.Message.Text != "m0, edited" {
		t.Fatalf("edit answered %+v", edited.Message)
	}
	alice.Must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chats/%d/messages/%d", chat.ID, sent[2].ID), nil, nil)
	alice.Must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chats/%d/messages/%d?for=me", chat.ID, sent[1].ID), nil, nil)

	harness.Eventually(t, 10*time.Second, "bob's chat channel: 3 messages, the edit, the delete", func() (bool, string) {
		var types []string
		for _, p := range bobRT.Publications(chat.Channel, "") {
			types = append(types, fmt.Sprint(p.Data["type"]))
		}
		want := []string{"message.created", "message.created", "message.created", "message.edited", "message.deleted"}
		return slices.Equal(types, want), fmt.Sprint(types)
	})
	ed := bobRT.Publications(chat.Channel, "message.edited")[0].Data["message"].(map[string]any)
	del := bobRT.Publications(chat.Channel, "message.deleted")[0].Data
	if ed["text"] != "m0, edited" || ed["edited_at"] == nil || del["message_id"] != float64(sent[2].ID) {
		t.Fatalf("publications: edited %v, deleted %v", ed, del)
	}
	harness.Eventually(t, 10*time.Second, "alice's other device hears of her delete for me", func() (bool, string) {
		ps := aliceOther.Publications(personal, "message.deleted")
		var ids []float64
		for _, p := range ps {
			ids = append(ids, p.Data["message_id"].(float64))
		}
		return slices.Contains(ids, float64(sent[1].ID)) && slices.Contains(ids, float64(sent[2].ID)), fmt.Sprint(ids)
	})
	if n := len(bobRT.Publications(chat.Channel, "history.cleared")); n != 0 {
		t.Fatalf("a personal change reached the chat channel %d times", n)
	}

	harness.Eventually(t, 10*time.Second, "history and lists", func() (bool, string) {
		a, err1 := alice.History(chat.ID, nil)
		b, err2 := bob.History(chat.ID, nil)
		la, err3 := alice.ChatsByID(50)
		lb, err4 := bob.ChatsByID(50)
		if err := firstErr(err1, err2, err3, err4); err != nil {
			return false, err.Error()
		}
		ok := len(a.Messages) == 1 && a.Messages[0].ID == sent[0].ID && a.Messages[0].Text == "m0, edited" &&
			len(b.Messages) == 2 && b.Messages[1].ID == sent[1].ID &&
			la[chat.ID].LastMessage != nil && la[chat.ID].LastMessage.ID == sent[0].ID &&
			lb[chat.ID].LastMessage != nil && lb[chat.ID].LastMessage.ID == sent[1].ID
		return ok, fmt.Sprintf("alice %d, bob %d messages", len(a.Messages), len(b.Messages))
	})
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
