package sandbox_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.InitIfRequested()
	os.Exit(m.Run())
}

var busyboxApplets = []string{"sh", "cat", "hostname", "id", "sleep", "true", "ls", "mount", "echo", "touch", "head", "tail", "wc", "grep", "pwd"}

// busyboxRootfs builds a minimal rootfs with Debian's static busybox.
// Directories are 0755 up to / so a user namespace's root can reach them.
func busyboxRootfs(t testing.TB) string {
	t.Helper()
	testenv.NeedRoot(t)
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skip("needs /bin/busybox (Debian's busybox-static; the setup script installs it)")
	}
	root := t.TempDir()
	for p := root; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type result struct {
	out     string
	status  syscall.WaitStatus
	release error
}

// run starts s the way the supervisor does (ForkExec, Started, Release)
// and waits for it with wait4 on its pid.
func run(t testing.TB, s sandbox.Spec) result { return runWith(t, s, nil) }

// runWith calls started (when not nil) between Started and Release, like
// the supervisor placing the pid in its cgroup, and the function it returns
// after wait4.
func runWith(t testing.TB, s sandbox.Spec, started func(pid int) (done func())) result {
	t.Helper()
	l, err := sandbox.Prepare(s)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	defer l.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	files := []uintptr{0, w.Fd(), w.Fd()}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	l.Sys.Pdeathsig = syscall.SIGKILL
	pid, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Files: files, Sys: l.Sys})
	w.Close()
	if err != nil {
		t.Fatalf("ForkExec: %v", err)
	}
	var res result
	if err := l.Started(pid); err != nil {
		t.Errorf("Started: %v", err)
	}
	if started != nil {
		done := started(pid)
		defer done()
	}
	res.release = l.Release()
	out, _ := io.ReadAll(r)
	res.out = string(out)
	if _, err := syscall.Wait4(pid, &res.status, 0, nil); err != nil {
		t.Fatalf("wait4 %d: %v", pid, err)
	}
	return res
}

// sh runs script in a container from s and returns its output, failing the
// test unless it exits 0.
func sh(t *testing.T, s sandbox.Spec, script string) string {
	t.Helper()
	s.Args = []string{"sh", "-c", script}
	res := run(t, s)
	if res.release != nil || res.status.ExitStatus() != 0 {
		t.Fatalf("sh -c %q: release %v, status %v, output:\n%s", script, res.release, res.status, res.out)
	}
	return res.out
}

func field(t *testing.T, status, name string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in:\n%s", name, status)
	return ""
}

const dockerDefaultCapEff = "00000000a80425fb" // Docker's 14 default capabilities

func TestContainerBasics(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root, Hostname: "web-1"},
		`echo pid=$$; echo host=$(hostname); cat /proc/1/cmdline; echo; cat /proc/self/status; ls /`)
	for _, want := range []string{"pid=1\n", "host=web-1\n", "sh\x00-c\x00"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := field(t, out, "CapEff"); got != dockerDefaultCapEff {
		t.Errorf("CapEff = %s, want Docker's default %s", got, dockerDefaultCapEff)
	}
	if got := field(t, out, "CapBnd"); got != dockerDefaultCapEff {
		t.Errorf("CapBnd = %s, want %s", got, dockerDefaultCapEff)
	}
	for _, f := range []string{"CapInh", "CapAmb"} {
		if got := field(t, out, f); got != "0000000000000000" {
			t.Errorf("%s = %s, want none", f, got)
		}
	}
	if got := field(t, out, "NoNewPrivs"); got != "1" {
		t.Errorf("NoNewPrivs = %s, want 1", got)
	}
}

func TestMounts(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root}, `cat /proc/self/mounts; ls -la /dev; ls /`)
	for _, want := range []string{
		" / ", "proc /proc proc rw,nosuid,nodev,noexec", "tmpfs /dev tmpfs rw,nosuid",
		"devpts /dev/pts devpts", "ptmxmode=666", "shm /dev/shm tmpfs rw,nosuid,nodev,noexec",
		"sysfs /sys sysfs ro,nosuid,nodev,noexec",
		"ptmx -> pts/ptmx", "fd -> /proc/self/fd", "stdin -> /proc/self/fd/0", "stderr -> /proc/self/fd/2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if !strings.Contains(out, "crw-rw-rw-") || !strings.Contains(out, " "+d+"\n") {
			t.Errorf("/dev/%s missing or not 0666:\n%s", d, out)
		}
	}
	// The host's files outside the rootfs are unreachable; only the
	// rootfs's own entries are at /.
	ls := out[strings.LastIndex(out, "\n"+"bin"):]
	if strings.Contains(ls, "home") || strings.Contains(ls, "usr") || strings.Contains(ls, "var") {
		t.Errorf("host root visible:\n%s", ls)
	}
}

