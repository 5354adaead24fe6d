package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimesHaveMilliseconds(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC):                                          `"2026-11-27T10:00:00.000Z"`,
		time.Date(2026, 11, 27, 10, 0, 0, 120_000_000, time.UTC):                                `"2026-11-27T10:00:00.120Z"`,
		time.Date(2026, 11, 27, 10, 0, 0, 123_999_999, time.UTC):                                `"2026-11-27T10:00:00.123Z"`,
		time.Date(2026, 11, 27, 12, 0, 0, 5_000_000, time.FixedZone("CEST", 2*60*60)):           `"2026-11-27T10:00:00.005Z"`,
		time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("", 0)).Add(999 * time.Millisecond): `"2026-11-27T10:00:00.999Z"`,
	} {
		b, err := json.Marshal(apiTime(in))
		if err != nil || string(b) != want {
			t.Errorf("%v: %s %v, want %s", in, b, err, want)
		}
	}
}

func TestLoneSurrogates(t *testing.T) {
	for in, want := range map[string]bool{
		`{"t": "plain"}`:                 false,
		`{"t": "\u00e9\u4e2d"}`:          false,
		`{"t": "\ud83d\ude00"}`:          false, // a pair: 😀
		`{"t": "\uD83D\uDE00 and more"}`: false,
		`{"t": "\ud800"}`:                true,
		`{"t": "\udc00"}`:                true,
		`{"t": "\ud83d x"}`:              true,
		`{"t": "\ud83d\u0041"}`:          true,
		`{"t": "\ude00\ud83d"}`:          true,
		`{"t": "\\ud800"}`:               false, // an escaped backslash, then text
		`{"t": "\\\ud800"}`:              true,
		`{"t": "\ud83d\ude00\ud83d"}`:    true,
		`{"t": "\u12"}`:                  false, // malformed: json.Unmarshal's to report
		`{"t": "ends with a backslash \`: false,
	} {
		if got := hasLoneSurrogate([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
}
