package fleetd

import (
	"fmt"
	"log"

	"github.com/flotilla-os/flotilla/internal/logforward"
)

// startLogForward starts --log-forward's senders (nil without any). A
// receiver that is down is not an error: its lines wait in a bounded
// buffer, then are dropped and counted. A CA file that cannot be read is.
func startLogForward(cfg Config, logger *log.Logger) (*logforward.Forwarder, error) {
	if len(cfg.LogForward) == 0 {
		return nil, nil
	}
	// Its own reports go to stderr only: forwarded, a report that the
	// receiver is down would only fill the buffer it is about.
	stderrOnly := log.New(logger.Writer(), logger.Prefix(), logger.Flags())
	fwd, err := logforward.New(cfg.LogForward, logforward.Options{Machine: cfg.Name, Logf: stderrOnly.Printf})
	if err != nil {
		return nil, fmt.Errorf("fleetd: --log-forward: %w", err)
	}
	for _, d := range cfg.LogForward {
		logger.Printf("fleetd: forwarding logs to %s (buffer %d bytes)", d.Name(), d.Buffer)
	}
	return fwd, nil
}

// forwardUnits hands the native manager's unit output to fwd.
func forwardUnits(fwd *logforward.Forwarder) func(string, bool, []byte) {
	return func(unit string, stderr bool, p []byte) {
		s := logforward.Stdout
		if stderr {
			s = logforward.Stderr
		}
		fwd.Lines(unit, s, p)
	}
}
