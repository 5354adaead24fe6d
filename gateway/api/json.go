package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/shared/domain"
)

// apiTime is a time as API.md writes it: RFC 3339 in UTC with exactly three
// fractional digits ("2026-11-27T10:00:00.123Z"). time.Time's own encoding
// drops trailing zeros and keeps nanoseconds, which clients would have to
// special-case.
type apiTime time.Time

const timeLayout = "2006-01-02T15:04:05.000Z"

func (t apiTime) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timeLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, timeLayout)
	return append(b, '"'), nil
}

// The response objects of API.md. Domain types carry time.Time; these carry
// apiTime, so every time in every answer has one format.

type messageJSON struct {
	ID        int64       `json:"id"`
	ChatID    int64       `json:"chat_id"`
	Author    domain.User `json:"author"`
	Text      string      `json:"text"`
	SentAt    apiTime     `json:"sent_at"`
	ClientID  string      `json:"client_id"`
	ReplyToID *int64      `json:"reply_to_id"`
}

func toMessage(m domain.Message) messageJSON {
	return messageJSON{ID: m.ID, ChatID: m.ChatID, Author: m.Author, Text: m.Text,
		SentAt: apiTime(m.SentAt), ClientID: m.ClientID, ReplyToID: m.ReplyToID}
}

func toMessages(ms []domain.Message) []messageJSON {
	out := make([]messageJSON, len(ms))
	for i, m := range ms {
		out[i] = toMessage(m)
	}
	return out
}

type summaryJSON struct {
	ID            int64           `json:"id"`
	Kind          domain.ChatKind `json:"kind"`
	Title         string          `json:"title"`
	Channel       string          `json:"channel"`
	MembersCount  int             `json:"members_count"`
	LastMessage   *messageJSON    `json:"last_message"`
	UnreadCount   int             `json:"unread_count"`
	ReadMessageID int64           `json:"read_message_id"`
	UpdatedAt     apiTime         `json:"updated_at"`
}

func toSummary(s domain.ChatSummary) summaryJSON {
	out := summaryJSON{ID: s.ID, Kind: s.Kind, Title: s.Title, Channel: s.Channel,
		MembersCount: s.MembersCount, UnreadCount: s.UnreadCount,
		ReadMessageID: s.ReadMessageID, UpdatedAt: apiTime(s.UpdatedAt)}
	if s.LastMessage != nil {
		m := toMessage(*s.LastMessage)
		out.LastMessage = &m
	}
	if out.Channel == "" {
		out.Channel = domain.ChatChannel(s.ID)
	}
	return out
}

type chatJSON struct {
	summaryJSON
	CreatedAt apiTime         `json:"created_at"`
	Members   []domain.Member `json:"members"`
}

// bind decodes a JSON request body into v. Unknown fields are ignored.
//
// encoding/json quietly replaces invalid UTF-8 and unpaired surrogate escapes
// ("\ud800") with U+FFFD; API.md wants such text rejected, so both are checked
// on the raw body first.
func bind(c *fiber.Ctx, v any) error {
	body := c.Body()
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
