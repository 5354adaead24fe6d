// Package rtoken issues the JWTs that let a client into Centrifugo: a
// connection token (who the connection belongs to) and subscription tokens
// (which channel it may join). Both are HS256 with the HMAC secret that
// Centrifugo is configured with (client.token.hmac_secret_key); the gateway
// decides who gets which, Centrifugo only checks the signature.
package rtoken

import (
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer signs Centrifugo tokens.
type Issuer struct {
	secret []byte
	ttl    time.Duration // connection tokens
	subTTL time.Duration // subscription tokens
	now    func() time.Time
}

// New returns an issuer; its tokens live for ttl. When one expires, Centrifugo
// asks the client SDK for a fresh one, which calls the gateway again, so the
// membership behind a subscription is re-checked at least once per ttl.
func New(secret string, ttl time.Duration) *Issuer {
	return &Issuer{secret: []byte(secret), ttl: ttl, subTTL: ttl, now: time.Now}
}

// WithSubscriptionTTL makes subscription tokens live for ttl instead of the
// connection's lifetime, and returns i. Centrifugo checks a subscription
// token only when a client subscribes, so a token a member fetched just
// before being removed would let them subscribe again until it expires; a
// short lifetime bounds that window, and the client SDK fetches a new one
// (from the gateway, which asks MySQL) before the old one ends.
func (i *Issuer) WithSubscriptionTTL(ttl time.Duration) *Issuer {
	i.subTTL = ttl
	return i
}

// ConnectionClaims are Centrifugo's connection token claims.
type ConnectionClaims struct {
	jwt.RegisteredClaims // sub: the user id, exp
}

// SubscriptionClaims are Centrifugo's subscription token claims.
type SubscriptionClaims struct {
	Channel              string `json:"channel"`
	jwt.RegisteredClaims        // sub: the user id, exp
}

// Connection returns a connection token for userID and its expiry.
func (i *Issuer) Connection(userID int64) (string, time.Time, error) {
	exp := i.now().Add(i.ttl)
	c := ConnectionClaims{RegisteredClaims: i.registered(userID, exp)}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign connection token: %w", err)
	}
	return s, exp, nil
}

// Subscription returns a token letting userID's connection subscribe to channel.
// The caller has checked that userID may.
func (i *Issuer) Subscription(userID int64, channel string) (string, time.Time, error) {
	exp := i.now().Add(i.subTTL)
	c := SubscriptionClaims{Channel: channel, RegisteredClaims: i.registered(userID, exp)}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign subscription token: %w", err)
	}
	return s, exp, nil
}

func (i *Issuer) registered(userID int64, exp time.Time) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(userID, 10),
		IssuedAt:  jwt.NewNumericDate(i.now()),
		ExpiresAt: jwt.NewNumericDate(exp),
	}
}
