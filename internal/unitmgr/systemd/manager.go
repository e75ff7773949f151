package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("systemdmgr: closed")

// DefaultUnitDir is where units go by default: systemd's runtime unit
// directory, a tmpfs that forgets them at reboot as fleet's units were.
const DefaultUnitDir = "/run/systemd/system"

// Config configures a Manager. Zero values take the defaults.
type Config struct {
	UnitDir string // unit files go here; default DefaultUnitDir
	// PollInterval is how often the subscription lists systemd's units;
	// default 1s. Start, Stop, Load and reloads also refresh at once.
	PollInterval time.Duration
	// ResyncInterval is how often units believed running are re-read,
	// catching one that ran out and was garbage-collected between two
	// polls; default 10s.
	ResyncInterval time.Duration
	// ReloadDelay is the quiet period after a Load before daemon-reload,
	// so a burst of Loads costs one reload; default 100ms. Start and Stop
	// reload at once when a Load is pending.
	ReloadDelay  time.Duration
	CallTimeout  time.Duration // bound on one D-Bus call; default 25s (D-Bus's own)
	CloseTimeout time.Duration // Close's graceful stop before it fences; default 30s
	// Journalctl is the journalctl binary; default: looked up in PATH.
	Journalctl string
	Logf       func(format string, args ...any) // default: discard
	// Containers prepares the roots of container units ([Container]);
	// nil refuses them. See container.go for the unit systemd gets.
	Containers Containers
	// MachineID and Hostname expand %m and %H in [Container] keys;
	// Hostname defaults to the host's.
	MachineID, Hostname string
}

func withDefaults(cfg Config) Config {
	if cfg.UnitDir == "" {
		cfg.UnitDir = DefaultUnitDir
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 10 * time.Second
	}
	if cfg.ReloadDelay <= 0 {
		cfg.ReloadDelay = 100 * time.Millisecond
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 25 * time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	return cfg
}

// Manager runs units as systemd units over D-Bus.
type Manager struct {
	conn    Conn
	cfg     Config
	changes *unitmgr.Changes
	reload  *reloader

	stopWatch context.CancelFunc
	watchDone chan struct{}

	opMu  sync.Mutex // serialises Load and Unload: the files on disk
	obsMu sync.Mutex // serialises reading systemd's state and recording it

	mu     sync.Mutex
	units  map[string]*record
	frozen []string // units Freeze froze, for Thaw
	closed bool
}

// record is one loaded unit.
type record struct {
	path    string
	source  string // the unit as given to Load (canonical text)
	content string // the file written: source, or the generated container unit
	st      unit.State
	// container: the unit has had a container root, destroyed at Unload;
	// mounted: the root is mounted now.
	container, mounted bool
}

var _ unitmgr.Manager = (*Manager)(nil)

// New returns a Manager driving systemd through conn, which it owns from now
// on. UnitDir must exist.
func New(conn Conn, cfg Config) (*Manager, error) {
	if conn == nil {
		return nil, errors.New("systemdmgr: New needs a connection")
	}
	cfg = withDefaults(cfg)
	if fi, err := os.Stat(cfg.UnitDir); err != nil {
		return nil, fmt.Errorf("systemdmgr: unit directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("systemdmgr: unit directory %s is not a directory", cfg.UnitDir)
	}
	m := &Manager{conn: conn, cfg: cfg, changes: unitmgr.NewChanges(), units: map[string]*record{}, watchDone: make(chan struct{})}
	m.reload = newReloader(m.daemonReload, cfg.ReloadDelay, 5*time.Second, cfg.Logf)
	ctx, cancel := context.WithCancel(context.Background())
	m.stopWatch = cancel
	updates, errs := conn.SubscribeUnitsCustomContext(ctx, cfg.PollInterval, 0, m.differs, m.notOurs)
	go m.watch(updates, errs)
	return m, nil
}

func (m *Manager) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.cfg.CallTimeout)
}

// daemonReload reloads systemd and re-reads every unit's state.
func (m *Manager) daemonReload() error {
	ctx, cancel := m.callCtx()
	defer cancel()
	if err := m.conn.ReloadContext(ctx); err != nil {
		return err
	}
	m.refresh(ctx, m.Units()...)
	return nil
}

