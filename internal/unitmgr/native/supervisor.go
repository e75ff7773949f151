package native

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("supervisor: closed")

// Config configures a Supervisor.
type Config struct {
	Dir         string // logs go under Dir/logs
	MachineID   string // value of %m
	Hostname    string // value of %H; os.Hostname() when empty
	LogMaxBytes int64  // rotate a unit's log at this size; default 1 MiB
	LogKeep     int    // rotated files kept per unit; default 2
	// CloseTimeout bounds Close's graceful stop before it fences; default 30s.
	CloseTimeout time.Duration
	Logf         func(format string, args ...any) // supervisor events; default: discard
	// MaxParallelStarts bounds the units starting at once (from Starting
	// to running or failed: ExecStartPre, image pulls, container set-up);
	// the rest wait their turn. Default 16.
	MaxParallelStarts int
	// Containers runs units with a [Container] section; nil refuses them.
	Containers *container.Runtime
	// Forward, when set, gets a copy of every unit's output as it is
	// logged: whole lines (or a cut partial one), stderr apart from
	// stdout. It must copy p and must not block (internal/logforward's
	// Forwarder.Lines). With it, a unit's stderr gets a pipe of its own.
	Forward func(unit string, stderr bool, p []byte)
}

// Supervisor is the native unit manager: one process supervising every unit.
type Supervisor struct {
	cfg     Config
	logDir  string
	devNull *os.File
	nullFd  uintptr
	changes *unitmgr.Changes
	starts  chan struct{} // one token per unit starting now

	mu     sync.Mutex
	units  map[string]*svc
	closed bool
	g      *graph // dependency graph of units; nil until needed after a change

	// The dependency loop (jobs.go): state changes of units, acted on in
	// order by one goroutine, only while some unit has dependencies.
	anyDeps atomic.Bool
	evMu    sync.Mutex
	events  []depEvent
	evWake  chan struct{}
	evStop  chan struct{}
	evDone  chan struct{}
}

var _ unitmgr.Manager = (*Supervisor)(nil)

// New creates Dir/logs, makes this process the subreaper of its orphaned
// descendants and starts the (process-wide) reaper.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Dir == "" {
		return nil, errors.New("supervisor: Config.Dir is required")
	}
	cfg = withDefaults(cfg)
	s := &Supervisor{cfg: cfg, logDir: filepath.Join(cfg.Dir, "logs"), units: map[string]*svc{}}
	if err := os.MkdirAll(s.logDir, 0o750); err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		cfg.Logf("supervisor: cannot become child subreaper (orphans escape): %v", err)
	}
	s.devNull, s.nullFd = devNull, devNull.Fd()
	s.changes = unitmgr.NewChanges()
	s.starts = make(chan struct{}, cfg.MaxParallelStarts)
	s.evWake, s.evStop, s.evDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	theReaper.acquire()
	go s.depLoop()
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.MaxParallelStarts <= 0 {
		cfg.MaxParallelStarts = 16
	}
	if cfg.LogMaxBytes <= 0 {
		cfg.LogMaxBytes = 1 << 20
	}
	if cfg.LogKeep <= 0 {
		cfg.LogKeep = 2
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return cfg
}

// validName rejects unit names that cannot be a file name under Dir/logs.
func checkUnitName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || strings.ContainsAny(name, "/\x00") {
		return &unit.Error{Unit: name, Msg: "invalid unit name"}
	}
	return nil
}

// logFileName is a unit's log file name: the unit name and ".log", with
// room left for rotation's ".N". A unit name may be 255 bytes, as in
// systemd, but a file name may not be longer, so a long name keeps its
// first 200 bytes and a hash of the whole.
func logFileName(name string) string {
	const keep = 200
	if len(name) <= keep {
		return name + ".log"
	}
	sum := sha256.Sum256([]byte(name))
	return name[:keep] + "~" + hex.EncodeToString(sum[:8]) + ".log"
}

