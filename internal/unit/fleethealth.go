package unit

import (
	"fmt"
	"strings"

	"github.com/flotilla-os/flotilla/internal/health"
)

// ParseFleetHealth reads a plain unit's health check from its [X-Fleet]
// section, Flotilla's keys (fleet has none), named after Podman's:
//
//	HealthCheck=http://127.0.0.1:8080/healthz   GET; 2xx or 3xx passes
//	HealthCheck=tcp://:5432                     a TCP connection that opens passes
//	HealthCheckInterval=30s                     or "disable"; at least 1s (Podman's HealthInterval)
//	HealthCheckTimeout=30s                      at least 1s (HealthTimeout)
//	HealthCheckRetries=3                        failures in a row that make it unhealthy (HealthRetries)
//	HealthCheckStartPeriod=0s                   failures this soon after the start do not count (HealthStartPeriod)
//	HealthCheckOnFailure=none                   none, kill, restart or stop (HealthOnFailure)
//
// Durations are Go's ("1m30s"), as Podman reads its Health* values. A
// probe's empty host is 127.0.0.1: the check runs from the node, where
// the unit runs. It returns nil when the unit has no HealthCheck= (the
// other keys alone are an error). A container unit's check is [Container]
// HealthCmd=, which runs inside the container: HealthCheck= there is an
// error. The last assignment of a key wins; an empty one resets it.
func ParseFleetHealth(n Name, f *File) (*health.Config, error) {
	if f == nil {
		return nil, nil
	}
	unitName := n.String()
	bad := func(field, format string, args ...any) (*health.Config, error) {
		return nil, &Error{Unit: unitName, Section: FleetSection, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	c := health.Defaults()
	var others []string
	for _, o := range f.Options {
		if o.Section != FleetSection || fleetKeys[o.Name] != "Health" {
			continue
		}
		v := n.Expand(strings.TrimSpace(o.Value))
		var err error
		if o.Name != "HealthCheck" && v != "" {
			others = append(others, o.Name)
		}
		switch o.Name {
		case "HealthCheck":
			c.Probe = ""
			if v != "" {
				c.Probe, err = health.ParseProbe(v)
			}
		case "HealthCheckInterval":
			c.Interval = health.DefaultInterval
			if v != "" {
				c.Interval, err = health.ParseInterval(v)
			}
		case "HealthCheckTimeout":
			c.Timeout = health.DefaultTimeout
			if v != "" {
				c.Timeout, err = health.ParseTimeout(v)
			}
		case "HealthCheckRetries":
			c.Retries = health.DefaultRetries
			if v != "" {
				c.Retries, err = health.ParseRetries(v)
			}
		case "HealthCheckStartPeriod":
			c.StartPeriod = 0
			if v != "" {
				c.StartPeriod, err = health.ParseStartPeriod(v)
			}
		case "HealthCheckOnFailure":
			c.OnFailure = health.OnFailureNone
			if v != "" {
				c.OnFailure, err = health.ParseOnFailure(v)
			}
		}
		if err != nil {
			return bad(o.Name, "%v", err)
		}
	}
	if c.Probe == "" {
		if len(others) > 0 {
			return bad(others[0], "has no effect without HealthCheck= (http://HOST:PORT/PATH or tcp://HOST:PORT)")
		}
		return nil, nil
	}
	if len(f.Section("Container")) > 0 {
		return bad("HealthCheck", "a container unit's check is [Container] HealthCmd=, which runs inside the container")
	}
	return &c, nil
}
