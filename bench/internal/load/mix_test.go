package load

import "testing"

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
		bad  bool
	}{
		{in: "", want: Mix{}},
		{in: "edits=10,deletes=2", want: Mix{Edits: 10, Deletes: 2}},
		{in: " deletes=3 ", want: Mix{Deletes: 3}},
		{in: "edits=10,hides=2", bad: true},
		{in: "edits=-1", bad: true},
		{in: "edits", bad: true},
		{in: "edits=60,deletes=40", bad: true},
	} {
		got, err := ParseMix(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	if s := (Mix{Edits: 10, Deletes: 2}).String(); s != "edits=10,deletes=2" {
		t.Errorf("String() = %q", s)
	}
}