func TestProcProtected(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root}, `
		echo h > /proc/sysrq-trigger && echo SYSRQ-WRITABLE
		echo 1 > /proc/sys/kernel/panic && echo PROCSYS-WRITABLE
		echo kcore=$(head -c 16 /proc/kcore | wc -c)
		ls /sys/firmware | wc -l
		ls -l /proc/self/fd/
	`)
	for _, bad := range []string{"SYSRQ-WRITABLE", "PROCSYS-WRITABLE"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "kcore=0\n0\n") {
		t.Errorf("/proc/kcore or /sys/firmware not masked:\n%s", out)
	}
	// Only stdio (and ls's own directory fd) reach the entrypoint: not the
	// setup pipes, nor fds the test binary inherited without close-on-exec.
	if strings.Count(out, "pipe:") != 2 || strings.Contains(out, " 10 -> ") {
		t.Errorf("setup pipes leaked into the container:\n%s", out)
	}
}

func TestHostFilesUnreachable(t *testing.T) {
	root := busyboxRootfs(t)
	secret := filepath.Join(filepath.Dir(root), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink in the image pointing at the host must not leak it either.
	if err := os.Symlink(secret, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	s := sandbox.Spec{Rootfs: root, Args: []string{"sh", "-c", "cat " + secret + " /escape ../secret /proc/1/root/../secret; ls /etc/debian_version"}}
	res := run(t, s)
	if strings.Contains(res.out, "host secret") {
		t.Fatalf("container read a host file:\n%s", res.out)
	}
	if res.status.ExitStatus() == 0 {
		t.Errorf("expected failures, got exit 0:\n%s", res.out)
	}
}

func TestReadOnlyRootAndVolumes(t *testing.T) {
	root := busyboxRootfs(t)
	rw, ro := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "conf"), []byte("from-host"), 0o644)
	s := sandbox.Spec{Rootfs: root, ReadOnly: true, Mounts: []sandbox.Mount{
		{Source: rw, Target: "/data"},
		{Source: ro, Target: "/etc/app", ReadOnly: true},
		{Source: filepath.Join(ro, "conf"), Target: "/new/dir/conf.file", ReadOnly: true},
	}}
	out := sh(t, s, `
		touch /x 2>&1 && echo ROOT-WRITABLE
		touch /data/ok && echo data-ok
		touch /etc/app/x 2>&1 && echo VOLUME-WRITABLE
		cat /etc/app/conf; echo; cat /new/dir/conf.file; echo
		touch /dev/shm/ok && echo shm-ok
		grep -E ' /data | /etc/app | / ' /proc/self/mounts
	`)
	for _, bad := range []string{"ROOT-WRITABLE", "VOLUME-WRITABLE"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	for _, want := range []string{"Read-only file system", "data-ok", "from-host\nfrom-host\n", "shm-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(rw, "ok")); err != nil {
		t.Errorf("write through the rw volume not on the host: %v", err)
	}
}

func TestCredentials(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root, UID: 1000, GID: 1001, Groups: []uint32{20, 30}, Cwd: "/tmp"},
		`id; pwd; cat /proc/self/status`)
	if !strings.Contains(out, "uid=1000 gid=1001 groups=20,30") {
		t.Errorf("id: %s", out)
	}
	if !strings.Contains(out, "/tmp\n") {
		t.Errorf("cwd not /tmp: %s", out)
	}
	// No ambient set: a non-root user keeps no effective capabilities.
	if got := field(t, out, "CapEff"); got != "0000000000000000" {
		t.Errorf("CapEff = %s for uid 1000, want none", got)
	}
	if got := field(t, out, "CapBnd"); got != dockerDefaultCapEff {
		t.Errorf("CapBnd = %s, want %s", got, dockerDefaultCapEff)
	}
}

func TestCapabilitiesList(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root, Capabilities: []string{"NET_BIND_SERVICE", "CAP_KILL"}}, `cat /proc/self/status`)
	if got := field(t, out, "CapEff"); got != "0000000000000420" {
		t.Errorf("CapEff = %s, want 0x420 (KILL, NET_BIND_SERVICE)", got)
	}
	out = sh(t, sandbox.Spec{Rootfs: root, Capabilities: []string{}}, `cat /proc/self/status`)
	if got := field(t, out, "CapEff"); got != "0000000000000000" {
		t.Errorf("CapEff = %s, want none for an empty list", got)
	}
}

