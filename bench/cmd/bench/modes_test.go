package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/logchat/bench/internal/procs"
)

func TestModes(t *testing.T) {
	for _, flag := range []string{"--fanout-via", "--storm-via"} {
		parse := func(v string) ([]string, error) { return viaModes(flag, v) }
		if got, err := parse("personal, chat"); err != nil || !slices.Equal(got, []string{"personal", "chat"}) {
			t.Errorf("both: %v %v", got, err)
		}
		if got, err := parse("chat"); err != nil || !slices.Equal(got, []string{"chat"}) {
			t.Errorf("chat: %v %v", got, err)
		}
		for _, bad := range []string{"", ",", "chats", "personal,x"} {
			if _, err := parse(bad); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	}
}

func TestBroadcastPayloadAndChannels(t *testing.T) {
	for _, n := range []int{300, 1000} {
		if p := broadcastPayload(n); len(p) != n || !strings.HasPrefix(string(p), `{"type":"message.created","cursor":`) {
			t.Errorf("payload of %d: %d bytes %.40s", n, len(p), p)
		}
	}
	ch := broadcastChannels(3)
	if !slices.Equal(ch, []string{"user:900000000", "user:900000001", "user:900000002"}) {
		t.Errorf("channels %v", ch)
	}
}

func TestPerDelivery(t *testing.T) {
	d := perDelivery([]procs.Usage{{Name: "notifier", CPUSeconds: 1}, {Name: "centrifugo", CPUSeconds: 3}}, 1_000_000)
	if d.StackMicros != 4 || d.ProcessMicros["notifier"] != 1 || d.ProcessMicros["centrifugo"] != 3 {
		t.Errorf("per delivery: %+v", d)
	}
	if n := d.note(); !strings.Contains(n, "stack 4.0 µs (centrifugo 3.0, notifier 1.0)") {
		t.Errorf("note: %s", n)
	}
	if d := perDelivery(nil, 0); d.StackMicros != 0 {
		t.Errorf("no deliveries: %v", d.StackMicros)
	}
}
