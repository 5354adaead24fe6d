// Package obs is what every process needs to be observable: a JSON logger,
// a Prometheus registry, and the /healthz, /readyz and /metrics endpoints.
package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns the process's logger: ECS JSON lines on stderr (ecs.go)
// naming the service on every line. LOG_LEVEL=debug turns on debug lines.
func NewLogger(service string) *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	return slog.New(NewECSHandler(os.Stderr, ECSOptions{Service: service, Level: level}))
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Check reports whether one dependency answers.
type Check func(ctx context.Context) error

// Checks names the dependencies a process needs to be ready.
type Checks map[string]Check

// Run runs every check with a short deadline and returns the failing ones by name.
func (cs Checks) Run(ctx context.Context) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	ch := make(chan result, len(cs))
	for name, c := range cs {
		go func() { ch <- result{name, c(ctx)} }()
	}
	failed := map[string]string{}
	for range cs {
		r := <-ch
		if r.err != nil {
			failed[r.name] = r.err.Error()
		}
	}
	return failed
}

// ReadyBody renders the outcome of Checks.Run as the /readyz JSON body.
func ReadyBody(failed map[string]string) map[string]any {
	if len(failed) == 0 {
		return map[string]any{"status": "ok"}
	}
	names := make([]string, 0, len(failed))
	for n := range failed {
		names = append(names, n)
	}
	sort.Strings(names)
	return map[string]any{"status": "unavailable", "failing": names, "errors": failed}
}

// PublicReadyBody is ReadyBody for an address clients reach: the failing
// dependencies by name only ("mysql", "redis", "nats"), never their errors,
// which name hosts, ports and drivers.
func PublicReadyBody(failed map[string]string) map[string]any {
	body := ReadyBody(failed)
	delete(body, "errors")
	return body
}

// Server serves /healthz, /readyz and /metrics on an internal address: a
// worker's HEALTH_ADDR, the gateway's GATEWAY_INTERNAL_ADDR. Its /readyz names
// the failing dependencies with their errors.
type Server struct {
	Addr     string
	Checks   Checks
	Registry *prometheus.Registry
	Log      *slog.Logger
}

// Run listens on Addr and serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		failed := s.Checks.Run(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		writeJSON(w, ReadyBody(failed))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	s.Log.Info("health server listening", "addr", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
