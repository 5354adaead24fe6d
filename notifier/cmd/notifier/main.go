// Command notifier relays the log to Centrifugo: every event a client should
// see live becomes a publication on a chat or personal channel.
package main

import (
	"context"
	"net/url"

	"github.com/logchat/ingest/worker"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
)

// defaultAPIURL is Centrifugo's server API on a developer machine: its
// internal port (deploy/centrifugo/config.template.json), not the clients'.
// The API key has no default: a committed key would let anyone publish to
// any channel.
const defaultAPIURL = "http://127.0.0.1:8001/api"

func main() {
	worker.Main(worker.Spec[settings]{
		Name:         "notifier",
		DefaultBatch: 1000,
		DefaultAddr:  "127.0.0.1:9103",
		Config:       readSettings,
		Open:         open,
	})
}

// settings are the notifier's own (worker.Config holds the common ones).
type settings struct {
	APIURL string // Centrifugo's server API
	APIKey string // secret
}

// readSettings reads the notifier's settings from env and states their
// rules; it opens nothing.
func readSettings(env *config.Env) settings {
	s := settings{
		APIURL: env.String("CENTRIFUGO_API_URL", defaultAPIURL),
		APIKey: env.RequiredSecret("CENTRIFUGO_API_KEY"),
	}
	u, err := url.Parse(s.APIURL)
	env.Check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
		"CENTRIFUGO_API_URL must be an http(s) URL such as %s", defaultAPIURL)
	return s
}

// open builds the relay; it connects lazily, so Centrifugo being down shows
// in /readyz.
func open(_ context.Context, s settings, deps worker.Deps) (worker.Opened, error) {
	r := relay.New(relay.Config{APIURL: s.APIURL, APIKey: s.APIKey}, deps.Log, deps.Registry)
	return worker.Opened{Handler: r, Checks: obs.Checks{"centrifugo": r.Ping}, Close: r.Close}, nil
}
