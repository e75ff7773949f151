package sim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// Manager keeps unit states in memory.
type Manager struct {
	mu      sync.Mutex
	states  map[string]unit.State
	loaded  map[string]string // unit → hash of the file last loaded
	changes *unitmgr.Changes
	frozen  bool // between Freeze and Thaw or Fence
}

var _ unitmgr.Manager = (*Manager)(nil)

// New returns an empty simulated machine.
func New() *Manager {
	return &Manager{states: map[string]unit.State{}, loaded: map[string]string{}, changes: unitmgr.NewChanges()}
}

func (m *Manager) set(name, active, sub string) {
	hash := m.states[name].Hash
	if active == unit.ActiveActive {
		hash = m.loaded[name] // a start runs what was loaded last
	}
	m.states[name] = unit.State{Load: unit.LoadLoaded, Active: active, Sub: sub, Since: time.Now(), Hash: hash}
	m.changes.Notify(name)
}

func (m *Manager) Load(name string, f *unit.File) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f != nil { // tests that only need a loaded name pass none
		m.loaded[name] = f.Hash()
	}
	if _, ok := m.states[name]; !ok {
		m.set(name, unit.ActiveInactive, "dead")
	}
	return nil
}

func (m *Manager) transition(name, active, sub string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.states[name]
	if !ok {
		return fmt.Errorf("%s: %w", name, unitmgr.ErrNotLoaded)
	}
	if cur.Active == active {
		return nil // starting an active unit, or stopping an inactive one, is a no-op
	}
	m.set(name, active, sub)
	return nil
}

func (m *Manager) Start(name string) error {
	return m.transition(name, unit.ActiveActive, "running")
}

func (m *Manager) Stop(name string) error {
	return m.transition(name, unit.ActiveInactive, "dead")
}

func (m *Manager) Unload(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, name)
	delete(m.loaded, name)
	m.changes.Notify(name)
	return nil
}

func (m *Manager) State(name string) (unit.State, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[name]
	return s, ok
}

func (m *Manager) Units() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.states))
	for n := range m.states {
		out = append(out, n)
	}
	return out
}

func (m *Manager) Changes() <-chan string { return m.changes.C() }

func (m *Manager) Fence(time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frozen = false
	for n := range m.states {
		m.set(n, unit.ActiveInactive, "dead")
	}
	return nil
}

// Freeze marks the machine frozen; states do not change.
func (m *Manager) Freeze() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frozen = true
	return nil
}

// Thaw ends Freeze.
func (m *Manager) Thaw() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frozen = false
	return nil
}

// Frozen reports whether the units are frozen (Freeze without a Thaw or
// Fence since).
func (m *Manager) Frozen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.frozen
}

func (m *Manager) Journal(context.Context, string, int, bool, io.Writer) error { return nil }

// Close ends Changes.
func (m *Manager) Close() error {
	m.changes.Close()
	return nil
}