// Load writes the unit's canonical text to UnitDir/<name> (unless it is
// already there) and schedules a daemon-reload. A [Container] unit gets its
// root prepared (Config.Containers) and a generated unit running in it
// instead (container.go); without Config.Containers it is refused.
func (m *Manager) Load(name string, f *unit.File) error {
	if _, err := unit.ParseName(name); err != nil {
		return err
	}
	if err := f.Check(name); err != nil {
		return err
	}
	if err := checkHealth(name, f); err != nil {
		return err
	}
	isContainer := len(f.Section("Container")) > 0
	if isContainer && m.cfg.Containers == nil {
		return &unit.Error{Unit: name, Section: "Container", Msg: "this fleetd has no container runtime for the systemd backend (it must run as root, without --no-containers)"}
	}
	source := f.String()
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	closed, r := m.closed, m.units[name]
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if r != nil && r.source == source {
		return nil
	}
	content := source
	if isContainer {
		var err error
		if content, err = m.containerUnit(name, f); err != nil {
			return err
		}
	} else if r != nil && r.mounted {
		// It was a container unit: its root goes; its writes stay until Unload.
		if err := m.cfg.Containers.ReleaseRoot(name); err != nil {
			m.cfg.Logf("systemdmgr: load %s: %v", name, err)
		}
		m.mu.Lock()
		r.mounted = false
		m.mu.Unlock()
	}
	path := filepath.Join(m.cfg.UnitDir, name)
	wrote, err := writeIfChanged(path, []byte(content))
	if err != nil {
		if isContainer && (r == nil || !r.mounted) {
			if rerr := m.cfg.Containers.ReleaseRoot(name); rerr != nil {
				m.cfg.Logf("systemdmgr: load %s: %v", name, rerr)
			}
		}
		return fmt.Errorf("systemdmgr: load %s: %w", name, err)
	}
	// A link that cannot be made leaves the unit loaded, not enabled.
	linked, err := m.installLinks(name, path, f)
	if err != nil {
		m.cfg.Logf("%v", err)
	}
	wrote = wrote || linked
	// Ask systemd what it has: a unit may already run (fleetd restarted),
	// and an unchanged file systemd already loaded needs no reload.
	ctx, cancel := m.callCtx()
	defer cancel()
	st := unit.State{Load: unit.LoadNotFound, Active: unit.ActiveInactive, Sub: "dead"}
	dirty := wrote
	props, err := m.conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		m.cfg.Logf("systemdmgr: load %s: read its state from systemd: %v", name, err)
		dirty = true
	} else {
		st = stateOf(str(props["LoadState"]), str(props["ActiveState"]), str(props["SubState"]))
		if st.Load != unit.LoadLoaded || props["NeedDaemonReload"] == true {
			dirty = true
		}
	}
	m.mu.Lock()
	if r == nil {
		r = &record{path: path}
		m.units[name] = r
	}
	r.source, r.content = source, content
	if isContainer {
		r.container, r.mounted = true, true
	}
	m.mu.Unlock()
	m.record(name, st)
	if dirty {
		m.reload.mark()
	} else {
		m.refresh(ctx, name)
	}
	return nil
}

// writeIfChanged atomically replaces path with data (mode 0644) unless it
// already holds exactly that; it reports whether it wrote.
func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == 0o644 {
			return false, nil
		}
	}
	// A leading dot keeps systemd from taking the temporary file for a unit.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp.Name(), path)
}

// lookup returns the record of a loaded unit, or an error naming it.
func (m *Manager) lookup(op, name string) (*record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	r := m.units[name]
	if r == nil {
		return nil, fmt.Errorf("systemdmgr: %s %s: %w", op, name, unitmgr.ErrNotLoaded)
	}
	return r, nil
}

// Start queues a start job (mode "replace") and returns without waiting for
// it; a failed unit is reset first so its start limit and result start over.
func (m *Manager) Start(name string) error {
	if _, err := m.lookup("start", name); err != nil {
		return err
	}
	ctx, cancel := m.callCtx()
	defer cancel()
	if err := m.reload.sync(ctx); err != nil {
		return fmt.Errorf("systemdmgr: start %s: daemon-reload: %w", name, err)
	}
	if st, _ := m.State(name); st.Active == unit.ActiveFailed {
		if err := m.conn.ResetFailedUnitContext(ctx, name); err != nil && !isNoSuchUnit(err) {
			m.cfg.Logf("systemdmgr: start %s: reset-failed: %v", name, err)
		}
	}
	if _, err := m.conn.StartUnitContext(ctx, name, "replace", nil); err != nil {
		return fmt.Errorf("systemdmgr: start %s: %w", name, err)
	}
	m.refresh(ctx, name)
	return nil
}

