package searchtext

import (
	"slices"
	"strings"
	"testing"
)

func TestTerms(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"english punctuation and case", "Hello, World! hello again.", []string{"hello", "world", "again"}},
		{"russian case", "Квазары — далёкие КВАЗАРЫ", []string{"квазары", "далекие"}},
		{"mixed scripts", "Встреча at 10:30 в Café", []string{"встреча", "at", "10", "30", "в", "café"}},
		{"full-width letters (NFKC)", "ＨＥＬＬＯ", []string{"hello"}},
		{"german sharp s folds", "STRASSE Straße", []string{"strasse"}},
		{"apostrophe keeps the word", "don't stop", []string{"don't", "stop"}},
		{"emoji and punctuation are no terms", "🙂 ... !!! ?", []string{}},
		{"ideographs one per character", "東京", []string{"東", "京"}},
		{"digits", "room 42", []string{"room", "42"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Terms(c.text)
			if !slices.Equal(got, c.want) {
				t.Fatalf("Terms(%q) = %q, want %q", c.text, got, c.want)
			}
		})
	}
}

func TestTruncateKeepsRunes(t *testing.T) {
	long := strings.Repeat("я", 40) // 80 bytes
	got := Truncate(long)
	if len(got) > MaxTermBytes || !strings.HasPrefix(long, got) || len(got) != 64 {
		t.Fatalf("Truncate gave %d bytes %q", len(got), got)
	}
	odd := "a" + strings.Repeat("я", 40) // a rune straddles byte 64
	got = Truncate(odd)
	if len(got) != 63 || !strings.HasPrefix(odd, got) {
		t.Fatalf("Truncate(odd) gave %d bytes", len(got))
	}
	if terms := Terms(long + " " + long + "x"); len(terms) != 1 {
		t.Fatalf("two long words with one prefix must be one term, got %d", len(terms))
	}
}

func TestQueryMatches(t *testing.T) {
	cases := []struct {
		q, text string
		want    bool
	}{
		{"квазар", "Квазары светят", true},
		{"КВАЗАР", "квазары", true},
		{"hello", "Hello, world", true},
		{"hel wor", "Hello, world", true},
		{"hello mars", "Hello, world", false},
		{"ello", "Hello", false}, // prefixes only, not infixes
		{"далекий", "далёкий свет", true},
		{"далёкий", "далекий свет", true},
		{"!!!", "!!!", false},
		{"world hello", "Hello, world", true},
	}
	for _, c := range cases {
		if got := ParseQuery(c.q).Matches(c.text); got != c.want {
			t.Errorf("ParseQuery(%q).Matches(%q) = %v, want %v", c.q, c.text, got, c.want)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q := ParseQuery("  Hel hello HELLO, мир ")
	if !slices.Equal(q.Words, []string{"hello", "мир"}) {
		t.Fatalf("words %q", q.Words)
	}
	if len(ParseQuery(" ... ").Words) != 0 {
		t.Fatal("a query of punctuation has no words")
	}
	many := ParseQuery("a1 b22 c333 d4444 e5 f6 g7 h8 i9 j10 k11")
	if p := many.Prefixes(); len(p) != MaxQueryWords || p[0] != "d4444" {
		t.Fatalf("prefixes %q", p)
	}
}
