package initd

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
)

func TestActions(t *testing.T) {
	for sig, want := range map[syscall.Signal]Action{syscall.SIGTERM: Reboot, syscall.SIGINT: Reboot, syscall.SIGUSR2: Poweroff, syscall.SIGUSR1: Halt} {
		if got := ActionFor(sig); got != want {
			t.Errorf("ActionFor(%v) = %v, want %v", sig, got, want)
		}
	}
	for _, a := range []Action{Reboot, Poweroff, Halt} {
		if got, err := ParseAction(a.String()); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a, got, err)
		}
		if ActionFor(actionSignals[a]) != a {
			t.Errorf("the signal for %v maps back to %v", a, ActionFor(actionSignals[a]))
		}
	}
	if _, err := ParseAction("shutdown"); err == nil {
		t.Error("ParseAction(shutdown) succeeded")
	}
}

// TestSignalPoweroff: "init poweroff" sends PID 1 (here: a shell standing
// in for it) SIGUSR2.
func TestSignalPoweroff(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", `trap 'echo got-usr2; exit 0' USR2; echo ready; while :; do sleep 0.05; done`)
	out := &testutil.Buffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the shell's trap", 5*time.Second, func() bool { return strings.Contains(out.String(), "ready") })
	if err := Signal(cmd.Process.Pid, Poweroff); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the stand-in PID 1 did not get SIGUSR2")
	}
	if !strings.Contains(out.String(), "got-usr2") {
		t.Errorf("output %q", out.String())
	}
}
