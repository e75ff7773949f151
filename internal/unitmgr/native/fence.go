package native

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/cgroups"
)

// Fence SIGKILLs every unit's process groups now, with no ExecStop and no
// grace, and waits until the deadline for them to be reaped. Units end
// inactive (a unit that had already failed keeps its failed state). It
// returns an error naming the units whose processes outlived the deadline.
func (s *Supervisor) Fence(deadline time.Time) error {
	type fenced struct {
		u *svc
		a *activation
	}
	var acts []fenced
	for _, u := range s.all() {
		if a := u.fence(); a != nil {
			acts = append(acts, fenced{u, a})
		}
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	var left []string
	expired := false
	for _, f := range acts {
		if !expired {
			select {
			case <-f.a.done:
			case <-t.C:
				expired = true
			}
		}
		if f.a.alive("control-group") {
			left = append(left, f.u.name)
		}
	}
	if len(left) > 0 {
		sort.Strings(left)
		return fmt.Errorf("supervisor: fence: processes of %s survived until the deadline", strings.Join(left, ", "))
	}
	return nil
}

// fence marks the current activation fenced and SIGKILLs its groups.
func (u *svc) fence() *activation {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pendingStart {
		u.pendingStart = false
		u.dropQueuedJobLocked()
	}
	a := u.act
	if a == nil {
		return nil
	}
	a.once[1].Do(func() { close(a.fencec) })
	a.requestStop()
	for g := range a.groups {
		unix.Kill(-g, unix.SIGKILL)
	}
	if a.frozen != nil {
		// A task frozen by the v1 freezer takes its SIGKILL only once
		// thawed.
		a.frozen.Thaw()
	}
	return a
}

// Freeze stops every unit: a container's whole cgroup with the freezer
// (forks and escaped sessions included), and every unit's process groups
// with SIGSTOP. They run nothing until Thaw and keep their pids. States do
// not change. A unit that cannot be stopped (other than one already gone)
// makes Freeze fail, and the caller must Fence.
func (s *Supervisor) Freeze() error {
	var failed []string
	for _, u := range s.all() {
		if err := u.signalGroups(unix.SIGSTOP); err != nil {
			failed = append(failed, u.name)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("supervisor: freeze: cannot stop %s", strings.Join(failed, ", "))
	}
	return nil
}

// Thaw thaws every container's cgroup and SIGCONTs every unit's process
// groups. It also resumes a unit's
// process that stopped itself, which a unit supervised here must not rely on.
func (s *Supervisor) Thaw() error {
	var failed []string
	for _, u := range s.all() {
		if err := u.signalGroups(unix.SIGCONT); err != nil {
			failed = append(failed, u.name)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("supervisor: thaw: cannot continue %s", strings.Join(failed, ", "))
	}
	return nil
}

// signalGroups sends sig to the current activation's process groups; a
// group already gone is not an error.
func (u *svc) signalGroups(sig unix.Signal) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	a := u.act
	if a == nil {
		return nil
	}
	var first error
	if a.frozen != nil && sig == unix.SIGCONT {
		if err := a.frozen.Thaw(); err != nil && !errors.Is(err, cgroups.ErrNoFreezer) {
			first = err
		}
	}
	if a.frozen != nil && sig == unix.SIGSTOP {
		if err := a.frozen.Freeze(); err != nil && !errors.Is(err, cgroups.ErrNoFreezer) {
			first = err
		}
	}
	for g := range a.groups {
		if err := unix.Kill(-g, sig); err != nil && err != unix.ESRCH && first == nil {
			first = fmt.Errorf("process group %d: %w", g, err)
		}
	}
	return first
}
