package apijson

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/logchat/shared/domain"
)

func TestTimesHaveMilliseconds(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC):                                `"2026-11-27T10:00:00.000Z"`,
		time.Date(2026, 11, 27, 10, 0, 0, 120_000_000, time.UTC):                      `"2026-11-27T10:00:00.120Z"`,
		time.Date(2026, 11, 27, 10, 0, 0, 123_999_999, time.UTC):                      `"2026-11-27T10:00:00.123Z"`,
		time.Date(2026, 11, 27, 12, 0, 0, 5_000_000, time.FixedZone("CEST", 2*60*60)): `"2026-11-27T10:00:00.005Z"`,
	} {
		b, err := json.Marshal(Time(in))
		if err != nil || string(b) != want {
			t.Errorf("%v: %s %v, want %s", in, b, err, want)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !time.Time(back).Equal(in.Truncate(time.Millisecond)) {
			t.Errorf("round trip of %s: %v %v", b, time.Time(back), err)
		}
	}
}

func jsonFields(v any) []string {
	var m map[string]any
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The mirrors carry exactly the JSON fields of the domain types.
func TestMirrorsHaveTheDomainFields(t *testing.T) {
	m := domain.Message{ID: 1, SentAt: time.Now()}
	if a, b := jsonFields(m), jsonFields(FromMessage(m)); !reflect.DeepEqual(a, b) {
		t.Fatalf("Message fields %v, domain %v", b, a)
	}
	s := domain.ChatSummary{ID: 1, LastMessage: &m}
	if a, b := jsonFields(s), jsonFields(FromSummary(s)); !reflect.DeepEqual(a, b) {
		t.Fatalf("Summary fields %v, domain %v", b, a)
	}
	if FromSummary(s).Channel != "chat:1" {
		t.Fatal("an empty channel is filled in")
	}
}
