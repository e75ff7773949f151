package native

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/container"
)

// containerStopTimeout is TimeoutStopSec's default for container units.
const containerStopTimeout = 10 * time.Second

// spawnContainer prepares the unit's container and forks its init; the
// container execs its entrypoint once the cgroup and network are in place.
func (a *activation) spawnContainer() (*proc, error) {
	rt := a.u.sup.cfg.Containers
	if rt == nil {
		return nil, errors.New("this unit manager runs no container runtime (fleetd must run as root)")
	}
	run, err := rt.Prepare(context.Background(), a.u.name, a.sp.container)
	if err != nil {
		return nil, err
	}
	l := run.Launch()
	sys := *l.Sys
	sys.Setpgid, sys.Pdeathsig = true, syscall.SIGKILL
	files := []uintptr{a.u.sup.nullFd, a.logfd, a.errfd}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	pid, exit, err := theReaper.spawn(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Sys: &sys, Files: files})
	if err != nil {
		run.Exited()
		return nil, fmt.Errorf("start container: %w", err)
	}
	a.u.mu.Lock()
	a.groups[pid] = true
	a.frozen = run
	a.u.mu.Unlock()
	p := &proc{pid: pid, exit: exit}
	a.run = run
	if err := run.Started(pid); err != nil {
		unix.Kill(-pid, unix.SIGKILL)
		p.ws, p.exited = <-exit, true
		return nil, err
	}
	// The address shows in the unit's state from its next change on (the
	// unit turns active after this), and goes when the container exits.
	a.u.mu.Lock()
	a.u.addr = run.Addr()
	a.u.mu.Unlock()
	return p, nil
}

// runContainerOnce runs a Type=oneshot container unit's container to its
// end, as a oneshot's ExecStart= (Quadlet allows Type=oneshot and runs
// podman run in the foreground): within TimeoutStartSec, or until a stop
// request, which the stop steps then carry out. Its root is cleaned up as
// soon as it exits, so a RemainAfterExit= unit keeps nothing mounted.
func (a *activation) runContainerOnce() result {
	p, err := a.spawnContainer()
	if err != nil {
		if permanent(err) {
			return result{reason: err.Error(), permanent: true}
		}
		a.u.event("%s: %v", a.u.name, err)
		return result{reason: err.Error()}
	}
	a.control = p
	t := newTimeout(a.sp.timeoutStart)
	defer t.Stop()
	select {
	case p.ws = <-p.exit:
		p.exited = true
	case <-t.C:
		a.u.event("%s: Container timed out. Killing.", a.u.name)
		unix.Kill(-p.pid, unix.SIGKILL)
		p.ws, p.exited = <-p.exit, true
		return a.containerExited(result{reason: "timeout", abnormal: true})
	case <-a.stopc:
		return result{ok: true}
	}
	a.u.event("%s: Main process exited, %s", a.u.name, describe(p.ws))
	return a.containerExited(exitResult(p.ws))
}

// containerExited cleans up after the container and folds an OOM kill
// into the result.
func (a *activation) containerExited(res result) result {
	if a.run == nil {
		return res
	}
	a.u.mu.Lock()
	a.frozen = nil // before Exited removes the cgroup
	a.u.mu.Unlock()
	reason := a.run.Exited()
	a.run = nil
	a.u.mu.Lock()
	a.u.addr = ""
	a.u.mu.Unlock()
	if reason != "" {
		a.u.event("%s: A process of this unit has been killed by the OOM killer.", a.u.name)
		return result{reason: reason, abnormal: true}
	}
	return res
}

// permanent reports a start failure retrying cannot fix.
func permanent(err error) bool { return errors.Is(err, container.ErrPermanent) }
