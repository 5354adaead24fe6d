package load

import (
	"slices"
	"testing"
)

func TestCursorN(t *testing.T) {
	for _, tc := range []struct {
		in     string
		n      int64
		stream string
		ok     bool
	}{
		{"1.s1", 1, "s1", true}, {"0.abc", 0, "abc", true}, {"123456.x.y", 123456, "x.y", true},
		{"", 0, "", false}, {"12", 0, "", false}, {".s", 0, "", false}, {"3.", 0, "", false}, {"-1.s", 0, "", false}, {"a.s", 0, "", false},
	} {
		n, stream, ok := CursorN(tc.in)
		if ok != tc.ok || ok && (n != tc.n || stream != tc.stream) {
			t.Errorf("CursorN(%q) = %d, %q, %v; want %d, %q, %v", tc.in, n, stream, ok, tc.n, tc.stream, tc.ok)
		}
	}
}

func pub(id int64) publication {
	var p publication
	p.Type = "message.created"
	p.Message.ID = id
	return p
}

func ids(ps []publication) []int64 {
	var out []int64
	for _, p := range ps {
		out = append(out, p.Message.ID)
	}
	return out
}

func TestCursorStateAppliesInOrderOnce(t *testing.T) {
	c := cursorState{n: 10, stream: "s"}
	if got, gap := c.offer(11, "s", pub(11)); !slices.Equal(ids(got), []int64{11}) || gap {
		t.Fatalf("next: %v gap %v", ids(got), gap)
	}
	// A duplicate, and an update of another stream, change nothing.
	if got, gap := c.offer(11, "s", pub(11)); len(got) != 0 || gap {
		t.Fatalf("duplicate: %v gap %v", ids(got), gap)
	}
	if got, _ := c.offer(12, "other", pub(12)); len(got) != 0 || c.n != 11 {
		t.Fatalf("other stream applied: %v, n %d", ids(got), c.n)
	}
	// 13 and 14 early: held back, a gap; 12 releases all three in order.
	if got, gap := c.offer(14, "s", pub(14)); len(got) != 0 || !gap {
		t.Fatalf("early 14: %v gap %v", ids(got), gap)
	}
	if got, gap := c.offer(13, "s", pub(13)); len(got) != 0 || !gap {
		t.Fatalf("early 13: %v gap %v", ids(got), gap)
	}
	if got, gap := c.offer(12, "s", pub(12)); !slices.Equal(ids(got), []int64{12, 13, 14}) || gap {
		t.Fatalf("gap filled: %v gap %v", ids(got), gap)
	}
	if c.cursor() != "14.s" {
		t.Fatalf("cursor %q, want 14.s", c.cursor())
	}
	// Held back beyond a second gap: only the run after the cursor is applied.
	c.offer(17, "s", pub(17))
	if got, gap := c.offer(15, "s", pub(15)); !slices.Equal(ids(got), []int64{15}) || !gap {
		t.Fatalf("partial fill: %v gap %v", ids(got), gap)
	}
	// A catch-up that went past what was held back drops it.
	c.offer(16, "s", pub(16))
	if c.n != 17 || len(c.pending) != 0 {
		t.Fatalf("n %d pending %d, want 17 and none", c.n, len(c.pending))
	}
	c.offer(20, "s", pub(20))
	c.reset(3, "t")
	if len(c.pending) != 0 || c.cursor() != "3.t" {
		t.Fatalf("reset: cursor %q pending %d", c.cursor(), len(c.pending))
	}
}
