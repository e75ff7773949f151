package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Verdicts, as Podman reports them; "" is a unit without a check.
const (
	Starting  = "starting"
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// What HealthOnFailure= does when the verdict turns unhealthy.
const (
	OnFailureNone    = "none"    // only report it
	OnFailureKill    = "kill"    // SIGKILL the main process; Restart= decides what next
	OnFailureRestart = "restart" // kill and start again, whatever Restart= says
	OnFailureStop    = "stop"    // stop the unit, as a stop request would
)

// Podman's defaults (docs/source/markdown/options/health-*.md).
const (
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 30 * time.Second
	DefaultRetries  = 3
)

// Config is one unit's check. Exactly one of Cmd and Probe is set.
type Config struct {
	// Cmd runs inside the container (HealthCmd=); exit 0 passes.
	Cmd []string
	// Probe is a plain unit's check: http://host:port/path passes on a
	// 2xx or 3xx answer, tcp://host:port when a connection opens.
	Probe string
	// Interval between the end of a check and the next; 0 is Podman's
	// "disable": no check runs by itself, the verdict stays starting.
	Interval    time.Duration
	Timeout     time.Duration // a check running longer fails (and is killed)
	StartPeriod time.Duration // failures this soon after the start do not count
	Retries     int           // consecutive failures that make it unhealthy
	OnFailure   string        // none, kill, restart or stop
	// NotifyHealthy (Quadlet's Notify=healthy) keeps the unit activating
	// until the first passing check.
	NotifyHealthy bool
}

// Defaults returns a Config with Podman's defaults and no check.
func Defaults() Config {
	return Config{Interval: DefaultInterval, Timeout: DefaultTimeout, Retries: DefaultRetries, OnFailure: OnFailureNone}
}

// Enabled reports whether there is a check to run.
func (c *Config) Enabled() bool { return c != nil && (len(c.Cmd) > 0 || c.Probe != "") }

// ParseCmd reads HealthCmd= as Podman's --health-cmd: a JSON array is the
// argv as is, anything else runs with /bin/sh -c; "none" (or empty) is no
// check.
func ParseCmd(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "none" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(v), &argv); err != nil {
			return nil, fmt.Errorf("%q is not a JSON array of strings: %v", v, err)
		}
		if len(argv) == 0 || argv[0] == "" {
			return nil, fmt.Errorf("%q: the array needs at least the program to run", v)
		}
		return argv, nil
	}
	return []string{"/bin/sh", "-c", v}, nil
}

// ParseInterval reads HealthInterval=: a Go duration ("30s", "1m30s") of
// at least one second, or "disable" (0), as Podman accepts.
func ParseInterval(v string) (time.Duration, error) {
	if strings.TrimSpace(v) == "disable" {
		return 0, nil
	}
	return parseAtLeastSecond(v)
}

// ParseTimeout reads HealthTimeout=: a duration of at least one second.
func ParseTimeout(v string) (time.Duration, error) { return parseAtLeastSecond(v) }

func parseAtLeastSecond(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, fmt.Errorf("%q is less than one second (Podman's minimum)", v)
	}
	return d, nil
}

// ParseStartPeriod reads HealthStartPeriod=: a duration, 0 or more.
func ParseStartPeriod(v string) (time.Duration, error) { return parseDuration(v) }

func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: use a number with a unit, like 30s, 1m or 1m30s", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return d, nil
}

// ParseRetries reads HealthRetries=: a whole number, 1 or more.
func ParseRetries(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a whole number of 1 or more", v)
	}
	return n, nil
}

// ParseOnFailure reads HealthOnFailure=.
func ParseOnFailure(v string) (string, error) {
	switch v = strings.TrimSpace(v); v {
	case OnFailureNone, OnFailureKill, OnFailureRestart, OnFailureStop:
		return v, nil
	}
	return "", fmt.Errorf("%q is not one of none, kill, restart, stop", v)
}

// ParseProbe reads a plain unit's HealthCheck=: http://host:port/path or
// tcp://host:port. An empty host is 127.0.0.1; the port is required.
func ParseProbe(v string) (string, error) {
	v = strings.TrimSpace(v)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "tcp") || u.Opaque != "" {
		return "", fmt.Errorf("%q is not http://HOST:PORT/PATH or tcp://HOST:PORT", v)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", fmt.Errorf("%q: needs HOST:PORT with a port (%v)", v, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", v, port)
	}
	if u.User != nil {
		return "", fmt.Errorf("%q: user information in the address is not supported", v)
	}
	if u.Scheme == "tcp" && (u.Path != "" && u.Path != "/" || u.RawQuery != "") {
		return "", fmt.Errorf("%q: a tcp:// check has no path or query", v)
	}
	if host == "" {
		u.Host = net.JoinHostPort("127.0.0.1", port)
	}
	return u.String(), nil
}

// Validate checks a Config as a whole.
func (c *Config) Validate() error {
	if len(c.Cmd) > 0 && c.Probe != "" {
		return errors.New("a check is either a command or a probe, not both")
	}
	if c.Retries < 1 {
		return fmt.Errorf("retries %d: need 1 or more", c.Retries)
	}
	if c.Timeout < time.Second {
		return fmt.Errorf("timeout %v: need at least 1s", c.Timeout)
	}
	if _, err := ParseOnFailure(c.OnFailure); err != nil {
		return err
	}
	return nil
}
