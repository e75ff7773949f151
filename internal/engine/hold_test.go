package engine

import (
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// snapOf is a snapshot with the registered machines and one unit placed
// on each of placed.
func snapOf(registered []string, placed ...string) *registry.Snapshot {
	s := &registry.Snapshot{Machines: map[string]*registry.MachineRecord{}, Placements: map[string][]*registry.Placement{}}
	for _, m := range registered {
		s.Machines[m] = &registry.MachineRecord{ID: m}
	}
	for _, m := range placed {
		u := "u-" + m + ".service"
		s.Placements[u] = append(s.Placements[u], &registry.Placement{Unit: u, Machine: m})
	}
	return s
}

// TestHoldMassLoss: one machine of three vanishing moves at once; two of
// three hold placements until both are back or one TTL has passed.
func TestHoldMassLoss(t *testing.T) {
	const ttl = 5 * time.Second
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name       string
		registered []string
		at         time.Duration
		want       time.Duration
	}{
		{"all registered", []string{"a", "b", "c"}, 0, 0},
		{"one of three vanished", []string{"a", "b"}, 0, 0},
		{"all back", []string{"a", "b", "c"}, 0, 0},
		{"two of three vanished", []string{"a"}, time.Second, ttl},
		{"one back, one still gone", []string{"a", "b"}, 2 * time.Second, ttl - time.Second},
		{"both back", []string{"a", "b", "c"}, 3 * time.Second, 0},
		{"two vanish again", []string{"c"}, 10 * time.Second, ttl},
		{"hold over", []string{"c"}, 10*time.Second + ttl, 0},
		{"still over", []string{"c", "b"}, 11*time.Second + ttl, 0},
	}
	e := New(nil, Config{TTL: ttl})
	for _, s := range steps {
		got := e.holdMassLoss(snapOf(s.registered, "a", "b", "c"), t0.Add(s.at))
		if got != s.want {
			t.Errorf("%s: hold %s, want %s", s.name, got, s.want)
		}
	}
}
