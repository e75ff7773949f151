package container

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/health"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestParseQuadletHealth: the Health* keys read as podman run's
// --health-* flags, with Podman's defaults.
func TestParseQuadletHealth(t *testing.T) {
	cs, warnings, err := parseQuadlet(t, "[Container]\nImage=i\nHealthCmd=wget -q -O- http://localhost/ || exit 1\nHealthInterval=5s\nHealthOnFailure=kill\nNotify=healthy\n", ParseOptions{})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("%v, warnings %q", err, warnings)
	}
	want := &health.Config{Cmd: []string{"/bin/sh", "-c", "wget -q -O- http://localhost/ || exit 1"}, Interval: 5 * time.Second,
		Timeout: 30 * time.Second, Retries: 3, OnFailure: "kill", NotifyHealthy: true}
	if !reflect.DeepEqual(cs.Health, want) {
		t.Fatalf("Health = %+v, want %+v", cs.Health, want)
	}
	cs, _, err = parseQuadlet(t, "[Container]\nImage=i\nHealthCmd=[\"/bin/check\", \"%i\"]\nHealthRetries=5\nHealthRetries=\nHealthStartPeriod=1m\n", ParseOptions{})
	if err != nil || !reflect.DeepEqual(cs.Health.Cmd, []string{"/bin/check", "1"}) || cs.Health.Retries != 3 || cs.Health.StartPeriod != time.Minute {
		t.Fatalf("exec form: %+v, %v", cs.Health, err)
	}
	cs, warnings, err = parseQuadlet(t, "[Container]\nImage=i\nHealthInterval=5s\n", ParseOptions{})
	if err != nil || cs.Health != nil || len(warnings) != 1 {
		t.Fatalf("no HealthCmd: %+v, %q, %v; want ignored with a warning, as Podman ignores it", cs.Health, warnings, err)
	}
	cs, _, err = parseQuadlet(t, "[Container]\nImage=i\nHealthCmd=none\n", ParseOptions{})
	if err != nil || cs.Health != nil {
		t.Fatalf("HealthCmd=none: %+v, %v", cs.Health, err)
	}
	for body, field := range map[string]string{
		"HealthCmd=/bin/true\nHealthInterval=5":                       "HealthInterval",
		"HealthCmd=/bin/true\nHealthInterval=10ms":                    "HealthInterval",
		"HealthCmd=/bin/true\nHealthTimeout=forever":                  "HealthTimeout",
		"HealthCmd=/bin/true\nHealthRetries=0":                        "HealthRetries",
		"HealthCmd=/bin/true\nHealthStartPeriod=-5s":                  "HealthStartPeriod",
		"HealthCmd=/bin/true\nHealthOnFailure=reboot":                 "HealthOnFailure",
		"HealthCmd=[\"unterminated\"":                                 "HealthCmd",
		"Notify=healthy":                                              "Notify",
		"Notify=maybe":                                                "Notify",
		"HealthCmd=/bin/true\nHealthInterval=disable\nNotify=healthy": "Notify",
		"HealthCommand=/bin/true":                                     "HealthCommand",
	} {
		_, _, err := parseQuadlet(t, "[Container]\nImage=i\n"+body+"\n", ParseOptions{})
		e, ok := err.(*unit.Error)
		if !ok || e.Field != field || e.Section != "Container" {
			t.Errorf("%q: %v, want an error naming [Container] %s", body, err, field)
		}
	}
	_, warnings, err = parseQuadlet(t, "[Container]\nImage=i\nNotify=true\n", ParseOptions{})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "Notify") {
		t.Errorf("Notify=true: %q, %v; want a warning", warnings, err)
	}
}
