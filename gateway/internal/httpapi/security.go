package httpapi

import (
	"bytes"
	"github.com/logchat/gateway/internal/people"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/helmet"
)

// refuseEncoded answers 415 for a request whose body is encoded
// (Content-Encoding other than identity), before anything reads the body.
//
// Fiber v2's Ctx.Body inflates gzip, deflate and brotli bodies with no limit
// on the result: a 255 KiB gzip request grew the gateway by a gigabyte. No
// client of API.md compresses its requests (they are small JSON objects), so
// an encoded body is refused rather than inflated under a limit. API.md's
// codes are fixed: the code is invalid_argument, the status 415.
var contentEncoding, identity = []byte(fiber.HeaderContentEncoding), []byte("identity")

func refuseEncoded(c *fiber.Ctx) error {
	encoded := false
	// Every header, not Peek's first: a request may repeat the header.
	c.Request().Header.VisitAll(func(k, v []byte) {
		if !bytes.EqualFold(k, contentEncoding) {
			return
		}
		for e := range bytes.SplitSeq(v, []byte(",")) {
			if e = bytes.TrimSpace(e); len(e) > 0 && !bytes.EqualFold(e, identity) {
				encoded = true
			}
		}
	})
	if encoded {
		return &httpError{http.StatusUnsupportedMediaType, codeInvalid,
			"Content-Encoding is not supported: send the body uncompressed"}
	}
	return c.Next()
}

// limitBody answers 413 for a body over BodyLimit (see readLimit). It looks
// at the body as received (fasthttp's Request.Body), never at Ctx.Body,
// which would inflate an encoded one; refuseEncoded ran first, so the two
// are the same.
func limitBody(c *fiber.Ctx) error {
	limit := BodyLimit
	if c.Method() == fiber.MethodPut && c.Path() == avatarUploadPath {
		limit = people.MaxAvatarBytes
	}
	if len(c.Request().Body()) > limit {
		return fiber.ErrRequestEntityTooLarge
	}
	return c.Next()
}

// avatarUploadPath is the one path whose body may be bigger than BodyLimit:
// an image, up to people.MaxAvatarBytes.
const avatarUploadPath = "/api/v1/me/avatar"

// securityHeaders sets the browser's protections on every answer (Fiber's
// helmet): a Content-Security-Policy that allows scripts and styles from
// the gateway's own origin only (no inline script, no eval), no framing, no
// MIME sniffing, no Referer. realtimeURL is Centrifugo's WebSocket endpoint,
// which the web client connects to (another origin: another port).
//
// HSTS is the TLS-terminating proxy's to send (docs/security.md): the
// gateway itself speaks plain HTTP.
func securityHeaders(realtimeURL string) fiber.Handler {
	return helmet.New(helmet.Config{
		ContentSecurityPolicy: contentSecurityPolicy(realtimeURL),
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "no-referrer",
		ContentTypeNosniff:    "nosniff",
		PermissionPolicy:      "camera=(), microphone=(), geolocation=(), payment=()",
	})
}

// contentSecurityPolicy is the policy of the built web client (web/dist):
// its index.html loads one module script and one stylesheet from ./assets,
// its icon is a data: URL, and Vue sets styles through the CSSOM (allowed
// without 'unsafe-inline').
func contentSecurityPolicy(realtimeURL string) string {
	connect := "'self'"
	if u, err := url.Parse(realtimeURL); err == nil && u.Host != "" &&
		(u.Scheme == "ws" || u.Scheme == "wss" || u.Scheme == "http" || u.Scheme == "https") {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src " + connect,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}