func TestExecErrors(t *testing.T) {
	root := busyboxRootfs(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/bin/redis"}, "exec /bin/redis: no such file or directory"},
		{[]string{"redis-server"}, "exec redis-server: executable file not found in PATH /usr/local/sbin:"},
	} {
		res := run(t, sandbox.Spec{Rootfs: root, Args: tc.args})
		var se *sandbox.SetupError
		if !errors.As(res.release, &se) || !strings.Contains(res.release.Error(), tc.want) {
			t.Errorf("Release = %v, want a SetupError containing %q", res.release, tc.want)
		}
		if res.status.ExitStatus() != 1 {
			t.Errorf("child status %v, want exit 1", res.status)
		}
	}
}

func TestSetupErrorNamesStep(t *testing.T) {
	root := busyboxRootfs(t)
	res := run(t, sandbox.Spec{Rootfs: root, Args: []string{"true"}, Cwd: "/does/not/exist"})
	if res.release == nil || !strings.Contains(res.release.Error(), "chdir /does/not/exist") {
		t.Errorf("Release = %v, want the chdir step named", res.release)
	}
}

func TestNetworkNoneHasOnlyLo(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root}, `ls /sys/class/net; echo ---; cat /proc/net/dev`)
	ifaces := strings.Fields(strings.Split(out, "---")[0])
	if !slices.Equal(ifaces, []string{"lo"}) {
		t.Errorf("interfaces %v, want [lo]:\n%s", ifaces, out)
	}
	host, _ := os.ReadDir("/sys/class/net")
	if len(host) > 1 {
		out := sh(t, sandbox.Spec{Rootfs: root, HostNetwork: true}, `ls /sys/class/net`)
		if len(strings.Fields(out)) != len(host) {
			t.Errorf("HostNetwork: container sees %q, host has %d interfaces", out, len(host))
		}
	}
}

func TestUserNS(t *testing.T) {
	root := busyboxRootfs(t)
	out := sh(t, sandbox.Spec{Rootfs: root, UserNS: true, Hostname: "userns"},
		`cat /proc/self/uid_map /proc/self/gid_map; id; hostname; cat /proc/self/status; echo pid=$$`)
	want := fmt.Sprintf("0 %d %d", sandbox.HostIDBase, sandbox.IDRange)
	if strings.Count(strings.Join(strings.Fields(out), " "), want) != 2 {
		t.Errorf("uid/gid map, want %q twice:\n%s", want, out)
	}
	for _, w := range []string{"uid=0", "gid=0", "userns\n", "pid=1\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("lacks %q:\n%s", w, out)
		}
	}
	if got := field(t, out, "CapEff"); got != dockerDefaultCapEff {
		t.Errorf("CapEff = %s, want %s", got, dockerDefaultCapEff)
	}
}

