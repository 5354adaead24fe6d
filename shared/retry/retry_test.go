package retry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestUntilRetriesTransientErrors(t *testing.T) {
	calls := 0
	err := Until(t.Context(), quiet, "step", func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("not up yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
	}
}

func TestUntilStopsAtPermanentError(t *testing.T) {
	cause := errors.New("schema is broken")
	calls := 0
	err := Until(t.Context(), quiet, "migrate", func(context.Context) error {
		calls++
		return Permanent(cause)
	})
	if calls != 1 || !errors.Is(err, cause) || !IsPermanent(err) {
		t.Fatalf("calls %d, err %v: want one call and the permanent cause", calls, err)
	}
}

func TestUntilEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := Until(ctx, quiet, "connect", func(context.Context) error { return errors.New("down") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's deadline", err)
	}
}

func TestPermanentOfNilIsNil(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must stay nil so that `return Permanent(err)` after a success is a success")
	}
}
