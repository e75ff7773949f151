package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Check runs one check; nil passes. It must return by the context's
// deadline (the Monitor's Timeout).
type Check func(ctx context.Context) error

// Monitor runs a check at its interval and reports each change of
// verdict. Between checks it waits on one timer and nothing else.
type Monitor struct {
	cfg    Config
	check  Check
	report func(verdict string, err error)
	cancel context.CancelFunc
	done   chan struct{}
}

// Start begins checking a unit started at start: the first check at once
// (as Podman runs it when the container starts), each next one Interval
// after the previous ended. report is called from the Monitor's goroutine
// with Starting first, then on every change of verdict (with the failing
// check's error when it turns unhealthy); it is also called, while the
// verdict stays unhealthy, after each further failure, so that
// HealthOnFailure can act again.
func Start(cfg Config, start time.Time, check Check, report func(verdict string, err error)) *Monitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Monitor{cfg: cfg, check: check, report: report, cancel: cancel, done: make(chan struct{})}
	go m.loop(ctx, start)
	return m
}

// Stop ends the monitor, killing a check in flight, and waits for it.
func (m *Monitor) Stop() {
	m.cancel()
	<-m.done
}

func (m *Monitor) loop(ctx context.Context, start time.Time) {
	defer close(m.done)
	tr := NewTracker(m.cfg, start)
	m.report(Starting, nil)
	if m.cfg.Interval == 0 {
		return // "disable": no timer, the verdict stays starting
	}
	timeout := m.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var t *time.Timer
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := m.check(cctx)
		if err == nil && cctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("check timed out after %v", timeout)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		verdict, changed := tr.Record(err == nil, time.Now())
		if changed || (verdict == Unhealthy && err != nil) {
			m.report(verdict, err)
		}
		if t == nil {
			t = time.NewTimer(m.cfg.Interval)
			defer t.Stop()
		} else {
			t.Reset(m.cfg.Interval)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// ProbeCheck returns the Check of a plain unit's HealthCheck= (as
// ParseProbe returned it): an HTTP GET answered with 2xx or 3xx (not
// followed), or a TCP connection that opens.
func ProbeCheck(probe string) (Check, error) {
	u, err := url.Parse(probe)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "tcp":
		addr := u.Host
		return func(ctx context.Context) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			return c.Close()
		}, nil
	case "http":
		client := &http.Client{
			Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
			if err != nil {
				return err
			}
			req.Header.Set("User-Agent", "flotilla-health")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode >= 400 {
				return fmt.Errorf("GET %s: %s", probe, resp.Status)
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("health check %q: unknown scheme %q", probe, u.Scheme)
}
