// Command gateway serves the HTTP API of API.md, the health endpoints and the
// web client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
)

func main() {
	if config.DescribeIfAsked(func(env *config.Env) { readSettings(env) }) {
		return
	}
	log := obs.NewLogger("gateway")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}
