package httpapi

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	// The drop-in decoder the answers' encoder comes from: a send's body is
	// decoded on the hot path. Its UnmarshalTypeError is encoding/json's.
	json "github.com/segmentio/encoding/json"

	"github.com/logchat/shared/apijson"
)

// The response objects of API.md live in shared/apijson, with the realtime
// publications and their golden files: every answer has the one wire format.
type (
	apiTime                 = apijson.Time
	summaryJSON             = apijson.ChatSummary
	chatJSON                = apijson.Chat
	authAnswer              = apijson.AuthResult
	sendAnswer              = apijson.SendResult
	userList                = apijson.UserList
	chatPage                = apijson.ChatPage
	messagePage             = apijson.MessagePage
	searchPage              = apijson.SearchPage
	realtimeTokenAnswer     = apijson.RealtimeToken
	subscriptionTokenAnswer = apijson.SubscriptionToken
	errorBody               = apijson.ErrorBody
	errorDetail             = apijson.ErrorDetail
)

var (
	toProfile  = apijson.FromProfile
	toMessage  = apijson.FromMessage
	toMessages = apijson.FromMessages
	toSummary  = apijson.FromSummary
)

// bind decodes a JSON request body into v. Unknown fields are ignored.
//
// encoding/json quietly replaces invalid UTF-8 and unpaired surrogate escapes
// ("\ud800") with U+FFFD; API.md wants such text rejected, so both are checked
// on the raw body first.
func bind(c *fiber.Ctx, v any) error {
	// The body as received: Ctx.Body would inflate an encoded one
	// (refuseEncoded has refused those already).
	body := c.Request().Body()
	if len(body) == 0 {
		return errInvalid("request body must be a JSON object")
	}
	if !utf8.Valid(body) {
		return errInvalid("request body is not valid UTF-8")
	}
	if hasLoneSurrogate(body) {
		return errInvalid("request body contains an unpaired UTF-16 surrogate escape")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return errInvalid(fmt.Sprintf("%s: must be a %s", te.Field, te.Type))
		}
		return errInvalid("malformed JSON: " + err.Error())
	}
	return nil
}

// hasLoneSurrogate reports whether a JSON text holds a \uD800-\uDFFF escape
// that is not part of a high+low surrogate pair.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) {
			return false
		}
		if b[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok {
			return false // malformed; json.Unmarshal reports it
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11
					continue
				}
			}
			return true
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		}
		i += 5
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
