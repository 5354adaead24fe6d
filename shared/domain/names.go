package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
)

// NameSkeleton is the form of a name under which two names count as the same
// for uniqueness: the UTS #39 confusable skeleton of its simple case fold, so
// that "alice", "ALICE" and "аlice" (with a Cyrillic а) cannot all be
// registered and impersonate one another.
//
// The fold comes first because the skeleton keeps case ("A" and "a" have
// different skeletons), and again after, because the skeleton may map a
// lower-case letter to an upper-case prototype.
func NameSkeleton(name string) string {
	return foldCase(confusables.Skeleton(foldCase(name)))
}

// foldCase maps each rune to the lower case of its upper case: plain
// lower-casing would keep apart names that differ only in case forms of one
// letter, such as Greek final sigma (ς, σ, Σ) or the long s (ſ, s).
func foldCase(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, s)
}

// hasControlOrBidi reports a control character (C0, C1, DEL) or a
// bidirectional formatting character (LRE…RLO, LRI…PDI, LRM, RLM, ALM): they
// can make a title or a name display as something else than it is
// ("invoice‮fdp.exe") or break the layout of every list that shows it.
func hasControlOrBidi(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return true
		}
	}
	return false
}

// ValidateAbout checks a profile's "about" text: valid UTF-8, at most
// MaxAboutRunes code points, line breaks allowed but no other control or
// bidirectional-formatting character.
func ValidateAbout(about string) error {
	if !utf8.ValidString(about) || utf8.RuneCountInString(about) > MaxAboutRunes {
		return invalid("about is at most %d characters of valid UTF-8", MaxAboutRunes)
	}
	if hasControlOrBidi(strings.ReplaceAll(about, "\n", "")) {
		return invalid("about must not contain control or bidirectional-formatting characters other than line breaks")
	}
	return nil
}
