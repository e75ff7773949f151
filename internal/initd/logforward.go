package initd

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/logforward"
)

// LogForwardDir holds the CAs of the config's log_forward entries, written
// from their PEM text.
const LogForwardDir = "/run/flotilla/logforward"

// LogDestinations are the config's log_forward entries as destinations;
// a CA given as PEM text is written to dir and named by the destination.
// On the OS init forwards: it runs the units (their output reaches it
// first) and its services, fleetd and the updater, whose logs it follows
// already; fleetd gets no --log-forward.
func LogDestinations(cfg *bootconfig.Config, dir string) ([]logforward.Destination, error) {
	var ds []logforward.Destination
	for i, e := range cfg.LogForward {
		d, err := logforward.Parse(e.URL)
		if err != nil {
			return nil, fmt.Errorf("log_forward[%d].url: %w", i, err)
		}
		if e.CA != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("log_forward[%d].ca: %w", i, err)
			}
			d.CAFile = filepath.Join(dir, "ca-"+strconv.Itoa(i)+".pem")
			if err := os.WriteFile(d.CAFile, []byte(e.CA), 0o644); err != nil {
				return nil, fmt.Errorf("log_forward[%d].ca: %w", i, err)
			}
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// startLogForward starts the config's forwarder (nil without log_forward,
// or when it cannot start: the node boots without it, saying why).
func (n *booted) startLogForward() *logforward.Forwarder {
	ds, err := LogDestinations(n.cfg, LogForwardDir)
	if err == nil && len(ds) > 0 {
		var fwd *logforward.Forwarder
		fwd, err = logforward.New(ds, logforward.Options{Machine: n.memberName(), Logf: func(f string, a ...any) { say("flotilla: "+f, a...) }})
		if err == nil {
			for _, d := range ds {
				say("flotilla: forwarding logs to %s", d.Name())
			}
			return fwd
		}
	}
	if err != nil {
		say("flotilla: log forwarding off: %v", err)
	}
	return nil
}

// forwardUnits hands the hosted manager's unit output to fwd.
func forwardUnits(fwd *logforward.Forwarder) func(string, bool, []byte) {
	if fwd == nil {
		return nil
	}
	return func(unit string, stderr bool, p []byte) {
		s := logforward.Stdout
		if stderr {
			s = logforward.Stderr
		}
		fwd.Lines(unit, s, p)
	}
}

// unitEvents logs the hosted manager's events ("Started web.service.")
// on the console and, when forwarding, as init's own lines.
func unitEvents(fwd *logforward.Forwarder) func(string, ...any) {
	return func(f string, a ...any) {
		msg := fmt.Sprintf("flotilla: units: "+f, a...)
		say("%s", msg)
		fwd.DaemonLines("init", []byte(msg))
	}
}

// forwardServices hands init's services' output to fwd as their own log
// lines ("fleetd", "updater"): fleetd logs to stderr, which is no error.
func forwardServices(fwd *logforward.Forwarder) func(string, bool, []byte) {
	if fwd == nil {
		return nil
	}
	return func(unit string, _ bool, p []byte) {
		fwd.DaemonLines(strings.TrimSuffix(unit, ".service"), p)
	}
}

// socketHandler is what the unit manager's socket answers besides the
// manager: the image store, and the forwarder's counters for fleetd's
// /metrics.
func socketHandler(images http.Handler, fwd *logforward.Forwarder) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+logforward.StatsPath, logforward.StatsHandler(fwd))
	mux.Handle("/", images)
	return mux
}
