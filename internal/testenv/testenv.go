package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// NeedRoot skips tests that need root (namespaces, cgroups, setuid, netns).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, credentials or netns); CI runs as root")
	}
}

// NeedSlow skips multi-process cluster and VM tests unless FLOTILLA_SLOW=1.
func NeedSlow(t testing.TB) {
	t.Helper()
	if os.Getenv("FLOTILLA_SLOW") != "1" {
		t.Skip("slow test: set FLOTILLA_SLOW=1 to run it (.ci/run does)")
	}
}

// NeedCommand skips when a host tool is missing.
func NeedCommand(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("needs %s on PATH (the setup script installs it)", name)
	}
}