// Load parses f's [Service] section and (re)defines the unit.
func (s *Supervisor) Load(name string, f *unit.File) error {
	if err := checkUnitName(name); err != nil {
		return err
	}
	ex := newExpander(name, s.cfg.MachineID, s.cfg.Hostname)
	sp, err := parseSpec(name, f, ex)
	if err != nil {
		return err
	}
	sp.hash = f.Hash()
	deps, depWarnings := parseDeps(name, f, ex)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	u := s.units[name]
	if u == nil {
		path := filepath.Join(s.logDir, logFileName(name))
		u = newSvc(s, name, newLogWriter(path, s.cfg.LogMaxBytes, s.cfg.LogKeep))
		s.units[name] = u
	}
	u.define(sp)
	for _, w := range sp.warnings {
		u.event("%s: %s", name, w)
		s.cfg.Logf("%s: %s", name, w)
	}
	u.deps = deps
	s.depsChangedLocked()
	for _, w := range depWarnings {
		u.event("%s: %s", name, w)
	}
	return nil
}

// depsChangedLocked drops the dependency graph after a change of the
// units or their dependencies; s.mu is held.
func (s *Supervisor) depsChangedLocked() {
	s.g = nil
	has := false
	for _, u := range s.units {
		if !u.deps.empty() {
			has = true
			break
		}
	}
	s.anyDeps.Store(has)
}

// lookup returns a loaded unit or nil.
func (s *Supervisor) lookup(name string) *svc {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.units[name]; u != nil && !u.isRemoved() {
		return u
	}
	return nil
}

// Start starts a loaded unit; it is a no-op for an active one.
func (s *Supervisor) Start(name string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if s.lookup(name) == nil {
		return unitmgr.ErrNotLoaded
	}
	return s.startWith(name)
}

// Stop begins stopping a unit; it is a no-op for an inactive one. The
// running units that need it (Requires=, Requisite=, BindsTo=, PartOf=,
// RequiredBy=) stop too, and start again when it is next active.
func (s *Supervisor) Stop(name string) error {
	u := s.lookup(name)
	if u == nil {
		return unitmgr.ErrNotLoaded
	}
	// Dependents first: those ordered after it stop before it does.
	s.stopDependents(s.graph(), name, "was stopped")
	u.stop()
	return nil
}

// Unload begins stopping the unit and forgets it; its log stays on disk.
func (s *Supervisor) Unload(name string) error {
	u := s.lookup(name)
	if u == nil {
		return unitmgr.ErrNotLoaded
	}
	s.stopDependents(s.graph(), name, "was unloaded")
	removed := u.unload()
	s.mu.Lock()
	s.depsChangedLocked()
	s.mu.Unlock()
	if removed {
		s.forget(u)
	}
	return nil
}

// forget drops u from the map once it has no runner left.
func (s *Supervisor) forget(u *svc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.units[u.name] == u && u.isRemoved() {
		delete(s.units, u.name)
		s.depsChangedLocked()
		if s.cfg.Containers != nil {
			if err := s.cfg.Containers.Destroy(u.name); err != nil {
				s.cfg.Logf("%v", err)
			}
		}
	}
}

// State reports one unit.
func (s *Supervisor) State(name string) (unit.State, bool) {
	u := s.lookup(name)
	if u == nil {
		return unit.State{}, false
	}
	return u.state(), true
}

// Units lists loaded unit names, sorted.
func (s *Supervisor) Units() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.units))
	for n, u := range s.units {
		if !u.isRemoved() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Changes delivers names of units whose state changed, coalesced.
func (s *Supervisor) Changes() <-chan string { return s.changes.C() }

func (s *Supervisor) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Supervisor) all() []*svc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*svc, 0, len(s.units))
	for _, u := range s.units {
		out = append(out, u)
	}
	return out
}

// Close stops every unit (gracefully, up to CloseTimeout, then fencing the
// rest), and releases the reaper.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.evStop)
	<-s.evDone
	units := s.all()
	for _, u := range units {
		u.stop()
	}
	var err error
	if !waitAll(units, time.Now().Add(s.cfg.CloseTimeout)) {
		err = s.Fence(time.Now().Add(5 * time.Second))
	}
	for _, u := range units {
		u.log.idle()
	}
	theReaper.release()
	s.changes.Close()
	s.devNull.Close()
	return err
}

// waitAll waits until no unit has a runner, or the deadline.
func waitAll(units []*svc, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for _, u := range units {
		if done := u.runnerDone(); done != nil {
			select {
			case <-done:
			case <-t.C:
				return false
			}
		}
	}
	return true
}
