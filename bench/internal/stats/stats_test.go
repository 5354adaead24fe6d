package stats

import "testing"

func TestSummarizePercentiles(t *testing.T) {
	vals := make([]float64, 0, 1000)
	for i := 1000; i >= 1; i-- {
		vals = append(vals, float64(i))
	}
	s := Summarize(vals)
	want := Summary{Count: 1000, Mean: 500.5, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Fatal("empty input must give a zero summary")
	}
}
