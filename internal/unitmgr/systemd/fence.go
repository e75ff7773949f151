package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// fencePoll is how often Fence and Close re-read units while waiting.
const fencePoll = 50 * time.Millisecond

// Fence queues an irreversible stop job for every loaded unit (so nothing
// restarts them), SIGKILLs all their processes, and waits until the deadline
// for every unit to be inactive. Units SIGKILLed out of a running state end
// "failed" (Result signal) in systemd; Fence resets those so they end
// inactive, as the native backend's do. A unit that had failed before stays
// failed. ExecStopPost= still runs: systemd offers no way to skip it.
// The error names the units still not inactive at the deadline.
func (m *Manager) Fence(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	names := m.Units()
	failedBefore := map[string]bool{}
	for _, name := range names {
		if st, _ := m.State(name); st.Active == unit.ActiveFailed {
			failedBefore[name] = true
		}
		if err := m.stop(ctx, name, "replace-irreversibly"); err != nil {
			m.cfg.Logf("systemdmgr: fence: stop %s: %v", name, err)
		}
		err := m.conn.KillUnitWithTarget(ctx, name, dbus.All, int32(unix.SIGKILL))
		// systemd refuses to kill a unit with no processes; that is fine.
		if err != nil && !isNoSuchUnit(err) && !isBusError(err, errNoSuchProcess) {
			m.cfg.Logf("systemdmgr: fence: kill %s: %v", name, err)
		}
	}
	// Reset each unit as soon as it is down, so that one process outliving
	// the deadline does not leave the others failed.
	reset := func(ctx context.Context, name string, st unit.State) {
		if st.Active != unit.ActiveFailed || failedBefore[name] {
			return
		}
		failedBefore[name] = true // once
		if err := m.conn.ResetFailedUnitContext(ctx, name); err != nil && !isNoSuchUnit(err) {
			m.cfg.Logf("systemdmgr: fence: reset-failed %s: %v", name, err)
			return
		}
		m.refresh(ctx, name)
	}
	left, err := m.waitInactive(ctx, names, reset)
	if len(left) > 0 {
		if err != nil {
			return fmt.Errorf("systemdmgr: fence: %s not inactive by the deadline: %w", strings.Join(left, ", "), err)
		}
		return fmt.Errorf("systemdmgr: fence: %s not inactive by the deadline", strings.Join(left, ", "))
	}
	return nil
}

// waitInactive re-reads the units until none is active, activating or
// deactivating, or ctx ends; it returns those still busy, sorted.
// Each unit seen down is handed to down, when not nil.
func (m *Manager) waitInactive(ctx context.Context, names []string, down func(context.Context, string, unit.State)) ([]string, error) {
	t := time.NewTicker(fencePoll)
	defer t.Stop()
	for {
		m.refresh(ctx, names...)
		var left []string
		for _, name := range names {
			st, ok := m.State(name)
			switch {
			case !ok:
			case st.Active != unit.ActiveInactive && st.Active != unit.ActiveFailed:
				left = append(left, name)
			case down != nil:
				down(ctx, name, st)
			}
		}
		if len(left) == 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return left, ctx.Err()
		case <-t.C:
		}
	}
}

// ErrNoFreeze is in Freeze's error when systemd could not freeze a unit
// (a cgroup v1 host, a systemd older than 246, a unit with a pending job):
// nothing is left frozen, and the agent falls back to Fence.
var ErrNoFreeze = errors.New("systemd: freezing units is not supported; fence instead")

// Freeze freezes every active loaded unit with systemd's FreezeUnit (the
// cgroup v2 freezer: every process of the unit at once; `systemctl
// freeze`). If one cannot be frozen, those already frozen are thawed and
// the error wraps ErrNoFreeze.
func (m *Manager) Freeze() error {
	ctx, cancel := context.WithTimeout(context.Background(), freezeTimeout)
	defer cancel()
	var done []string
	for _, name := range m.Units() {
		if st, _ := m.State(name); st.Active != unit.ActiveActive && st.Active != unit.ActiveActivating && st.Active != unit.ActiveDeactivating {
			continue
		}
		if err := m.conn.FreezeUnit(ctx, name); err != nil {
			if isBusError(err, errUnitInactive) {
				continue
			}
			for _, f := range done {
				if terr := m.conn.ThawUnit(ctx, f); terr != nil {
					m.cfg.Logf("systemdmgr: freeze: thaw %s again: %v", f, terr)
				}
			}
			return fmt.Errorf("%w: freeze %s: %v", ErrNoFreeze, name, err)
		}
		done = append(done, name)
	}
	m.mu.Lock()
	m.frozen = done
	m.mu.Unlock()
	return nil
}

// Thaw thaws the units Freeze froze (`systemctl thaw`).
func (m *Manager) Thaw() error {
	ctx, cancel := context.WithTimeout(context.Background(), freezeTimeout)
	defer cancel()
	m.mu.Lock()
	names := m.frozen
	m.frozen = nil
	m.mu.Unlock()
	var failed []string
	for _, name := range names {
		if err := m.conn.ThawUnit(ctx, name); err != nil && !isNoSuchUnit(err) && !isBusError(err, errUnitInactive) {
			m.cfg.Logf("systemdmgr: thaw %s: %v", name, err)
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("systemdmgr: thaw: cannot thaw %s", strings.Join(failed, ", "))
	}
	return nil
}

// freezeTimeout bounds Freeze's and Thaw's calls to systemd; the agent
// kills at its deadline whatever they leave.
const freezeTimeout = 2 * time.Second
