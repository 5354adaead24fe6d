package domain

import (
	"errors"
	"testing"
)

func TestNameSkeletonCatchesLookAlikes(t *testing.T) {
	same := [][2]string{
		{"alice", "ALICE"},
		{"alice", "\u0430lice"}, // Cyrillic а
		{"paypal", "p\u0430yp\u0430l"},
		{"σοφία", "ΣΟΦΊΑ"},
		{"scott", "ſcott"}, // long s
	}
	for _, p := range same {
		if NameSkeleton(p[0]) != NameSkeleton(p[1]) {
			t.Errorf("%q and %q look alike but have skeletons %q and %q", p[0], p[1], NameSkeleton(p[0]), NameSkeleton(p[1]))
		}
	}
	different := [][2]string{{"alice", "alicia"}, {"bob", "rob"}, {"квазар", "кварц"}}
	for _, p := range different {
		if NameSkeleton(p[0]) == NameSkeleton(p[1]) {
			t.Errorf("%q and %q are different names but share the skeleton %q", p[0], p[1], NameSkeleton(p[0]))
		}
	}
}

func TestTitlesRejectControlAndBidiCharacters(t *testing.T) {
	for _, title := range []string{"a\x00b", "bell\x07", "line\nbreak", "invoice\u202efdp.exe", "x\u2066y\u2069", "mark\u200f", "del\x7f", "c1\u0085x"} {
		if _, err := NormalizeTitle(title); !errors.Is(err, ErrInvalid) {
			t.Errorf("title %q: got %v, want invalid", title, err)
		}
	}
	for _, title := range []string{"Team chat", "Команда", "عربى", "emoji 🎉"} {
		if _, err := NormalizeTitle(title); err != nil {
			t.Errorf("title %q: %v", title, err)
		}
	}
	for _, name := range []string{"ali\u202ece", "bob\u200e", "a\x00"} {
		if err := ValidateName(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: got %v, want invalid", name, err)
		}
	}
}
