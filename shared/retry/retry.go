// Package retry is the one start-up retry policy of every process: a
// dependency that is not up yet (NATS, MySQL, the schema a migration is still
// writing) is waited for with capped exponential back-off, a warning per
// attempt; an error marked Permanent (a broken migration, a schema newer than
// the code understands, a refused credential) ends the wait at once, so that
// the process exits with the reason instead of retrying something that can
// never succeed.
//
// Outages after start-up are not this package's business: the workers' consumer
// runtime (ingest/bus) has its own back-off that tells outages from poison.
package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The policy. The first retries are quick because the common case is a
// dependency started a moment after this process (make up starts everything
// at once); the cap keeps a long outage from being hammered.
const (
	firstWait = 100 * time.Millisecond
	maxWait   = 5 * time.Second
)

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that waiting cannot fix.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or an error it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Until calls f until it returns nil, a Permanent error, or ctx ends. what
// names the step in the log and in the returned error.
func Until(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	wait := firstWait
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info(what+": done", "attempts", attempt)
			}
			return nil
		}
		if IsPermanent(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		log.Warn(what+": not yet, retrying", "err", err, "attempt", attempt, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}
