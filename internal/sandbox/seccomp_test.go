package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// seccompRootfs is busyboxRootfs with the applets these tests run.
func seccompRootfs(t *testing.T) string {
	root := busyboxRootfs(t)
	for _, a := range []string{"unshare", "mkdir", "date", "wget", "linux32"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// filter compiles p for caps as the container runtime does.
func filter(t *testing.T, p *seccomp.Profile, caps []string) *sandbox.SeccompFilter {
	t.Helper()
	f, err := p.Filter(caps)
	if err != nil {
		t.Fatal(err)
	}
	if f == nil {
		return nil
	}
	return &sandbox.SeccompFilter{Program: f.Program, Flags: f.Flags}
}

// shOut runs script and returns its output and exit status, whatever it is.
func shOut(t *testing.T, s sandbox.Spec, script string) (string, int) {
	t.Helper()
	s.Args = []string{"sh", "-c", script}
	res := run(t, s)
	if res.release != nil {
		t.Fatalf("sh -c %q: release: %v", script, res.release)
	}
	return res.out, res.status.ExitStatus()
}

func TestSeccompDefaultProfile(t *testing.T) {
	root := seccompRootfs(t)
	s := sandbox.Spec{Rootfs: root, Seccomp: filter(t, seccomp.Default(), sandbox.DefaultCapabilities)}
	out := sh(t, s, `grep Seccomp /proc/self/status; ls /bin >/dev/null && date >/dev/null && echo ordinary ok
		wget -q -T 1 -O- http://127.0.0.1:1/ 2>&1; echo wget=$?`)
	for _, want := range []string{"Seccomp:\t2", "ordinary ok", "wget=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not permitted") {
		t.Errorf("wget's socket or connect was refused by the filter:\n%s", out)
	}
	for _, tc := range []struct{ what, script string }{
		{"a nested user namespace", "unshare -U true"},
		{"a nested mount namespace", "unshare -m true"},
		{"mount of a tmpfs", "mount -t tmpfs t /tmp"},
		{"mount in a nested user and mount namespace", "unshare -Urm mount -t tmpfs t /tmp"},
	} {
		out, code := shOut(t, s, tc.script+" 2>&1")
		if code == 0 || !strings.Contains(strings.ToLower(out), "not permitted") && !strings.Contains(out, "permission denied") {
			t.Errorf("%s (%s): exit %d, output %q; want Operation not permitted", tc.what, tc.script, code, out)
		}
	}
	// linux32 sets PER_LINUX32 (8), which Docker's profile allows.
	if out, code := shOut(t, s, "linux32 uname -m 2>&1"); code != 0 || !strings.Contains(out, "i686") {
		t.Errorf("linux32 uname -m: exit %d, %q; want i686", code, out)
	}
}

// With CAP_SYS_ADMIN, Docker's profile allows mount and unshare: so does ours.
func TestSeccompFollowsCapabilities(t *testing.T) {
	root := seccompRootfs(t)
	caps := append([]string{"CAP_SYS_ADMIN"}, sandbox.DefaultCapabilities...)
	s := sandbox.Spec{Rootfs: root, Capabilities: caps, Seccomp: filter(t, seccomp.Default(), caps)}
	out := sh(t, s, `mount -t tmpfs t /tmp && grep ' /tmp ' /proc/self/mounts && unshare -m true && echo unshared`)
	for _, want := range []string{"t /tmp tmpfs", "unshared"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Unconfined is no filter: a nested user namespace works, as before.
func TestSeccompUnconfined(t *testing.T) {
	root := seccompRootfs(t)
	s := sandbox.Spec{Rootfs: root, Seccomp: filter(t, seccomp.Unconfined, sandbox.DefaultCapabilities)}
	out := sh(t, s, `grep Seccomp: /proc/self/status; unshare -U true && echo nested`)
	if !strings.Contains(out, "Seccomp:\t0") || !strings.Contains(out, "nested") {
		t.Errorf("unconfined container: %s; want no filter and a nested user namespace", out)
	}
}

func TestSeccompCustomProfile(t *testing.T) {
	root := seccompRootfs(t)
	p, err := seccomp.Parse("/deny-mkdir.json", []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := sandbox.Spec{Rootfs: root, Seccomp: filter(t, p, sandbox.DefaultCapabilities)}
	out, code := shOut(t, s, "mkdir /tmp/d 2>&1")
	if code == 0 || !strings.Contains(out, "Permission denied") {
		t.Errorf("mkdir under a profile denying it with EACCES: exit %d, %q", code, out)
	}
	if out, code := shOut(t, s, "touch /tmp/f && unshare -U true && echo rest allowed"); code != 0 || !strings.Contains(out, "rest allowed") {
		t.Errorf("the rest of the profile allows: exit %d, %q", code, out)
	}
}

func TestSeccompBadProgramRefused(t *testing.T) {
	_, err := sandbox.Prepare(sandbox.Spec{Rootfs: t.TempDir(), Args: []string{"true"}, Seccomp: &sandbox.SeccompFilter{Program: make([]byte, 12)}})
	if err == nil || !strings.Contains(err.Error(), "Seccomp") {
		t.Errorf("Prepare with a 12-byte program: %v", err)
	}
}

// BenchmarkStartTrueSeccomp is BenchmarkStartTrue with Docker's default
// filter, compiled once (as the container runtime's cache does). Note that
// this test binary, the init here, links internal/seccomp's syscall tables
// (~0.3 ms of package initialisation per start, in every benchmark of this
// package); flotilla-sandbox-init does not.
func BenchmarkStartTrueSeccomp(b *testing.B) {
	f, err := seccomp.Default().Filter(sandbox.DefaultCapabilities)
	if err != nil {
		b.Fatal(err)
	}
	benchStart(b, sandbox.Spec{Seccomp: &sandbox.SeccompFilter{Program: f.Program, Flags: f.Flags}})
}
