package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/seccomp"
)

// TestSeccompProfiles runs busybox containers through Prepare, as the
// supervisor does, with each kind of SeccompProfile=.
func TestSeccompProfiles(t *testing.T) {
	rt, ref := testRuntime(t) // the init is this test binary
	sh := func(s Spec, script string) string {
		t.Helper()
		s.Image, s.Network = ref, NetworkNone
		s.Entrypoint, s.Exec = []string{"/bin/busybox"}, []string{"sh", "-c", script + " 2>&1; echo rc=$?"}
		out, _ := runContainer(t, rt, "seccomp.service", &s)
		return out
	}
	refused := func(out string) bool {
		return strings.Contains(out, "rc=1") && strings.Contains(strings.ToLower(out), "not permitted")
	}

	if out := sh(Spec{}, "/bin/busybox unshare -U true"); !refused(out) {
		t.Errorf("default profile: unshare -U: %q, want it refused", out)
	}
	if out := sh(Spec{Seccomp: seccomp.Unconfined}, "/bin/busybox unshare -U true"); !strings.Contains(out, "rc=0") {
		t.Errorf("SeccompProfile=unconfined: unshare -U: %q, want it to work", out)
	}
	// Docker's profile allows mount with CAP_SYS_ADMIN; so does ours.
	out := sh(Spec{AddCaps: []string{"SYS_ADMIN"}}, "/bin/busybox mkdir -p /m && /bin/busybox mount -t tmpfs t /m")
	if !strings.Contains(out, "rc=0") {
		t.Errorf("AddCapability=SYS_ADMIN: mount: %q, want it to work", out)
	}
	prof := filepath.Join(t.TempDir(), "deny-mkdir.json")
	if err := os.WriteFile(prof, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := seccomp.Load(prof)
	if err != nil {
		t.Fatal(err)
	}
	if out := sh(Spec{Seccomp: p}, "/bin/busybox mkdir /d"); !strings.Contains(out, "Permission denied") || !strings.Contains(out, "rc=1") {
		t.Errorf("a profile denying mkdir with EACCES: %q", out)
	}
}
