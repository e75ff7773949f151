package container

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flotilla-os/flotilla/internal/health"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Quadlet's health keys map one to one onto podman run's --health-*
// flags (pkg/systemd/quadlet/quadlet.go), so they are read with Podman's
// rules (internal/health): HealthCmd= as --health-cmd (a JSON array is
// the argv, anything else runs with /bin/sh -c, "none" is no check),
// durations as Go durations of at least 1s ("disable" for the interval),
// the defaults 30s, 30s, 3, 0s and none. Notify=healthy is
// --sdnotify=healthy: the unit turns active at the first passing check.

// healthDefaults is what an empty assignment resets a key to.
var healthDefaults = map[string]string{
	"HealthInterval": "30s", "HealthTimeout": "30s", "HealthRetries": "3",
	"HealthStartPeriod": "0s", "HealthOnFailure": "none", "HealthCmd": "",
}

// healthKey reads one Health* key into cs.Health.
func healthKey(key string, fn func(h *health.Config, v string) error) func(*Spec, string, *ParseOptions) error {
	return func(cs *Spec, v string, o *ParseOptions) error {
		if cs.Health == nil {
			h := health.Defaults()
			cs.Health = &h
		}
		if v == "" {
			v = healthDefaults[key]
		}
		return fn(cs.Health, v)
	}
}

// setNotify reads Notify=: healthy holds the unit in activating until the
// first passing check; true (the container's own sd_notify) is not
// supported and warns; false is the default.
func setNotify(cs *Spec, v string, o *ParseOptions) error {
	if strings.EqualFold(v, "healthy") {
		cs.notifyHealthy = true
		return nil
	}
	cs.notifyHealthy = false
	if v == "" {
		return nil
	}
	b, ok := unit.ParseBool(v)
	if !ok {
		return fmt.Errorf("%q is not healthy or a boolean", v)
	}
	if b {
		o.warn("[Container] Notify=true: Flotilla does not pass a notify socket into containers; the unit is active once the container starts (Notify=healthy waits for its health check)")
	}
	return nil
}

// checkHealth finishes the health settings: Podman ignores the other
// Health* keys without a command, so they warn; Notify=healthy without a
// check could never become active, so it is an error.
func (cs *Spec) checkHealth(o *ParseOptions) (field string, err error) {
	h := cs.Health
	if h != nil && len(h.Cmd) == 0 {
		o.warn("[Container] Health* keys without HealthCmd= have no effect (as in Podman); ignored")
		cs.Health, h = nil, nil
	}
	if cs.notifyHealthy {
		if h == nil {
			return "Notify", errors.New("Notify=healthy needs a health check: add HealthCmd=")
		}
		if h.Interval == 0 {
			return "Notify", errors.New("Notify=healthy with HealthInterval=disable would never turn active: give an interval")
		}
		h.NotifyHealthy = true
	}
	return "", nil
}
