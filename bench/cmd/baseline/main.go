// Command baseline is the benchmark's synchronous baseline: the gateway's
// HTTP API, rules and stores (gateway/server) with the log replaced by writes
// to MySQL, Redis and Centrifugo in the request (bench/internal/syncsend).
// `make bench` runs it in place of the gateway for the baseline scenario. It
// is no deployment option: one instance, no log, nothing to replay.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/logchat/shared/obs"
)

func main() {
	log := obs.NewLogger("baseline")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}
