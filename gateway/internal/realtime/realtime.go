// Package realtime decides who may connect to Centrifugo and subscribe to
// which channel, and issues the tokens that say so.
package realtime

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/logchat/gateway/rtoken"
	"github.com/logchat/shared/domain"
)

// Store answers membership (*sqlstore.Store).
type Store interface {
	MemberRole(ctx context.Context, chatID, userID int64) (domain.Role, error)
}

// Service issues Centrifugo tokens.
type Service struct {
	store  Store
	issuer *rtoken.Issuer
	url    string
}

// New returns the service; url is Centrifugo's WebSocket endpoint, handed
// to clients.
func New(st Store, issuer *rtoken.Issuer, url string) *Service {
	return &Service{store: st, issuer: issuer, url: url}
}

// Connection is what a client needs to connect.
type Connection struct {
	URL             string
	Token           string
	ExpiresAt       time.Time
	PersonalChannel string
}

// Connect issues a connection token for uid.
func (s *Service) Connect(uid int64) (Connection, error) {
	token, exp, err := s.issuer.Connection(uid)
	if err != nil {
		return Connection{}, err
	}
	return Connection{URL: s.url, Token: token, ExpiresAt: exp, PersonalChannel: domain.PersonalChannel(uid)}, nil
}

// Subscribe issues a subscription token for channel, or refuses (forbidden).
func (s *Service) Subscribe(ctx context.Context, uid int64, channel string) (string, error) {
	ok, err := s.maySubscribe(ctx, uid, channel)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", domain.Forbidden("you may not subscribe to this channel")
	}
	token, _, err := s.issuer.Subscription(uid, channel)
	return token, err
}

// maySubscribe: a chat's channel is for its members (asked of MySQL, never a
// cache: the token outlives the request), a personal channel for its owner,
// and no other channel exists. Ids must be written canonically: "chat:042"
// would be a different Centrifugo channel than "chat:42".
func (s *Service) maySubscribe(ctx context.Context, uid int64, channel string) (bool, error) {
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
		_, err := s.store.MemberRole(ctx, id, uid)
		if errors.Is(err, domain.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	default:
		return false, nil
	}
}