// Stop queues a stop job (mode "replace") and returns without waiting.
func (m *Manager) Stop(name string) error {
	if _, err := m.lookup("stop", name); err != nil {
		return err
	}
	ctx, cancel := m.callCtx()
	defer cancel()
	if err := m.reload.sync(ctx); err != nil {
		return fmt.Errorf("systemdmgr: stop %s: daemon-reload: %w", name, err)
	}
	if err := m.stop(ctx, name, "replace"); err != nil {
		return fmt.Errorf("systemdmgr: stop %s: %w", name, err)
	}
	m.refresh(ctx, name)
	return nil
}

// stop queues a stop job; a unit systemd does not know is already stopped.
func (m *Manager) stop(ctx context.Context, name, mode string) error {
	if _, err := m.conn.StopUnitContext(ctx, name, mode, nil); err != nil && !isNoSuchUnit(err) {
		return err
	}
	return nil
}

// Unload queues a stop job, removes the unit file, forgets the unit and
// schedules a daemon-reload. If the stop cannot be queued the unit stays
// loaded, so that nothing runs that the Manager no longer knows.
func (m *Manager) Unload(name string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	r, err := m.lookup("unload", name)
	if err != nil {
		return err
	}
	ctx, cancel := m.callCtx()
	defer cancel()
	if err := m.stop(ctx, name, "replace"); err != nil {
		return fmt.Errorf("systemdmgr: unload %s: stop: %w", name, err)
	}
	if r.container {
		if err := m.destroyContainer(name, r); err != nil {
			return fmt.Errorf("systemdmgr: unload %s: %w", name, err)
		}
	}
	if _, err := m.removeLinks(name, r.path, nil); err != nil {
		return fmt.Errorf("systemdmgr: unload %s: %w", name, err)
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("systemdmgr: unload %s: %w", name, err)
	}
	m.mu.Lock()
	delete(m.units, name)
	m.mu.Unlock()
	m.changes.Notify(name)
	m.reload.mark()
	return nil
}

// State reports a loaded unit as last seen from systemd.
func (m *Manager) State(name string) (unit.State, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.units[name]
	if r == nil {
		return unit.State{}, false
	}
	return r.st, true
}

// Units lists loaded unit names, sorted.
func (m *Manager) Units() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.units))
	for n := range m.units {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Changes delivers names of units whose State changed, coalesced.
func (m *Manager) Changes() <-chan string { return m.changes.C() }

// Close stops every unit (gracefully, up to CloseTimeout, then fencing the
// rest), ends the subscription and closes the connection. Unit files stay in
// UnitDir; the units stay defined in systemd, stopped.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	names := m.Units()
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.CloseTimeout)
	for _, name := range names {
		if err := m.stop(ctx, name, "replace"); err != nil {
			m.cfg.Logf("systemdmgr: close: stop %s: %v", name, err)
		}
	}
	left, err := m.waitInactive(ctx, names, nil)
	cancel()
	if len(left) > 0 || err != nil {
		err = m.Fence(time.Now().Add(5 * time.Second))
	}
	// Container roots are unmounted (their writes stay for the next fleetd).
	for _, name := range names {
		m.mu.Lock()
		r := m.units[name]
		mounted := r != nil && r.mounted
		m.mu.Unlock()
		if mounted {
			if rerr := m.cfg.Containers.ReleaseRoot(name); rerr != nil {
				m.cfg.Logf("systemdmgr: close: %v", rerr)
			}
		}
	}
	m.reload.close()
	m.stopWatch()
	<-m.watchDone
	m.conn.Close()
	m.changes.Close()
	return err
}

// str reads a string D-Bus property ("" when absent).
func str(v any) string {
	s, _ := v.(string)
	return s
}

// statusOf converts a dbus.UnitStatus to a State without details.
func statusOf(us *dbus.UnitStatus) unit.State {
	return stateOf(us.LoadState, us.ActiveState, us.SubState)
}
