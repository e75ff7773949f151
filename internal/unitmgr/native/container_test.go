package native

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func parseUnit(t *testing.T, body string) (*spec, error) {
	t.Helper()
	f, err := unit.Parse("c.service", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return parseSpec("c.service", f, newExpander("c.service", "m1", "node1"))
}

func TestContainerSpec(t *testing.T) {
	sp, err := parseUnit(t, `[Container]
Image=docker.io/library/redis:7
Exec=redis-server --port "63 79" --dir %n $$HOME
Environment=A=1 "B=two words"
Volume=/srv/data:/data:ro
Volume=/srv/logs:/logs
PublishPort=8080:80
Network=bridge
User=app
ReadOnly=yes
WorkingDir=/data
HostName=cache
AddCapability=NET_ADMIN
DropCapability=MKNOD
AddDevice=/dev/fuse
AddDevice=-/dev/net/tun:/dev/tun0:rw
AddDevice=/dev/kvm:r
ContainerName=ignored
[Service]
MemoryMax=64M
TasksMax=32
Restart=on-failure
[X-Fleet]
Conflicts=c*.service
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &container.Spec{
		Image: "docker.io/library/redis:7",
		Exec:  []string{"redis-server", "--port", "63 79", "--dir", "c.service", "$HOME"},
		Env:   []string{"A=1", "B=two words"},
		Volumes: []container.Volume{{Source: "/srv/data", Target: "/data", ReadOnly: true},
			{Source: "/srv/logs", Target: "/logs"}},
		PublishPorts: []string{"8080:80"}, Network: "bridge", User: "app", ReadOnly: true, ReadOnlyTmpfs: true,
		WorkingDir: "/data", HostName: "cache", AddCaps: []string{"NET_ADMIN"}, DropCaps: []string{"MKNOD"},
		Devices: []container.DeviceSpec{{Host: "/dev/fuse", Container: "/dev/fuse", Access: "rwm"},
			{Host: "/dev/net/tun", Container: "/dev/tun0", Access: "rw", Optional: true},
			{Host: "/dev/kvm", Container: "/dev/kvm", Access: "r"}},
	}
	want.Resources.MemoryMax, want.Resources.TasksMax = 64<<20, 32
	if !reflect.DeepEqual(sp.container, want) {
		t.Errorf("spec\n got %+v\nwant %+v", sp.container, want)
	}
	if len(sp.warnings) != 1 || !strings.Contains(sp.warnings[0], "ContainerName") {
		t.Errorf("warnings %q, want one naming ContainerName", sp.warnings)
	}
	if sp.timeoutStop != containerStopTimeout || sp.restart != "on-failure" {
		t.Errorf("timeoutStop %s restart %s", sp.timeoutStop, sp.restart)
	}
	sp, err = parseUnit(t, "[Container]\nImage=x:1\n[Service]\nTimeoutStopSec=3\n")
	if err != nil || sp.timeoutStop != 3*time.Second {
		t.Errorf("explicit TimeoutStopSec: %v %v", sp.timeoutStop, err)
	}
}

func TestContainerSpecErrors(t *testing.T) {
	cases := []struct{ body, section, field string }{
		{"[Container]\nImage=x:1\nFrobnicate=yes\n", "Container", "Frobnicate"},
		{"[Container]\nExec=/bin/true\n", "Container", "Image"},
		{"[Container]\nImage=\n", "Container", "Image"},
		{"[Container]\nImage=x:1\n[Service]\nExecStart=/bin/true\n", "Service", "ExecStart"},
		{"[Container]\nImage=x:1\nVolume=./data:/data\n", "Container", "Volume"},
		{"[Container]\nImage=x:1\nVolume=/a:/b:rx\n", "Container", "Volume"},
		{"[Container]\nImage=x:1\nNetwork=overlay\n", "Container", "Network"},
		{"[Container]\nImage=x:1\nAddDevice=fuse\n", "Container", "AddDevice"},
		{"[Container]\nImage=x:1\nAddDevice=/dev/fuse:/fuse\n", "Container", "AddDevice"},
		{"[Container]\nImage=x:1\nAddDevice=/dev/fuse:/dev/fuse:rwx\n", "Container", "AddDevice"},
		{"[Container]\nImage=x:1\nAddDevice=/dev/fuse:rw:x:y\n", "Container", "AddDevice"},
		{"[Container]\nImage=x:1\nReadOnly=perhaps\n", "Container", "ReadOnly"},
		{"[Container]\nImage=x:1\nEnvironment==x\n", "Container", "Environment"},
		{"[Container]\nImage=x:1\nExec=/bin/sh -c 'unterminated\n", "Container", "Exec"},
		{"[Service]\nExecStart=/bin/true\nMemoryMax=64M\n", "Service", "MemoryMax"},
		{"[Container]\nImage=x:1\n[Service]\nMemoryMax=lots\n", "Service", "MemoryMax"},
	}
	for _, tc := range cases {
		_, err := parseUnit(t, tc.body)
		var ue *unit.Error
		if !errors.As(err, &ue) {
			t.Errorf("%q: err %v, want a *unit.Error", tc.body, err)
			continue
		}
		if ue.Section != tc.section || !strings.Contains(ue.Field+ue.Msg, tc.field) {
			t.Errorf("%q: error %v, want it to name [%s] %s", tc.body, err, tc.section, tc.field)
		}
	}
}

func TestContainerSeccompProfile(t *testing.T) {
	sp, err := parseUnit(t, "[Container]\nImage=x:1\n")
	if err != nil || sp.container.Seccomp != nil {
		t.Errorf("no SeccompProfile=: %v, %v; want Docker's default (nil)", sp.container.Seccomp, err)
	}
	sp, err = parseUnit(t, "[Container]\nImage=x:1\nSeccompProfile=unconfined\n")
	if err != nil || sp.container.Seccomp != seccomp.Unconfined {
		t.Errorf("SeccompProfile=unconfined: %v, %v", sp.container.Seccomp, err)
	}
	if len(sp.warnings) != 0 {
		t.Errorf("SeccompProfile= warns %q: it is implemented", sp.warnings)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "deny-mkdir.json")
	if err := os.WriteFile(good, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err = parseUnit(t, "[Container]\nImage=x:1\nSeccompProfile="+good+"\n")
	if err != nil || sp.container.Seccomp == nil || sp.container.Seccomp.String() != good {
		t.Errorf("SeccompProfile=%s: %v, %v", good, sp.container.Seccomp, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_EROR"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ value, want string }{
		{bad, `unknown action "SCMP_ACT_EROR"`},
		{filepath.Join(dir, "missing.json"), "no such file"},
		{"relative.json", "absolute path"},
	} {
		_, err := parseUnit(t, "[Container]\nImage=x:1\nSeccompProfile="+tc.value+"\n")
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Unit != "c.service" || ue.Field != "SeccompProfile" ||
			!strings.Contains(err.Error(), tc.value) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SeccompProfile=%s: %v; want a unit error naming c.service, SeccompProfile, the file and %q", tc.value, err, tc.want)
		}
	}
}

// TestContainerStopSignal: StopSignal= (podman's --stop-signal) is what
// stopping a container unit sends first, unless [Service] KillSignal= says.
func TestContainerStopSignal(t *testing.T) {
	for _, tc := range []struct {
		body string
		want syscall.Signal
	}{
		{"[Container]\nImage=x:1\n", syscall.SIGTERM},
		{"[Container]\nImage=x:1\nStopSignal=SIGQUIT\n", syscall.SIGQUIT},
		{"[Container]\nImage=x:1\nStopSignal=winch\n", syscall.SIGWINCH},
		{"[Container]\nImage=x:1\nStopSignal=2\n", syscall.SIGINT},
		{"[Container]\nImage=x:1\nStopSignal=SIGQUIT\n[Service]\nKillSignal=SIGHUP\n", syscall.SIGHUP},
	} {
		sp, err := parseUnit(t, tc.body)
		if err != nil || sp.killSignal != tc.want {
			t.Errorf("%q: signal %v, %v; want %v", tc.body, sp, err, tc.want)
		}
	}
	if _, err := parseUnit(t, "[Container]\nImage=x:1\nStopSignal=SIGBOGUS\n"); err == nil || !strings.Contains(err.Error(), "StopSignal") {
		t.Errorf("StopSignal=SIGBOGUS: %v, want an error naming StopSignal", err)
	}
}
