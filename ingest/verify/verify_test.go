package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// The rebuild sets aside what the workers' code refuses for good, as the
// runtime dead-letters it, and applies the rest; anything else stops the
// check. (The whole check runs on real services in e2e/verify_test.go.)
func TestApplyBatchSetsRefusedEventsAside(t *testing.T) {
	events := func(seqs ...uint64) []event.Event {
		out := make([]event.Event, len(seqs))
		for i, s := range seqs {
			out[i] = event.Event{Seq: s}
		}
		return out
	}
	seqs := func(evs []event.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	poison := map[uint64]bool{3: true, 5: true}
	for _, tc := range []struct {
		name string
		a    func(applied *[]uint64) applier
	}{
		{"persister: the refusal names the event", func(applied *[]uint64) applier {
			return applier{name: "persister", refused: persisterApplier(nil).refused, apply: func(_ context.Context, evs []event.Event) error {
				for _, e := range evs {
					if poison[e.Seq] {
						return bus.PermanentAt(e.Seq, errors.New("bad"))
					}
				}
				*applied = append(*applied, seqs(evs)...)
				return nil
			}}
		}},
		{"cachewarm: the refusal names none", func(applied *[]uint64) applier {
			return applier{name: "cachewarm", refused: cachewarmApplier(nil).refused, apply: func(_ context.Context, evs []event.Event) error {
				for _, e := range evs {
					if poison[e.Seq] {
						return fmt.Errorf("event: %w", domain.ErrInvalid)
					}
				}
				*applied = append(*applied, seqs(evs)...)
				return nil
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var applied []uint64
			a := tc.a(&applied)
			rep := &Report{Refused: map[string][]uint64{}}
			if err := a.applyBatch(context.Background(), events(1, 2, 3, 4, 5, 6), rep); err != nil {
				t.Fatal(err)
			}
			slices.Sort(applied)
			if !slices.Equal(applied, []uint64{1, 2, 4, 6}) {
				t.Errorf("applied %v, want 1 2 4 6", applied)
			}
			got := slices.Sorted(slices.Values(rep.Refused[a.name]))
			if !slices.Equal(got, []uint64{3, 5}) {
				t.Errorf("refused %v, want 3 5", got)
			}
		})
	}
	t.Run("an outage is an error of the check", func(t *testing.T) {
		a := applier{name: "persister", refused: persisterApplier(nil).refused, apply: func(context.Context, []event.Event) error {
			return errors.New("connection refused")
		}}
		rep := &Report{Refused: map[string][]uint64{}}
		if err := a.applyBatch(context.Background(), events(1, 2), rep); err == nil || len(rep.Refused["persister"]) != 0 {
			t.Errorf("err %v, refused %v: want an error and nothing refused", err, rep.Refused)
		}
	})
}

func TestRowsPairByKeyAndLeaveOutWhatIsAfterS(t *testing.T) {
	if c := compareKeys([]string{"2", "10"}, []string{"2", "9"}); c <= 0 {
		t.Errorf("(2,10) sorts before (2,9): keys compared as text, not numbers")
	}
	if c := compareKeys([]string{"3", "1"}, []string{"3", "1"}); c != 0 {
		t.Errorf("equal keys compare %d", c)
	}
	spec := tableSpec{name: "messages", key: []string{"chat_id", "id"}, values: []string{"text", "edit_seq"}, seq: []string{"id", "edit_seq"}}
	for _, tc := range []struct {
		key     []string
		editSeq sql.NullString
		after   bool
	}{
		{[]string{"1", "100"}, sql.NullString{String: "0", Valid: true}, false},
		{[]string{"1", "101"}, sql.NullString{String: "0", Valid: true}, true},
		{[]string{"1", "50"}, sql.NullString{String: "120", Valid: true}, true},
		{[]string{"1", "50"}, sql.NullString{}, false},
	} {
		r := &row{key: tc.key, values: []sql.NullString{{String: "x", Valid: true}, tc.editSeq}}
		if got := spec.afterS(r, 100); got != tc.after {
			t.Errorf("row %v edit_seq %v: after S=100 %v, want %v", tc.key, tc.editSeq, got, tc.after)
		}
	}
	live := &row{values: []sql.NullString{{String: "a", Valid: true}, {String: "0", Valid: true}}}
	rebuilt := &row{values: []sql.NullString{{String: "b", Valid: true}, {String: "0", Valid: true}}}
	if l, r := spec.diffString(live, rebuilt); l != `text="a"` || r != `text="b"` {
		t.Errorf("diff shows %q / %q, want only the text", l, r)
	}
}
