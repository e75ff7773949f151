package systemd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// fakeContainers records calls; its root is a plain directory holding an
// executable /bin/sh, built from the Spec without any image.
type fakeContainers struct {
	dir string

	mu                          sync.Mutex
	prepares, releases, destroy int
}

func (c *fakeContainers) PrepareRoot(ctx context.Context, name string, s *container.Spec) (*container.Root, error) {
	c.mu.Lock()
	c.prepares++
	c.mu.Unlock()
	root := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "sh"), nil, 0o755); err != nil {
		return nil, err
	}
	args := append(append([]string(nil), s.Entrypoint...), s.Exec...)
	if len(args) == 0 {
		args = []string{"/bin/sh"}
	}
	return &container.Root{Dir: root, Args: args, Env: append([]string{"PATH=/bin"}, s.Env...), Cwd: "/", Network: s.Network, Seccomp: s.Seccomp}, nil
}

func (c *fakeContainers) ReleaseRoot(string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releases++
	return nil
}

func (c *fakeContainers) Destroy(string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.destroy++
	return nil
}

func TestContainerUnitsRefused(t *testing.T) {
	m, _ := newTest(t)
	err := m.Load("c.service", file(t, "[Container]\nImage=busybox\nNetwork=host\n"))
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Unit != "c.service" || ue.Section != "Container" || !strings.Contains(ue.Msg, "container runtime") {
		t.Fatalf("Load of a [Container] unit without Containers: %v, want a *unit.Error about the container runtime", err)
	}
	if _, err := os.Stat(filepath.Join(m.cfg.UnitDir, "c.service")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused unit was written")
	}
}

// TestContainerRefusals: what the systemd backend cannot run is refused
// with a *unit.Error naming the key, before anything is pulled or mounted.
func TestContainerRefusals(t *testing.T) {
	fc := &fakeContainers{dir: t.TempDir()}
	m, _ := newTest(t, func(c *Config) { c.Containers = fc })
	for _, tc := range []struct {
		body, section, field, msg string
	}{
		{"[Container]\nImage=busybox\n", "Container", "Network", "native unit manager"},
		{"[Container]\nImage=busybox\nNetwork=bridge\n", "Container", "Network", "use Network=host or Network=none"},
		{"[Container]\nImage=busybox\nNetwork=host\nPublishPort=80:80\n", "Container", "PublishPort", "bridge"},
		{"[Container]\nImage=busybox\nNetwork=none\nUserNS=auto\n", "Container", "UserNS", "native"},
		{"[Container]\nImage=busybox\nNetwork=none\nHostName=x\n", "Container", "HostName", "native"},
		{"[Container]\nImage=busybox\nNetwork=none\nVolume=./data:/data\n", "Container", "Volume", "relative source"},
		{"[Container]\nImage=busybox\nNetwork=none\nFrobnicate=1\n", "Container", "Frobnicate", "unknown key"},
		{"[Container]\nNetwork=none\n", "Container", "Image", "needs Image="},
		{"[Container]\nImage=busybox\nNetwork=none\n[Service]\nMemoryMax=lots\n", "Service", "", "MemoryMax"},
		{"[Container]\nImage=busybox\nNetwork=none\n[Service]\nExecStart=/bin/sh\n", "Service", "ExecStart", "[Container]"},
		{"[Container]\nImage=busybox\nNetwork=none\n[Service]\nUser=web\n", "Service", "User", "[Container]"},
		{"[Container]\nImage=busybox\nNetwork=none\nVolume=/scratch\n", "Container", "Volume", "anonymous volume"},
		{"[Container]\nImage=busybox\nNetwork=none\n[Service]\nSystemCallFilter=@system-service\n", "Service", "SystemCallFilter", "[Container]"},
		{"[Container]\nImage=busybox\nNetwork=none\nSeccompProfile=/nonexistent.json\n", "Container", "SeccompProfile", "/nonexistent.json"},
	} {
		err := m.Load("c.service", file(t, tc.body))
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Unit != "c.service" || ue.Section != tc.section || ue.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: %v, want a *unit.Error on [%s] %s= mentioning %q", tc.body, err, tc.section, tc.field, tc.msg)
		}
	}
	if fc.prepares != 0 {
		t.Errorf("refused units prepared %d roots", fc.prepares)
	}
	if ents, _ := os.ReadDir(m.cfg.UnitDir); len(ents) != 0 {
		t.Errorf("refused units left %d files", len(ents))
	}
}

