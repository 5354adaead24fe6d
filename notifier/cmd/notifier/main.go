// Command notifier relays the log to Centrifugo: every event a client should
// see live becomes a publication on a chat or personal channel.
package main

import (
	"context"
	"net/url"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
)

// defaultAPIURL is Centrifugo on a developer machine. The API key has no
// default: a committed key would let anyone publish to any channel.
const defaultAPIURL = "http://127.0.0.1:8000/api"

func main() {
	worker.Main(worker.Spec{
		Name:         "notifier",
		DefaultBatch: 1000,
		DefaultAddr:  "127.0.0.1:9103",
		Setup:        setup,
	})
}

func setup(_ context.Context, env *config.Env, deps worker.Deps) (bus.Handler, obs.Checks, func(), error) {
	apiURL := env.String("CENTRIFUGO_API_URL", defaultAPIURL)
	apiKey := env.RequiredSecret("CENTRIFUGO_API_KEY")
	u, err := url.Parse(apiURL)
	env.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
		"CENTRIFUGO_API_URL must be an http(s) URL such as %s", defaultAPIURL)

	r := relay.New(relay.Config{APIURL: apiURL, APIKey: apiKey}, deps.Log, deps.Registry)
	return r, obs.Checks{"centrifugo": r.Ping}, r.Close, nil
}
