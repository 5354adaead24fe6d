package load

import "testing"

func TestGroupLayout(t *testing.T) {
	for _, tc := range []struct{ users, k, size int }{{2000, 20, 10}, {101, 3, 10}, {21, 2, 2}} {
		groups := GroupLayout(tc.users, tc.k, tc.size, 7)
		in := make([]int, tc.users)
		for _, g := range groups {
			if len(g) < 2 {
				t.Fatalf("%+v: a group of %d", tc, len(g))
			}
			for _, u := range g {
				in[u]++
			}
		}
		for u, n := range in {
			if n != tc.k {
				t.Fatalf("%+v: user %d in %d groups, want %d", tc, u, n, tc.k)
			}
		}
		if tc.users%tc.size == 0 && len(groups) != tc.users*tc.k/tc.size {
			t.Errorf("%+v: %d groups, want %d", tc, len(groups), tc.users*tc.k/tc.size)
		}
	}
}
