package httpapi

import "testing"

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
