package initd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Action is how the machine ends.
type Action int

const (
	Reboot Action = iota
	Poweroff
	Halt
)

func (a Action) String() string {
	return [...]string{"reboot", "poweroff", "halt"}[a]
}

// Signals to PID 1, as busybox init: SIGTERM and SIGINT (ctrl-alt-del)
// reboot, SIGUSR2 powers off, SIGUSR1 halts.
var actionSignals = map[Action]syscall.Signal{Reboot: syscall.SIGTERM, Poweroff: syscall.SIGUSR2, Halt: syscall.SIGUSR1}

// ActionFor maps a signal PID 1 got to its action.
func ActionFor(sig os.Signal) Action {
	switch sig {
	case syscall.SIGUSR2:
		return Poweroff
	case syscall.SIGUSR1:
		return Halt
	default:
		return Reboot
	}
}

// ParseAction reads "reboot", "poweroff" or "halt".
func ParseAction(s string) (Action, error) {
	for a := Reboot; a <= Halt; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown action %q: want reboot, poweroff or halt", s)
}

// Signal asks PID 1 (pid, for tests) for action.
func Signal(pid int, a Action) error {
	return syscall.Kill(pid, actionSignals[a])
}

// KillAll ends every process but PID 1 (this one, on a real boot): SIGTERM,
// up to grace for them to go, then SIGKILL, reaping as they exit. It must
// only run when no supervisor (no reaper) is alive any more.
func KillAll(grace time.Duration) {
	if err := unix.Kill(-1, unix.SIGTERM); errors.Is(err, unix.ESRCH) {
		return
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if reapAll() == 0 && !anyProcesses() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	unix.Kill(-1, unix.SIGKILL)
	for i := 0; i < 40 && anyProcesses(); i++ {
		reapAll()
		time.Sleep(50 * time.Millisecond)
	}
	reapAll()
}

// reapAll reaps exited children without blocking and says how many.
func reapAll() int {
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return n
		}
		n++
	}
}

// anyProcesses reports whether a process other than this one and kernel
// threads is left (from /proc).
func anyProcesses() bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		// Kernel threads have an empty cmdline.
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && len(b) > 0 {
			return true
		}
	}
	return false
}

// Unmount syncs and unmounts each path, remounting read-only what is busy.
func Unmount(console io.Writer, paths ...string) {
	unix.Sync()
	for _, p := range paths {
		if !IsMountPoint(p) {
			continue
		}
		if err := unix.Unmount(p, 0); err != nil {
			if err2 := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err2 != nil {
				fmt.Fprintf(console, "flotilla: unmount %s: %v; remount read-only: %v\n", p, err, err2)
			}
		}
	}
	unix.Sync()
}

// RebootNow ends the machine with a: the reboot(2) call. Only PID 1 (or
// CAP_SYS_BOOT) may; it returns only on failure.
func RebootNow(a Action) error {
	cmd := map[Action]int{Reboot: unix.LINUX_REBOOT_CMD_RESTART, Poweroff: unix.LINUX_REBOOT_CMD_POWER_OFF, Halt: unix.LINUX_REBOOT_CMD_HALT}[a]
	unix.Sync()
	return unix.Reboot(cmd)
}
