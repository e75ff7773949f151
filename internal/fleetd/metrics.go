package fleetd

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/flotilla-os/flotilla/internal/metrics"
)

// withMetrics serves the node's metrics at /metrics beside the API: on
// the TCP listener behind its mutual TLS, and on the root-only socket.
func withMetrics(apiHandler http.Handler, m *metrics.Node) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", apiHandler)
	return mux
}

// serveMetrics serves /metrics in plaintext on --metrics-listen until the
// returned server is shut down (nil: none). The default address failing
// to bind (another fleetd on this host has it) is only logged; an address
// the user gave is an error. Only /metrics answers there, with no other
// state reachable, and Host: is checked as on the API (hostCheck).
func serveMetrics(cfg Config, m *metrics.Node, hostCheck func(http.Handler) http.Handler, logf func(string, ...any)) (*http.Server, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		if cfg.MetricsListenDefault && errors.Is(err, syscall.EADDRINUSE) {
			logf("fleetd: %v; no plaintext /metrics (give --metrics-listen another address, or '' for none); the API serves /metrics", err)
			return nil, nil
		}
		return nil, fmt.Errorf("fleetd: --metrics-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: hostCheck(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	go func() { _ = srv.Serve(l) }()
	logf("fleetd: metrics on http://%s/metrics", l.Addr())
	return srv, nil
}
