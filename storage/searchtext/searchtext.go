// Package searchtext turns text into the terms of the message search index,
// and a query into the prefixes it looks for. The searcher (indexing) and the
// gateway (querying) both use it, so that a word is folded the same way on
// both sides.
//
// A term is a word of the text by Unicode word segmentation (UAX #29, which
// works for any script that separates words; ideographic scripts give one
// word per character), normalised by NFKC (full-width and compatibility
// forms become their plain letters), case-folded (Unicode full case folding,
// so "Straße" and "STRASSE" meet) and with Russian "ё" read as "е", as people
// type it. Segments without a letter or a digit (spaces, punctuation, emoji)
// are not terms.
package searchtext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxTermBytes is the longest term the index keeps (its column's width): a
// longer word is indexed by its first MaxTermBytes bytes, cut at a rune
// boundary. A query word is cut the same way for the index; the result is
// then checked against the whole words of the message (Matches).
const MaxTermBytes = 64

// MaxQueryWords bounds the words of a query that the index is asked about;
// the rest are still checked by Matches.
const MaxQueryWords = 8

var folder = cases.Fold()

// fold normalises one word: NFKC, case folding, ё → е.
func fold(w string) string {
	w = folder.String(norm.NFKC.String(w))
	if strings.ContainsRune(w, 'ё') {
		w = strings.ReplaceAll(w, "ё", "е")
	}
	return w
}

// Words are the folded words of text in their order, repeats included.
func Words(text string) []string {
	var out []string
	state := -1
	for text != "" {
		var w string
		w, text, state = uniseg.FirstWordInString(text, state)
		if !isWord(w) {
			continue
		}
		out = append(out, fold(w))
	}
	return out
}

// isWord tells a word from a space or punctuation segment.
func isWord(seg string) bool {
	for _, r := range seg {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) {
			return true
		}
	}
	return false
}

// Truncate cuts a folded word to the index's term width at a rune boundary.
func Truncate(w string) string {
	if len(w) <= MaxTermBytes {
		return w
	}
	cut := MaxTermBytes
	for cut > 0 && !utf8.RuneStart(w[cut]) {
		cut--
	}
	return w[:cut]
}

// Terms are the distinct index terms of a message's text, in first
// appearance order.
func Terms(text string) []string {
	words := Words(text)
	seen := make(map[string]struct{}, len(words))
	out := make([]string, 0, len(words))
	for _, w := range words {
		t := Truncate(w)
		if _, ok := seen[t]; ok {
			continue
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	return out
}

// Query is a parsed search query: the folded words a message must all have,
// each as a whole word or a word's prefix.
type Query struct {
	Words []string // distinct, in query order
}

// ParseQuery folds the words of q. A query without any word (only spaces or
// punctuation) has none; the caller refuses it.
func ParseQuery(q string) Query {
	seen := map[string]bool{}
	var words []string
	for _, w := range Words(q) {
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	// A word that is a prefix of another word of the query adds nothing
	// the longer one does not ask ("hel hello"): dropped, so the index is
	// asked fewer things.
	var out []string
	for i, w := range words {
		covered := false
		for j, o := range words {
			if i != j && len(o) > len(w) && strings.HasPrefix(o, w) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, w)
		}
	}
	return Query{Words: out}
}

// Prefixes are the query's words cut to the index's width, at most
// MaxQueryWords of them (the longest first: they select the fewest rows).
func (q Query) Prefixes() []string {
	ps := make([]string, 0, len(q.Words))
	seen := map[string]bool{}
	for _, w := range q.Words {
		p := Truncate(w)
		if !seen[p] {
			seen[p] = true
			ps = append(ps, p)
		}
	}
	if len(ps) > MaxQueryWords {
		// Longer prefixes match fewer terms: keep those for the index.
		sortByLenDesc(ps)
		ps = ps[:MaxQueryWords]
	}
	return ps
}

func sortByLenDesc(ps []string) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && len(ps[j]) > len(ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// Matches tells whether text has, for every word of the query, a word that
// is it or begins with it. The index finds candidates; this is the final
// word on them (a word longer than a term, a text edited since it was
// indexed).
func (q Query) Matches(text string) bool {
	if len(q.Words) == 0 {
		return false
	}
	words := Words(text)
	for _, qw := range q.Words {
		found := false
		for _, w := range words {
			if strings.HasPrefix(w, qw) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
