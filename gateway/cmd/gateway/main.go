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
	if config.DescribeRequested() {
		env := config.NewDescriber()
		readSettings(env)
		if err := env.PrintDescription(os.Stdout); err != nil {
			os.Exit(1)
		}
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
