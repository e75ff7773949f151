package systemd

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// notOurs is the subscription's filter: true drops the unit.
func (m *Manager) notOurs(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.units[name] == nil
}

// differs tells the subscription which units to deliver: those whose state
// changed since the last poll, and those whose state differs from what the
// Manager recorded (a refresh may have seen a state the polls never saw,
// e.g. "activating" between two "failed").
func (m *Manager) differs(old, cur *dbus.UnitStatus) bool {
	if old.LoadState != cur.LoadState || old.ActiveState != cur.ActiveState || old.SubState != cur.SubState {
		return true
	}
	st := statusOf(cur)
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.units[cur.Name]
	return r != nil && (r.st.Load != st.Load || r.st.Active != st.Active || r.st.Sub != st.Sub)
}

// watch applies the subscription's changes until it ends, and every
// ResyncInterval re-reads the units believed to be running.
func (m *Manager) watch(updates <-chan map[string]*dbus.UnitStatus, errs <-chan error) {
	defer close(m.watchDone)
	resync := time.NewTicker(m.cfg.ResyncInterval)
	defer resync.Stop()
	failing := false
	for updates != nil || errs != nil {
		select {
		case batch, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if failing {
				m.cfg.Logf("systemdmgr: listing units works again")
				failing = false
			}
			m.apply(batch)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if !failing {
				m.cfg.Logf("systemdmgr: list units: %v (unit states go stale until it works again)", err)
				failing = true
			}
		case <-resync.C:
			var busy []string
			m.mu.Lock()
			for n, r := range m.units {
				if r.st.Active != unit.ActiveInactive && r.st.Active != unit.ActiveFailed {
					busy = append(busy, n)
				}
			}
			m.mu.Unlock()
			if len(busy) > 0 {
				ctx, cancel := m.callCtx()
				m.refresh(ctx, busy...)
				cancel()
			}
		}
	}
}

// apply records one batch from the subscription. A nil status means systemd
// dropped the unit from memory (garbage-collected once inactive); its file
// is still ours, so it is loaded, inactive and dead.
func (m *Manager) apply(batch map[string]*dbus.UnitStatus) {
	ctx, cancel := m.callCtx()
	defer cancel()
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	for name, us := range batch {
		st := unit.State{Load: unit.LoadLoaded, Active: unit.ActiveInactive, Sub: "dead"}
		if us != nil {
			st = statusOf(us)
		}
		m.details(ctx, name, &st)
		m.record(name, st)
	}
}

// refresh reads the current state of the named units from systemd and
// records it. Errors are logged: the subscription catches up later.
func (m *Manager) refresh(ctx context.Context, names ...string) {
	if len(names) == 0 || ctx.Err() != nil {
		return
	}
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	sts, err := m.conn.ListUnitsByNamesContext(ctx, names)
	if err != nil {
		m.cfg.Logf("systemdmgr: read state of %s: %v", strings.Join(names, ", "), err)
		return
	}
	for i := range sts {
		st := statusOf(&sts[i])
		m.details(ctx, sts[i].Name, &st)
		m.record(sts[i].Name, st)
	}
}

// record stores st for a loaded unit and notifies when it changed. Since
// moves only when the active or sub state does.
func (m *Manager) record(name string, st unit.State) {
	m.mu.Lock()
	r := m.units[name]
	if r == nil {
		m.mu.Unlock()
		return
	}
	old := r.st
	if old.Load == st.Load && old.Active == st.Active && old.Sub == st.Sub && old.Reason == st.Reason && old.PID == st.PID {
		m.mu.Unlock()
		return
	}
	st.Since = old.Since
	if old.Active != st.Active || old.Sub != st.Sub || st.Since.IsZero() {
		st.Since = time.Now()
	}
	r.st = st
	m.mu.Unlock()
	m.changes.Notify(name)
}

// stateOf maps systemd's three states. Load states other than loaded and
// not-found (bad-setting, error, masked) are unitmgr's "error".
func stateOf(load, active, sub string) unit.State {
	st := unit.State{Load: load, Active: active, Sub: sub}
	switch load {
	case unit.LoadLoaded, unit.LoadNotFound:
	case "":
		st.Load = unit.LoadNotFound
	default:
		st.Load = unit.LoadError
		st.Reason = "load state " + load + ": systemd rejected the unit file (its journal says why)"
	}
	return st
}

// typeInterface is the D-Bus interface suffix of a unit's type properties,
// for types that have a Result; "" for the others.
func typeInterface(name string) string {
	switch t := strings.TrimPrefix(path.Ext(name), "."); t {
	case "service", "socket", "mount", "swap", "timer", "path", "automount", "scope":
		return strings.ToUpper(t[:1]) + t[1:]
	}
	return ""
}

// details adds the main PID of a running service and the reason of a
// failure (or of a pending auto-restart) from the unit's type properties.
func (m *Manager) details(ctx context.Context, name string, st *unit.State) {
	iface := typeInterface(name)
	needReason := st.Active == unit.ActiveFailed || st.Sub == "auto-restart"
	needPID := iface == "Service" && st.Active != unit.ActiveInactive && st.Active != unit.ActiveFailed
	if iface == "" || !needReason && !needPID {
		return
	}
	props, err := m.conn.GetUnitTypePropertiesContext(ctx, name, iface)
	if err != nil {
		m.cfg.Logf("systemdmgr: read %s properties of %s: %v", iface, name, err)
		// Keep what was recorded for this same state rather than lose it.
		m.mu.Lock()
		if r := m.units[name]; r != nil && r.st.Active == st.Active && r.st.Sub == st.Sub {
			st.PID, st.Reason = r.st.PID, r.st.Reason
		}
		m.mu.Unlock()
		if needReason && st.Reason == "" {
			st.Reason = "unknown (reading its Result failed)"
		}
		return
	}
	if needPID {
		st.PID = int(toInt64(props["MainPID"]))
	}
	if needReason && st.Reason == "" {
		st.Reason = reason(props)
	}
}

// reason turns Result and ExecMainCode/ExecMainStatus into unitmgr's words:
// "exit-code 3", "signal KILL", "timeout", "start-limit-hit", ...
func reason(props map[string]any) string {
	res := str(props["Result"])
	status := toInt64(props["ExecMainStatus"])
	switch res {
	case "", "success":
		return ""
	case "exit-code":
		return exitReason(status)
	case "signal":
		return "signal " + signalName(status)
	case "core-dump":
		return "signal " + signalName(status) + " (core dumped)"
	}
	return res
}

// systemd's own exit codes for failures before exec (systemd.exec(5)).
var systemdExits = map[int64]string{
	200: "CHDIR", 203: "EXEC", 204: "MEMORY", 209: "STDOUT", 210: "CHROOT",
	214: "SETSCHEDULER", 216: "GROUP", 217: "USER", 226: "NAMESPACE", 236: "MOUNT_APIVFS",
}

func exitReason(status int64) string {
	if n, ok := systemdExits[status]; ok {
		return fmt.Sprintf("exit-code %d/%s", status, n)
	}
	return fmt.Sprintf("exit-code %d", status)
}

// signalName is "KILL" for 9, as the native backend writes it.
func signalName(n int64) string {
	if s := unix.SignalName(unix.Signal(n)); s != "" {
		return strings.TrimPrefix(s, "SIG")
	}
	return strconv.FormatInt(n, 10)
}

// toInt64 reads an integer D-Bus property of any width.
func toInt64(v any) int64 {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case int64:
		return x
	case uint64:
		return int64(x)
	case int:
		return int64(x)
	}
	return 0
}
