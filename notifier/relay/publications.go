package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// Publication is one message for one Centrifugo channel.
type Publication struct {
	Channel string
	Data    []byte // JSON, one of the shared/apijson publications
}

// ReadReceiptsMaxMembers is the largest chat whose read positions are
// published on its channel (read receipts); in a larger one a read reaches
// only the reader's personal channel. A read whose event does not know the
// chat's size (members_count 0) is published on the channel.
const ReadReceiptsMaxMembers = 100

// Publications maps one event to what clients receive (API.md, "Realtime"),
// in the order they must be published, as version 1 publishes them: its chat
// channel's publications, then its personal channels' ones without cursors
// (the relay without update streams: the benchmark's synchronous baseline).
// An event type this code does not know maps to nothing: newer producers may
// be running. An error means the event can never be published (its payload
// is malformed).
func Publications(ev event.Event) ([]Publication, error) {
	out, err := ChatPublications(ev)
	if err != nil {
		return nil, err
	}
	// Without a member list the fan-out reaches exactly the users an event
	// names: the reader, the members of a new chat, the one who joined or
	// left. Those are version 1's personal publications.
	f, err := planFanout(ev, map[int64]bool{})
	if err != nil {
		return nil, err
	}
	for _, u := range f.updates {
		out = append(out, Publication{Channel: domain.PersonalChannel(u.user), Data: u.body})
	}
	return out, nil
}

// ChatPublications are an event's publications on its chat's channel.
func ChatPublications(ev event.Event) ([]Publication, error) {
	switch ev.Type {
	case event.MessageCreated, event.MessageEdited, event.MessageDeleted:
		data, err := messageBody(ev)
		if err != nil {
			return nil, err
		}
		return []Publication{{Channel: domain.ChatChannel(ev.ChatID), Data: data}}, nil

	case event.ChatUpdated, event.MemberUpdated:
		data, err := chatChangeBody(ev)
		if err != nil {
			return nil, err
		}
		return []Publication{{Channel: domain.ChatChannel(ev.ChatID), Data: data}}, nil

	case event.ReadMoved:
		d, err := event.Payload[event.ReadMovedData](ev.Envelope)
		if err != nil {
			return nil, err
		}
		if d.UserID <= 0 {
			return nil, errors.New("read.moved without a user_id")
		}
		if d.MembersCount > ReadReceiptsMaxMembers {
			// Every member of a chat watches its channel, so a read
			// published there costs a delivery per member, and n members
			// reading cost n²: in a big group only the reader's other
			// devices hear of it (on their personal channel).
			return nil, nil
		}
		data, err := json.Marshal(apijson.NewReadUpdated(ev.ChatID, d.UserID, d.MessageID))
		if err != nil {
			return nil, err
		}
		return []Publication{{Channel: domain.ChatChannel(ev.ChatID), Data: data}}, nil
	}
	return nil, nil
}

// messageBody is the publication of a message event that every member of
// the chat receives (message.created, message.edited, message.deleted).
// A forward's source chat is left out (null): not every member of this chat
// may be a member of that one, and one publication serves them all; history
// shows it to those who are.
func messageBody(ev event.Event) ([]byte, error) {
	switch ev.Type {
	case event.MessageCreated, event.MessageEdited:
		decode := ev.Message
		if ev.Type == event.MessageEdited {
			decode = ev.Edited
		}
		m, err := decode()
		if err != nil {
			return nil, err
		}
		if err := domain.ValidateMessage(m); err != nil {
			return nil, err
		}
		if m.Forward != nil {
			f := *m.Forward
			f.ChatID = 0
			m.Forward = &f
		}
		if ev.Type == event.MessageEdited {
			return json.Marshal(apijson.NewMessageEdited(m))
		}
		return json.Marshal(apijson.NewMessageCreated(m))
	case event.MessageDeleted:
		d, err := ev.Deleted()
		if err != nil {
			return nil, err
		}
		return json.Marshal(apijson.NewMessageDeleted(ev.ChatID, d.MessageID))
	}
	return nil, fmt.Errorf("%s is no message event", ev.Type)
}

// chatChangeBody is the publication of a chat's or a member's change, which
// every member of the chat receives (chat.updated, member.updated).
func chatChangeBody(ev event.Event) ([]byte, error) {
	if ev.Type == event.ChatUpdated {
		d, err := event.Payload[event.ChatUpdatedData](ev.Envelope)
		if err != nil {
			return nil, err
		}
		s := Summary(ev, d.Chat, d.MembersCount, 0)
		return json.Marshal(apijson.NewChatUpdated(s))
	}
	d, err := event.Payload[event.MemberUpdatedData](ev.Envelope)
	if err != nil {
		return nil, err
	}
	if d.Member.User.ID <= 0 || !d.Member.Role.Valid() {
		return nil, errors.New("member.updated without a user or a role")
	}
	return json.Marshal(apijson.NewMemberUpdated(ev.ChatID, d.Member))
}

// Unsubscription ends one user's subscription to a channel on the server
// side (Centrifugo's unsubscribe command), on every connection of that user.
type Unsubscription struct {
	Channel string
	User    string // the user id, as in connection tokens' sub
}

// Unsubscriptions are the subscriptions an event ends, to be sent before its
// publications. A member removed from a chat (or leaving it) stops receiving
// the chat's channel at once: the client would otherwise keep the
// subscription it made as a member until it disconnects (API 1.1, "Chats and
// roles"). Sending it in the same pipe as the batch's publications, in log
// order, means no publication of the chat after the removal reaches them.
// The gateway refuses them a new subscription token from then on.
func Unsubscriptions(ev event.Event) ([]Unsubscription, error) {
	if ev.Type != event.MemberRemoved {
		return nil, nil
	}
	d, err := event.Payload[event.MemberRemovedData](ev.Envelope)
	if err != nil {
		return nil, err
	}
	if d.UserID <= 0 {
		return nil, errors.New("member.removed without a user_id")
	}
	return []Unsubscription{{Channel: domain.ChatChannel(ev.ChatID), User: strconv.FormatInt(d.UserID, 10)}}, nil
}

// Summary is the chat list entry of a chat the viewer just created or joined.
//
// The notifier has no read model, so it says what the event says: no last
// message, nothing unread, nothing read, and updated_at is the chat's
// creation. For a chat that already had messages (a member added later) the
// client learns the rest from GET /chats or from the chat's channel.
// membersCount is the chat's member count (a group's member.added event
// carries no member list).
func Summary(ev event.Event, chat domain.Chat, membersCount int, viewer int64) domain.ChatSummary {
	title := chat.Title
	if chat.Kind == domain.KindDirect {
		title = domain.DirectTitle(chat.Members, viewer)
	}
	created := chat.CreatedAt
	if created.IsZero() {
		created = ev.At
	}
	return domain.ChatSummary{
		ID:           ev.ChatID,
		Kind:         chat.Kind,
		Title:        title,
		Channel:      domain.ChatChannel(ev.ChatID),
		MembersCount: membersCount,
		LastMessage:  nil,
		UnreadCount:  0,
		UpdatedAt:    created.UTC(),
	}
}
