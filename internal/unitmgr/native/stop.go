package native

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// finalKillWait bounds the wait after SIGKILL (a process stuck in the
// kernel cannot be waited for forever).
const finalKillWait = 10 * time.Second

// result is how a cycle or command ended.
type result struct {
	ok        bool
	reason    string // e.g. "exit-code 3", "signal KILL", "timeout"
	abnormal  bool   // killed by an unclean signal or timed out
	permanent bool   // retrying cannot help (e.g. a bad image reference): never restart
}

// exitResult reads a wait status as systemd does: exit 0 and death by
// SIGHUP, SIGINT, SIGTERM or SIGPIPE are clean.
func exitResult(ws unix.WaitStatus) result {
	if ws.Exited() {
		if ws.ExitStatus() == 0 {
			return result{ok: true}
		}
		return result{reason: fmt.Sprintf("exit-code %d", ws.ExitStatus())}
	}
	switch sig := ws.Signal(); sig {
	case unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGPIPE:
		return result{ok: true}
	default:
		return result{reason: "signal " + signalName(sig), abnormal: true}
	}
}

// describe words a wait status as journald shows it.
func describe(ws unix.WaitStatus) string {
	if ws.Exited() {
		return fmt.Sprintf("code=exited, status=%d", ws.ExitStatus())
	}
	return fmt.Sprintf("code=killed, status=%d/%s", int(ws.Signal()), signalName(ws.Signal()))
}

func (sp *spec) restartOn(res result) bool {
	if res.permanent {
		return false
	}
	switch sp.restart {
	case "always":
		return true
	case "on-success":
		return res.ok
	case "on-failure":
		return !res.ok
	case "on-abnormal":
		return res.abnormal
	case "on-abort":
		return res.abnormal && res.reason != "timeout"
	}
	return false
}

// shutdown runs the stop steps: ExecStop (if the start succeeded),
// KillSignal to what is left, SIGKILL after TimeoutStopSec, ExecStopPost.
// A fenced activation gets SIGKILL and nothing else.
func (a *activation) shutdown(res result, started bool) result {
	if !a.fenced() && (started || a.stopping()) {
		a.u.event("Stopping %s...", a.u.name)
	}
	if started && len(a.sp.stop) > 0 && !a.fenced() {
		a.set(unit.ActiveDeactivating, "stop", "")
		a.runAll(a.sp.stop, a.sp.timeoutStop, false, a.mainPIDEnv()...)
	}
	if !a.fenced() && a.alive(a.sp.killMode) {
		a.set(unit.ActiveDeactivating, "stop-sigterm", "")
		if a.terminate() && res.ok {
			res = result{reason: "timeout", abnormal: true}
		}
		res = a.stoppedMain(res)
	}
	if len(a.sp.stopPost) > 0 && !a.fenced() {
		a.set(unit.ActiveDeactivating, "stop-post", "")
		if r := a.runAll(a.sp.stopPost, a.sp.timeoutStop, false); res.ok && !r.ok {
			res = r
		}
		a.terminate()
	}
	if a.fenced() {
		a.signal("control-group", unix.SIGKILL)
		a.waitGone(finalKillWait, "control-group")
	}
	return res
}

// stoppedMain folds in how the main process ended during the stop: a
// non-zero exit code fails the unit, a signal does not.
func (a *activation) stoppedMain(res result) result {
	m := a.main
	if !res.ok || m == nil || !m.poll() || !m.ws.Exited() || m.ws.ExitStatus() == 0 {
		return res
	}
	return result{reason: fmt.Sprintf("exit-code %d", m.ws.ExitStatus())}
}

// terminate sends KillSignal as KillMode says, waits TimeoutStopSec, then
// SIGKILLs. It reports whether it had to SIGKILL.
func (a *activation) terminate() bool {
	mode := a.sp.killMode
	if !a.alive(mode) {
		return false
	}
	first := mode
	if mode == "mixed" {
		first = "process"
	}
	a.signal(first, a.sp.killSignal)
	gone := a.waitGone(a.sp.timeoutStop, first)
	if gone && mode != "mixed" {
		return false
	}
	if !gone {
		a.u.event("%s: State 'stop-sigterm' timed out. Killing.", a.u.name)
	}
	a.signal(mode, unix.SIGKILL)
	a.waitGone(min(a.sp.timeoutStop, finalKillWait), mode)
	return !gone
}

// alive reports whether anything KillMode covers still runs: the main and
// control processes for "process", every spawned process group otherwise.
func (a *activation) alive(mode string) bool {
	if mode == "process" {
		return !a.main.poll() || !a.control.poll()
	}
	a.u.mu.Lock()
	defer a.u.mu.Unlock()
	for g := range a.groups {
		if unix.Kill(-g, 0) == unix.ESRCH {
			delete(a.groups, g)
		}
	}
	return len(a.groups) > 0
}

// signal sends sig (and SIGCONT, so stopped processes see it) per mode.
func (a *activation) signal(mode string, sig syscall.Signal) {
	if mode == "process" {
		for _, p := range []*proc{a.main, a.control} {
			if !p.poll() {
				unix.Kill(p.pid, sig)
				unix.Kill(p.pid, unix.SIGCONT)
			}
		}
		return
	}
	a.u.mu.Lock()
	defer a.u.mu.Unlock()
	for g := range a.groups {
		unix.Kill(-g, sig)
		unix.Kill(-g, unix.SIGCONT)
	}
}

// waitGone waits until alive(mode) is false or d passes. It wakes on every
// reap (the last process of a group is always reaped by us: our child or an
// orphan handed to us as subreaper), with a slow safety net while stopping.
func (a *activation) waitGone(d time.Duration, mode string) bool {
	t := newTimeout(d)
	defer t.Stop()
	safety := time.NewTicker(time.Second)
	defer safety.Stop()
	for {
		changed := theReaper.changed()
		if !a.alive(mode) {
			return true
		}
		select {
		case <-changed:
		case <-safety.C:
		case <-t.C:
			return false
		}
	}
}
