package systemd

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestLoadRefusesHealthChecks: the systemd backend runs no health checks,
// so a unit asking for one is refused at Load, naming the key, and no
// file is written.
func TestLoadRefusesHealthChecks(t *testing.T) {
	m, _ := newTest(t)
	for text, field := range map[string]string{
		sleeper + "[X-Fleet]\nHealthCheck=tcp://:80\n":                "HealthCheck",
		"[Container]\nImage=x:1\nNetwork=host\nHealthCmd=/bin/true\n": "HealthCmd",
		"[Container]\nImage=x:1\nNetwork=host\nNotify=healthy\n":      "Notify",
	} {
		err := m.Load("hc.service", file(t, text))
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Field != field {
			t.Errorf("%q: %v, want an error naming %s", text, err, field)
		}
		if _, err := os.Stat(filepath.Join(m.cfg.UnitDir, "hc.service")); err == nil {
			t.Errorf("%q: a unit file was written", text)
		}
	}
	if err := m.Load("plain.service", file(t, sleeper+"[X-Fleet]\nMachineID=abc\n")); err != nil {
		t.Errorf("a unit without a check: %v", err)
	}
}
