package obs

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"
)

// ServePprof serves net/http/pprof on addr in the background when addr is not
// empty (PPROF_ADDR). It is an opt-in for profiling a real run, such as the
// benchmark's; it is never on by default, and it has its own mux so that
// nothing else registered on http.DefaultServeMux is exposed with it.
func ServePprof(addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		log.Info("pprof", "addr", addr)
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		log.Warn("pprof stopped", "err", srv.ListenAndServe())
	}()
}
