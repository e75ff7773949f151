package systemd

import (
	"errors"
	"testing"
)

// TestFreezeThawUnits: Freeze freezes every running unit through systemd
// and Thaw thaws them; where systemd cannot freeze, Freeze leaves nothing
// frozen and says ErrNoFreeze, so the agent fences instead.
func TestFreezeThawUnits(t *testing.T) {
	m, f := newTest(t)
	for _, name := range []string{"a.service", "b.service", "idle.service"} {
		if err := m.Load(name, file(t, sleeper)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a.service", "b.service"} {
		if err := m.Start(name); err != nil {
			t.Fatal(err)
		}
		waitActive(t, m, name, "active", "running")
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if !f.Frozen("a.service") || !f.Frozen("b.service") || f.Frozen("idle.service") {
		t.Errorf("frozen a=%v b=%v idle=%v; want the two running units", f.Frozen("a.service"), f.Frozen("b.service"), f.Frozen("idle.service"))
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f.Frozen("a.service") || f.Frozen("b.service") {
		t.Error("a unit is still frozen after Thaw")
	}

	f.mu.Lock()
	f.noFreezer = true
	f.mu.Unlock()
	err := m.Freeze()
	if !errors.Is(err, ErrNoFreeze) {
		t.Fatalf("Freeze without a freezer: %v, want ErrNoFreeze", err)
	}
	if f.Frozen("a.service") || f.Frozen("b.service") {
		t.Error("a failed Freeze left a unit frozen")
	}
}