func TestPrepareValidation(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		s    sandbox.Spec
		want string
	}{
		{sandbox.Spec{Args: []string{"x"}}, "Rootfs"},
		{sandbox.Spec{Rootfs: dir}, "Args"},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Cwd: "rel"}, "Cwd"},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Capabilities: []string{"CAP_FLY"}}, `Capabilities: unknown capability "CAP_FLY"`},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Mounts: []sandbox.Mount{{Source: "/nonexistent-xyz", Target: "/a"}}}, "Mounts[0].Source"},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Mounts: []sandbox.Mount{{Source: dir, Target: "a"}}}, "Mounts[0].Target"},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Env: []string{"NOEQUALS"}}, "Env[0]"},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, UserNS: true, UID: 70000}, "UID/GID"},
		{sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Hostname: "a b"}, "Hostname"},
	} {
		_, err := sandbox.Prepare(tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Prepare(%+v) = %v, want an error naming %q", tc.s, err, tc.want)
		}
	}
	l, err := sandbox.Prepare(sandbox.Spec{Rootfs: dir, Args: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	l.Close() // idempotent
	if err := l.Release(); err == nil {
		t.Error("Release after Close succeeded")
	}
}

func TestCloseBeforeRelease(t *testing.T) {
	root := busyboxRootfs(t)
	l, err := sandbox.Prepare(sandbox.Spec{Rootfs: root, Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	files := []uintptr{0, 1, 2}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	pid, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Files: files, Sys: l.Sys})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Started(pid); err != nil {
		t.Fatal(err)
	}
	l.Close() // setup failed elsewhere: the child must go away
	var st syscall.WaitStatus
	syscall.Wait4(pid, &st, 0, nil)
	if st.ExitStatus() != 1 {
		t.Errorf("child status %v, want exit 1", st)
	}
}

// BenchmarkStartTrue measures fork → exit of /bin/true in the busybox
// rootfs with mnt, pid, uts, ipc and net namespaces, the way PEERS.md
// measured crun (32–39 ms) and runc (82–94 ms): Prepare, ForkExec, Started,
// Release, wait4. Run with -benchtime=20x; it reports the median (and p90,
// max) of the runs.
func BenchmarkStartTrue(b *testing.B) { benchStart(b, sandbox.Spec{}) }

// BenchmarkStartTrueHostNetwork is the same without a new netns.
func BenchmarkStartTrueHostNetwork(b *testing.B) { benchStart(b, sandbox.Spec{HostNetwork: true}) }

// BenchmarkStartTrueUserNS adds a user namespace.
func BenchmarkStartTrueUserNS(b *testing.B) { benchStart(b, sandbox.Spec{UserNS: true}) }

// BenchmarkStartTrueCgroup adds what crun and runc also do per start: a
// cgroup (memory and pids limits) created before Release and deleted after
// the exit.
func BenchmarkStartTrueCgroup(b *testing.B) {
	n := 0
	benchStartWith(b, sandbox.Spec{}, func(pid int) func() {
		n++
		g, err := cgroups.New(fmt.Sprintf("flotilla/bench-%d-%d.service", os.Getpid(), n), cgroups.Resources{MemoryMax: 64 << 20, TasksMax: 64})
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Add(pid); err != nil {
			b.Fatal(err)
		}
		return func() {
			if err := g.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchStart(b *testing.B, s sandbox.Spec) { benchStartWith(b, s, nil) }

func benchStartWith(b *testing.B, s sandbox.Spec, started func(pid int) (done func())) {
	s.Rootfs = busyboxRootfs(b)
	s.Args = []string{"/bin/true"}
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		res := runWith(b, s, started)
		times = append(times, time.Since(start))
		if res.release != nil || res.status.ExitStatus() != 0 {
			b.Fatalf("release %v status %v: %s", res.release, res.status, res.out)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(times[len(times)/2]), "median-ms")
	b.ReportMetric(ms(times[len(times)*9/10]), "p90-ms")
	b.ReportMetric(ms(times[len(times)-1]), "max-ms")
}

// TestTmpfsAndCopyUp: a read-only root with Podman's --read-only-tmpfs
// mounts (writable, filled with the image's files, links copied as links)
// and a new volume filled from the image.
func TestTmpfsAndCopyUp(t *testing.T) {
	root := busyboxRootfs(t)
	for _, d := range []string{"run/app", "data/sub"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "tmp/seed"), []byte("image-tmp"), 0o640)
	os.WriteFile(filepath.Join(root, "data/sub/seed"), []byte("image-data"), 0o600)
	os.Symlink("/etc/shadow", filepath.Join(root, "run/app/link"))
	os.Chown(filepath.Join(root, "data/sub/seed"), 1000, 1000)
	vol := t.TempDir()
	s := sandbox.Spec{Rootfs: root, ReadOnly: true,
		Tmpfs:  []sandbox.Tmpfs{{Target: "/tmp"}, {Target: "/var/tmp"}, {Target: "/run", Size: "65536k", NoExec: true}},
		Mounts: []sandbox.Mount{{Source: vol, Target: "/data", CopyUp: true}},
	}
	out := sh(t, s, `
		touch /x 2>&1 && echo ROOT-WRITABLE
		echo 1 > /run/app.pid && echo run-ok
		touch /tmp/t /var/tmp/t && echo tmp-ok
		cat /tmp/seed; echo
		ls -ld /run/app | cut -c1-10
		readlink /run/app/link
		grep -E ' /run | /tmp ' /proc/self/mounts
	`)
	if strings.Contains(out, "ROOT-WRITABLE") {
		t.Errorf("root writable:\n%s", out)
	}
	for _, want := range []string{"Read-only file system", "run-ok", "tmp-ok", "image-tmp\n", "drwxr-x---", "/etc/shadow\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " /run tmpfs ") && !(strings.Contains(l, "nosuid") && strings.Contains(l, "nodev") && strings.Contains(l, "noexec")) {
			t.Errorf("/run not nosuid,nodev,noexec: %s", l)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(vol, "sub/seed"), &st); err != nil || st.Uid != 1000 || st.Mode&0o777 != 0o600 {
		t.Errorf("copy-up into the volume: %+v, %v; want sub/seed owned by 1000, mode 0600", st, err)
	}
	if _, err := os.Stat(filepath.Join(root, "tmp/t")); err == nil {
		t.Error("a write to /tmp reached the image")
	}
}
