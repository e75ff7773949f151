package unit

import (
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/health"
)

func TestParseFleetHealth(t *testing.T) {
	n, _ := ParseName("web.service")
	file := func(s string) *File {
		f, err := Parse("web.service", []byte("[Service]\nExecStart=/bin/true\n"+s))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	c, err := ParseFleetHealth(n, file("[X-Fleet]\nHealthCheck=http://:8080/healthz\nHealthCheckInterval=5s\nHealthCheckRetries=2\nHealthCheckOnFailure=restart\nHealthCheckStartPeriod=1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := health.Config{Probe: "http://127.0.0.1:8080/healthz", Interval: 5 * time.Second, Timeout: health.DefaultTimeout,
		Retries: 2, StartPeriod: time.Minute, OnFailure: health.OnFailureRestart}
	if c == nil || c.Probe != want.Probe || c.Interval != want.Interval || c.Timeout != want.Timeout || c.Retries != want.Retries ||
		c.StartPeriod != want.StartPeriod || c.OnFailure != want.OnFailure {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if c, err := ParseFleetHealth(n, file("[X-Fleet]\nMachineID=abc\n")); c != nil || err != nil {
		t.Fatalf("no check: %+v, %v", c, err)
	}
	bad := map[string]string{
		"HealthCheck=ftp://x:1/":                            "HealthCheck",
		"HealthCheck=tcp://:1\nHealthCheckInterval=5":       "HealthCheckInterval",
		"HealthCheck=tcp://:1\nHealthCheckInterval=100ms":   "HealthCheckInterval",
		"HealthCheck=tcp://:1\nHealthCheckTimeout=0s":       "HealthCheckTimeout",
		"HealthCheck=tcp://:1\nHealthCheckRetries=0":        "HealthCheckRetries",
		"HealthCheck=tcp://:1\nHealthCheckOnFailure=reboot": "HealthCheckOnFailure",
		"HealthCheckInterval=5s":                            "HealthCheckInterval",
		"HealthCheckInterva=5s":                             "HealthCheckInterva",
	}
	for in, field := range bad {
		_, _, err := Validate("web.service", file("[X-Fleet]\n"+in+"\n"))
		if err == nil {
			t.Errorf("%q accepted", in)
			continue
		}
		if e, ok := err.(*Error); !ok || e.Field != field || e.Section != FleetSection {
			t.Errorf("%q: error %v, want one naming [X-Fleet] %s", in, err, field)
		}
	}
	_, err = ParseFleetHealth(n, file("[Container]\nImage=x\n[X-Fleet]\nHealthCheck=tcp://:1\n"))
	if err == nil || !strings.Contains(err.Error(), "HealthCmd") {
		t.Errorf("HealthCheck on a container unit: %v", err)
	}
}
