package report

import (
	"strings"
	"testing"

	"github.com/logchat/bench/internal/load"
	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/stats"
)

func TestMicrosPerMsg(t *testing.T) {
	if got := MicrosPerMsg(1.5, 1000); got != 1500 {
		t.Errorf("1.5 CPU s over 1000 messages = %v µs, want 1500", got)
	}
	if got := MicrosPerMsg(2, 0); got != 0 {
		t.Errorf("no messages: %v, want 0", got)
	}
	if got := MicrosPerMsg(0.1, 3); got != 33333.3 {
		t.Errorf("rounding: %v, want 33333.3", got)
	}
}

func TestSumCPU(t *testing.T) {
	us := []procs.Usage{{Name: "gateway", CPUSeconds: 3, CPUPercent: 30}, {Name: "nats", CPUSeconds: 1, CPUPercent: 10}}
	st := SumCPU(us, 2000)
	if st.Seconds != 4 || st.Percent != 40 || st.MicrosPerMsg != 2000 {
		t.Errorf("stack = %+v, want 4 s, 40 %%, 2000 µs/msg", st)
	}
	if us[0].CPUMicrosPerMsg != 1500 || us[1].CPUMicrosPerMsg != 500 {
		t.Errorf("per process = %v, %v, want 1500, 500", us[0].CPUMicrosPerMsg, us[1].CPUMicrosPerMsg)
	}
}

func TestParseRates(t *testing.T) {
	got, err := ParseRates(" 100, 300,1e3 ,")
	if err != nil || len(got) != 3 || got[0] != 100 || got[1] != 300 || got[2] != 1000 {
		t.Errorf("ParseRates = %v, %v", got, err)
	}
	for _, bad := range []string{"", "100,x", "0", "-5", ","} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) accepted", bad)
		}
	}
}

func TestProcTableHasStackRow(t *testing.T) {
	us := []procs.Usage{{Name: "gateway", CPUSeconds: 2, CPUPercent: 20}}
	st := SumCPU(us, 1000)
	tab := ProcTable(us, &st)
	if !strings.Contains(tab, "CPU µs / msg") {
		t.Errorf("no µs/msg column:\n%s", tab)
	}
	if !strings.Contains(tab, "| gateway | 2.00 | 20 | 2,000 |") {
		t.Errorf("gateway row wrong:\n%s", tab)
	}
	if !strings.Contains(tab, "| **stack** | 2.00 | 20 | 2,000 |") {
		t.Errorf("stack row wrong:\n%s", tab)
	}
}

func TestCurvePointAndTables(t *testing.T) {
	s := &Scenario{Accepted: 1000, Rate: 100, Procs: []procs.Usage{{Name: "gateway", CPUSeconds: 1, CPUPercent: 10}, {Name: "nats", CPUSeconds: 1, CPUPercent: 10}},
		E2E: stats.Summary{P50: 2, P99: 9}, Delivery: load.Delivery{Lost: 1}}
	// The window is 10 s (2 CPU s at 20 %); idle at 5 % would have cost 0.5 s.
	pt := NewCurvePoint(100, s, 5)
	if pt.StackUs != 2000 || pt.AboveIdle != 1500 || pt.ProcUs["gateway"] != 1000 || pt.Lost != 1 || pt.DelivP99 != 9 {
		t.Errorf("point = %+v", pt)
	}
	c := &Curve{Chats: 10, Duration: "10s", Points: []CurvePoint{pt, {Rate: 300, ProcUs: map[string]float64{"gateway": 800}, StackUs: 900}}}
	tab := ProcRateTable(c)
	for _, want := range []string{"| process | 100/s | 300/s |", "| gateway | 1,000 | 800 |", "| nats | 1,000 | – |", "| **stack** | 2,000 | 900 |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("process × rate table lacks %q:\n%s", want, tab)
		}
	}
	md := CurveMarkdown(c, "")
	if !strings.Contains(md, "| 100 | 100 | 20 | 2,000 | 1,500 | – / – | 2.0 / 9.0 | 1 / 0 / 0 | 0 |") {
		t.Errorf("curve row wrong:\n%s", md)
	}
}
