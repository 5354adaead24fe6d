package presence

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/centrifugal/gocent/v3"
)

// Publication is one ephemeral publication: data on a channel.
type Publication struct {
	Channel string
	Data    []byte
}

// API is Centrifugo's server API as presence and typing use it (gocent).
type API struct {
	client *gocent.Client
}

// NewAPI returns the client of Centrifugo's server API at url (its internal
// port, …/api) with key; hc carries the timeouts.
func NewAPI(url, key string, hc *http.Client) *API {
	return &API{client: gocent.New(gocent.Config{Addr: url, Key: key, HTTPClient: hc})}
}

// Publish publishes each publication without keeping it in its channel's
// history: a typing notice or a presence change is worth nothing later,
// and in the history it would take the place of messages a reconnecting
// client recovers. Publications without an offset reach subscribers with
// positioning on (the chat namespace's force_positioning) unchecked. One
// HTTP request for all of them.
func (a *API) Publish(ctx context.Context, pubs []Publication) error {
	if len(pubs) == 0 {
		return nil
	}
	pipe := a.client.Pipe()
	for _, p := range pubs {
		if err := pipe.AddPublish(p.Channel, p.Data, gocent.WithSkipHistory(true)); err != nil {
			return err
		}
	}
	replies, err := a.client.SendPipe(ctx, pipe)
	if err != nil {
		return fmt.Errorf("centrifugo publish: %w", err)
	}
	for _, r := range replies {
		if r.Error != nil {
			return fmt.Errorf("centrifugo publish: %w", r.Error)
		}
	}
	return nil
}

// Subscribed is the ids of the users with at least one subscription to
// their personal channel, on any Centrifugo node: the channels API answers
// from each node's hub (its in-memory map of channels to subscribers), so
// one call covers every connected user whatever their number, and needs
// no presence storage.
func (a *API) Subscribed(ctx context.Context) (map[int64]struct{}, error) {
	res, err := a.client.Channels(ctx, gocent.WithPattern(personalPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("centrifugo channels: %w", err)
	}
	out := make(map[int64]struct{}, len(res.Channels))
	// Only channels with subscribers are listed (gocent's ChannelInfo
	// reads num_users, which Centrifugo v6 calls num_clients: not used).
	for ch := range res.Channels {
		if id, ok := personalID(ch); ok {
			out[id] = struct{}{}
		}
	}
	return out, nil
}

// Ping asks Centrifugo for its info.
func (a *API) Ping(ctx context.Context) error {
	_, err := a.client.Info(ctx)
	return err
}

const personalPrefix = "user:"

// personalID reads a canonical personal channel name (domain.PersonalChannel).
func personalID(ch string) (int64, bool) {
	rest, ok := strings.CutPrefix(ch, personalPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return 0, false
	}
	return id, true
}