// TestContainerSeccomp: Docker's default profile becomes systemd's filter
// settings; unconfined has none; a profile systemd cannot express is a
// Load error on SeccompProfile= naming the file.
func TestContainerSeccomp(t *testing.T) {
	fc := &fakeContainers{dir: t.TempDir()}
	m, _ := newTest(t, func(c *Config) { c.Containers = fc })
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(m.cfg.UnitDir, name))
		return string(b)
	}
	if err := m.Load("d.service", file(t, "[Container]\nImage=busybox\nNetwork=none\n")); err != nil {
		t.Fatal(err)
	}
	if got := read("d.service"); !strings.Contains(got, seccompLines(t, "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
		"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")) || !strings.Contains(got, "\nRestrictNamespaces=yes\n") {
		t.Errorf("default profile: unit lacks its seccomp settings:\n%s", got)
	}
	if err := m.Load("u.service", file(t, "[Container]\nImage=busybox\nNetwork=none\nSeccompProfile=unconfined\n")); err != nil {
		t.Fatal(err)
	}
	if got := read("u.service"); strings.Contains(got, "SystemCallFilter") || strings.Contains(got, "RestrictNamespaces") {
		t.Errorf("unconfined: unit has seccomp settings:\n%s", got)
	}
	prof := filepath.Join(t.TempDir(), "kill.json")
	os.WriteFile(prof, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
		{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_NE"}]}]}`), 0o644)
	err := m.Load("k.service", file(t, "[Container]\nImage=busybox\nNetwork=none\nSeccompProfile="+prof+"\n"))
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Unit != "k.service" || ue.Field != "SeccompProfile" || !strings.Contains(err.Error(), prof) {
		t.Errorf("a profile with argument conditions: %v, want a unit error on SeccompProfile naming %s", err, prof)
	}
}

// TestContainerExecNotFound: an Exec= not in the image is a Load error on Exec.
func TestContainerExecNotFound(t *testing.T) {
	fc := &fakeContainers{dir: t.TempDir()}
	m, _ := newTest(t, func(c *Config) { c.Containers = fc })
	err := m.Load("c.service", file(t, "[Container]\nImage=busybox\nNetwork=none\nEntrypoint=nginx\n"))
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Field != "Exec" || !strings.Contains(err.Error(), "nginx") {
		t.Fatalf("Load with a missing executable: %v", err)
	}
	if fc.releases != 1 {
		t.Errorf("the root prepared for a refused unit was released %d times, want 1", fc.releases)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:           `"plain"`,
		`a b`:             `"a b"`,
		`$HOME`:           `"$$HOME"`,
		`100%`:            `"100%%"`,
		`back\slash`:      `"back\\slash"`,
		`say "hi"`:        `"say \"hi\""`,
		"tab\there\nnl":   `"tab\x09here\x0anl"`,
		`;`:               `\;`,
		`it's`:            `"it's"`,
		`${X}%n\"`:        `"$${X}%%n\\\""`,
		``:                `""`,
		`;;`:              `";;"`,
		"\x7f":            `"\x7f"`,
		`single 'quoted'`: `"single 'quoted'"`,
	} {
		if got := quote(in, true); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := quote(`$A=%b`, false); got != `"$A=%%b"` {
		t.Errorf("Environment quoting of $A=%%b: %s", got)
	}
	if got := pathWord("/a b/c"); got != `"/a b/c"` {
		t.Errorf("pathWord: %s", got)
	}
	if got := pathWord("/a%b"); got != "/a%%b" {
		t.Errorf("pathWord: %s", got)
	}
	if got := capNames([]string{"net_admin", "CAP_CHOWN", "NET_ADMIN"}); strings.Join(got, " ") != "CAP_NET_ADMIN CAP_CHOWN" {
		t.Errorf("capNames: %v", got)
	}
	if got := capNames([]string{}); len(got) != 0 {
		t.Errorf("capNames of an empty set: %v", got)
	}
}

// mounted reports whether dir is a mount point in this mount namespace.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// realContainers is a container.Runtime over a fresh image store holding
// imagetest.BusyboxImage, loaded from a docker archive; it returns the
// runtime, its directory and the image ref.
func realContainers(t *testing.T) (*container.Runtime, string, string) {
	t.Helper()
	testenv.NeedRoot(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "busybox.tar")
	imagetest.WriteDockerArchive(t, imagetest.BusyboxImage(t), "test/busybox:1", archive)
	store, err := image.Open(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := container.New(container.Config{Dir: filepath.Join(dir, "containers"), Images: store, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return rt, filepath.Join(dir, "containers"), "docker-archive:" + archive
}

// TestContainerUnitReal: a container unit through a real image store and a
// real overlay root, with systemd faked: the generated unit, its root
// mounted with the image in it, Start/Stop, and Unload removing it all.
// seccompLines are the settings Docker's default profile maps to for caps.
func seccompLines(t *testing.T, caps ...string) string {
	t.Helper()
	ss, err := seccomp.Default().Systemd(caps)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

func TestContainerUnitReal(t *testing.T) {
	rt, cdir, ref := realContainers(t)
	m, f := newTest(t, func(c *Config) { c.Containers = rt; c.MachineID = "m1"; c.Hostname = "node1" })
	scratch := t.TempDir()
	src := "[Unit]\nDescription=web on %H\n" +
		"[Service]\nRestart=always\nRestartSec=2\nMemoryMax=64M\n" +
		"[Container]\nImage=" + ref + "\n" +
		"Exec=/bin/sh -c \"echo $$HOME 100%% done; sleep 1000\"\n" +
		"Environment=GREETING=hi%%there MACHINE=%m\n" +
		"Volume=/srv/data:/data:ro\nVolume=" + scratch + ":/scratch\n" +
		"Network=none\nUser=nobody\nDropCapability=all\nAddCapability=sys_admin net_bind_service\nReadOnly=true\n" +
		"AddDevice=/dev/kmsg:/dev/log0:r\nAddDevice=-/dev/no-such-device\n" +
		"[X-Fleet]\nMachineMetadata=role=web\n"
	if err := m.Load("web.service", file(t, src)); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(cdir, "units", "web.service", "rootfs")
	want := "[Unit]\nDescription=web on %H\n\n" +
		"[Service]\nRestart=always\nRestartSec=2\nMemoryMax=64M\nTimeoutStopSec=10\n" +
		"RootDirectory=" + root + "\n" +
		"ExecStart=\"/bin/sh\" \"-c\" \"echo $$HOME 100%% done; sleep 1000\"\n" +
		"Environment=\"PATH=/bin\"\nEnvironment=\"GREETING=hi%%there\"\nEnvironment=\"MACHINE=m1\"\n" +
		"WorkingDirectory=/\nUser=65534\nGroup=65534\n" +
		"MountAPIVFS=yes\nPrivateTmp=yes\nPrivateDevices=yes\nProtectKernelTunables=yes\nProtectControlGroups=yes\nNoNewPrivileges=yes\n" +
		"CapabilityBoundingSet=CAP_SYS_ADMIN CAP_NET_BIND_SERVICE\n" +
		seccompLines(t, "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE") +
		"DevicePolicy=closed\nDeviceAllow=char-* m\nDeviceAllow=block-* m\n" +
		"DeviceAllow=/dev/char/1:3 rwm\nDeviceAllow=/dev/char/1:5 rwm\nDeviceAllow=/dev/char/1:7 rwm\n" +
		"DeviceAllow=/dev/char/1:8 rwm\nDeviceAllow=/dev/char/1:9 rwm\nDeviceAllow=/dev/char/5:0 rwm\n" +
		"DeviceAllow=/dev/char/5:1 rwm\nDeviceAllow=/dev/char/5:2 rwm\nDeviceAllow=char-pts rwm\n" +
		"DeviceAllow=/dev/char/1:11 r\nBindPaths=/dev/kmsg:/dev/log0\n" +
		"BindReadOnlyPaths=/srv/data:/data:rbind\nBindPaths=" + scratch + ":/scratch\n" +
		"ReadOnlyPaths=/\nTemporaryFileSystem=/run:nosuid,nodev,noexec,size=65536k\nPrivateNetwork=yes\n\n" +
		"[X-Fleet]\nMachineMetadata=role=web\n"
	path := filepath.Join(m.cfg.UnitDir, "web.service")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("generated unit:\n%s\nwant:\n%s", b, want)
	}
	if !mounted(t, root) {
		t.Fatalf("RootDirectory %s is not a mount point", root)
	}
	if fi, err := os.Stat(filepath.Join(root, "bin", "busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("the root has no executable /bin/busybox: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc", "hostname")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the upper layer's whiteout of /etc/hostname does not show in the root: %v", err)
	}

	// The same unit again: no rewrite, no second mount.
	fi, _ := os.Stat(path)
	time.Sleep(10 * time.Millisecond)
	if err := m.Load("web.service", file(t, src)); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(path); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("an unchanged container unit was rewritten")
	}

	// The image's Cmd when there is no Exec=; host networking adds nothing.
	if err := m.Load("sh.service", file(t, "[Container]\nImage="+ref+"\nNetwork=host\n")); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(m.cfg.UnitDir, "sh.service"))
	if !strings.Contains(string(b), "\nExecStart=\"/bin/sh\"\n") || strings.Contains(string(b), "PrivateNetwork") ||
		!strings.Contains(string(b), "\nCapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE ") ||
		!strings.Contains(string(b), "\nUser=0\nGroup=0\n") || strings.Contains(string(b), "ReadOnlyPaths") {
		t.Errorf("unit from the image's Cmd:\n%s", b)
	}

	if err := m.Start("web.service"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, m, "web.service", "active", "running")
	if err := m.Stop("web.service"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, m, "web.service", "inactive", "dead")
	if err := m.Start("web.service"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, m, "web.service", "active", "running")

	// Unload stops the unit, then unmounts the root and removes its writes.
	if err := os.WriteFile(filepath.Join(root, "tmp", "written"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Unload("web.service"); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.unitState("web.service"); a != "inactive" {
		t.Errorf("systemd has web.service %s after Unload", a)
	}
	if mounted(t, root) {
		t.Error("the root is still mounted after Unload")
	}
	if _, err := os.Stat(filepath.Join(cdir, "units", "web.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unit's container directory (upper dir) is still there: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file still there: %v", err)
	}

	// Close unmounts what is left; the writes stay for the next fleetd.
	shRoot := filepath.Join(cdir, "units", "sh.service", "rootfs")
	if !mounted(t, shRoot) {
		t.Fatal("sh.service's root is not mounted")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if mounted(t, shRoot) {
		t.Error("Close left sh.service's root mounted")
	}
	if _, err := os.Stat(filepath.Join(cdir, "units", "sh.service", "upper")); err != nil {
		t.Errorf("Close removed sh.service's writes: %v", err)
	}
	if _, ok := m.State("sh.service"); !ok {
		t.Error("Close forgot sh.service")
	}
}

// TestContainerUnitRealExecMissing: with a real root, an Exec= naming a
// program the image lacks is refused at Load and leaves nothing mounted.
func TestContainerUnitRealExecMissing(t *testing.T) {
	rt, cdir, ref := realContainers(t)
	m, _ := newTest(t, func(c *Config) { c.Containers = rt })
	err := m.Load("x.service", file(t, "[Container]\nImage="+ref+"\nNetwork=none\nExec=nginx -g daemon\n"))
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Field != "Exec" || !strings.Contains(err.Error(), "PATH /bin") {
		t.Fatalf("Load: %v, want a *unit.Error on Exec naming the image's PATH", err)
	}
	if mounted(t, filepath.Join(cdir, "units", "x.service", "rootfs")) {
		t.Error("a refused unit's root stays mounted")
	}
}
