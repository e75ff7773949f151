package systemd

import (
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// checkHealth refuses health checks ([Container] HealthCmd= and
// Notify=healthy, [X-Fleet] HealthCheck=): the native unit manager runs
// them (internal/unitmgr/native/health.go); systemd has no equivalent and
// this backend does not run checks from fleetd. Refusing at Load, naming
// the key, beats a unit that silently never turns unhealthy (or, with
// Notify=healthy, turns active before it is ready).
func checkHealth(name string, f *unit.File) error {
	for _, o := range f.Section("Container") {
		if o.Name == "HealthCmd" || o.Name == "Notify" && strings.EqualFold(strings.Trim(o.Value, `"`), "healthy") {
			return &unit.Error{Unit: name, Section: "Container", Field: o.Name,
				Msg: "health checks need the native unit manager (fleetd --unit-manager native); the systemd backend does not run them"}
		}
	}
	for _, o := range f.Section(unit.FleetSection) {
		if o.Name == "HealthCheck" && o.Value != "" {
			return &unit.Error{Unit: name, Section: unit.FleetSection, Field: o.Name,
				Msg: "health checks need the native unit manager (fleetd --unit-manager native); the systemd backend does not run them"}
		}
	}
	return nil
}
