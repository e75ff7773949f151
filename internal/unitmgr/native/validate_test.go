package native

import (
	"errors"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestValidate: Validate refuses what Load refuses, with a *unit.Error
// naming the unit, section and field, and accepts what Load accepts; it
// needs no Supervisor (nothing is defined or started).
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       string // "" = valid; else "[Section] Field"
	}{
		{"web.service", "[Service]\nExecStart=/bin/sleep 1\n", ""},
		{"web@.service", "[Service]\nExecStart=/bin/echo %i %m %H\n", ""},
		{"job.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\n", ""},
		{"c.service", "[Container]\nImage=busybox\nExec=sleep 1\n[Service]\nMemoryMax=64M\n", ""},
		{"web.service", "[Service]\nType=bogus\nExecStart=/bin/true\n", "[Service] Type"},
		{"web.service", "[Service]\nRestart=always\n", "[Service] ExecStart"},
		{"web.service", "[Service]\nExecStart=/bin/true\nPrivateTmp=yes\n", "[Service] PrivateTmp"},
		{"web.service", "[Service]\nExecStart=/bin/echo %Z\n", "[Service] ExecStart"},
		{"c.service", "[Container]\nImage=busybox\nReadOnly=perhaps\n", "[Container] ReadOnly"},
		{"c.service", "[Container]\nExec=sleep 1\n", "[Container] Image"},
		// The profile is on the node that runs the unit: not read at submit.
		{"c.service", "[Container]\nImage=busybox\nSeccompProfile=/only/on/the/node.json\n", ""},
		{"c.service", "[Container]\nImage=busybox\nSeccompProfile=profile.json\n", "[Container] SeccompProfile"},
		{"c.service", "[Container]\nImage=busybox\nPublishPort=1/tcp,udp,udp\n", "[Container] PublishPort"},
		// Health checks: Podman's keys, Flotilla's [X-Fleet] probe.
		{"c.service", "[Container]\nImage=busybox\nHealthCmd=wget -q -O- localhost\nHealthInterval=10s\nNotify=healthy\n", ""},
		{"c.service", "[Container]\nImage=busybox\nHealthCmd=true\nHealthInterval=10\n", "[Container] HealthInterval"},
		{"c.service", "[Container]\nImage=busybox\nHealthCmd=true\nHealthOnFailure=reboot\n", "[Container] HealthOnFailure"},
		{"c.service", "[Container]\nImage=busybox\nHealthCommand=true\n", "[Container] HealthCommand"},
		{"web.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nHealthCheck=http://:8080/healthz\nHealthCheckInterval=5s\n", ""},
		{"web.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nHealthCheck=http://:8080/healthz\nHealthCheckTimeout=0.5s\n", "[X-Fleet] HealthCheckTimeout"},
		{"web.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nHealthCheck=udp://:53\n", "[X-Fleet] HealthCheck"},
		{strings.Repeat("a", 248) + ".service", "[Service]\nExecStart=/bin/true\n", "invalid unit name"},
	} {
		f, err := unit.Parse(tc.name, []byte(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		err = Validate(tc.name, f)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %q: %v", tc.name, tc.file, err)
			}
			continue
		}
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Unit != tc.name || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want a *unit.Error naming %q", tc.name[:min(len(tc.name), 20)], tc.file, err, tc.want)
		}
	}
}
