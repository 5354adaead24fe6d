package relay_test

import (
	"testing"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// A member removed from a chat stops receiving its channel at once: the
// removal ends their subscription on the server (Centrifugo's unsubscribe, in
// the same pipe as the batch's publications), so the chat's next message,
// published right after the removal, reaches the members who stay and not
// them, although their client still held a subscription made as a member.
func TestRemovedMemberIsUnsubscribedAtOnce(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	r := newRelay(c)
	const chat = 43
	ch := domain.ChatChannel(chat)

	stays, removed := connect(t, c, bob.ID), connect(t, c, carol.ID)
	stays.subscribe(ch)
	removed.subscribe(ch)
	removed.subscribe(domain.PersonalChannel(carol.ID))

	handle(t, r, msg(t, 10, chat, "before"))
	removed.waitCount(ch, 1)

	// The removal and the next message in one batch (one pipe), and another
	// message in a batch of its own afterwards.
	handle(t, r,
		ev(t, 11, event.MemberRemoved, chat, event.MemberRemovedData{UserID: carol.ID, MembersCount: 2}),
		msg(t, 12, chat, "afterRemoval"))
	handle(t, r, msg(t, 13, chat, "later"))

	// Once the member who stays has both later messages, the removed one
	// must have been unsubscribed with the first message only: publications
	// of one channel reach every subscriber in the same order.
	if got := messageIDs(t, stays.waitCount(ch, 3)); len(got) != 3 || got[2] != 13 {
		t.Fatalf("the member who stays got %v, want the three messages", got)
	}
	waitFor(t, "carol's chat subscription ended by the server", func() bool {
		removed.mu.Lock()
		defer removed.mu.Unlock()
		_, ok := removed.unsubscribed[ch]
		return ok
	})
	if got := messageIDs(t, removed.received(ch)); len(got) != 1 || got[0] != 10 {
		t.Fatalf("the removed member received %v on %s, want only the message from before the removal", got, ch)
	}
	removed.mu.Lock()
	e := removed.unsubscribed[ch]
	removed.mu.Unlock()
	// 2000 is Centrifugo's "server unsubscribe": the SDK does not resubscribe
	// by itself after it.
	if e.Code != 2000 {
		t.Fatalf("unsubscribed with code %d (%s), want 2000 (server unsubscribe)", e.Code, e.Reason)
	}
	// Their personal channel still tells them the chat is gone.
	if got := removed.waitCount(domain.PersonalChannel(carol.ID), 1); string(got[0]) != `{"type":"chat.removed","chat_id":43}` {
		t.Fatalf("personal channel got %s", got[0])
	}
}
