package updater

import (
	"testing"

	"github.com/flotilla-os/flotilla/internal/initd"
)

// TestRebootSignalIsInitsReboot: the signal the daemon sends PID 1 is the
// one init turns into a reboot (not a poweroff or a halt).
func TestRebootSignalIsInitsReboot(t *testing.T) {
	if a := initd.ActionFor(RebootSignal); a != initd.Reboot {
		t.Fatalf("init takes %v as %v, want reboot", RebootSignal, a)
	}
}
