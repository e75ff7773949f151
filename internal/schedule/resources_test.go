package schedule

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

const gib = 1 << 30

// sized is a machine with capacity: memory in GiB, CPUs.
func sized(id string, memGiB, cpus float64) Machine {
	return Machine{ID: id, Capacity: unit.Resources{Memory: int64(memGiB * gib), MilliCPU: int64(cpus * 1000)}}
}

func TestPlaceResources(t *testing.T) {
	for _, tc := range []struct {
		name     string
		machines []Machine
		units    func(t *testing.T) []Unit
		current  P
		want     P
		unplaced map[string]string // unit -> substring of the reason
	}{
		{
			name:     "ten 2 GiB databases on a 4 GiB and an 8 GiB machine: six fit, never overcommitted",
			machines: []Machine{sized("m1", 4, 4), sized("m2", 8, 4)},
			units: func(t *testing.T) []Unit {
				var us []Unit
				for i := 0; i < 10; i++ {
					us = append(us, mu(t, fmt.Sprintf("db%d.service", i), "ReserveMemory=2G"))
				}
				return us
			},
			// Most room first: m2 (8) takes db0, then m2 (6) db1, then
			// m1 (4) ties m2 (4) and wins by ID; ...
			want: P{"db0.service": {"m2"}, "db1.service": {"m2"}, "db2.service": {"m1"}, "db3.service": {"m2"},
				"db4.service": {"m1"}, "db5.service": {"m2"}},
			unplaced: map[string]string{
				"db6.service": "no machine has 2 GiB memory free; none has any left",
				"db9.service": "no machine has 2 GiB memory free",
			},
		},
		{
			name:     "the reason names the largest free and where",
			machines: []Machine{sized("m1", 1.5, 2), sized("m2", 2.2, 2)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "ReserveMemory=1G"), mu(t, "big.service", "ReserveMemory=2G")}
			},
			want:     P{"a.service": {"m2"}},
			unplaced: map[string]string{"big.service": "no machine has 2 GiB memory free; largest free 1.5 GiB on m1"},
		},
		{
			name:     "largest free is fractional",
			machines: []Machine{sized("m1", 1.25, 2), sized("m2", 1.2, 2)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "big.service", "ReserveMemory=2G")}
			},
			unplaced: map[string]string{"big.service": "no machine has 2 GiB memory free; largest free 1.2 GiB on m1"},
		},
		{
			name:     "CPU: MemoryMax and CPUQuota reserve",
			machines: []Machine{sized("m1", 4, 1), sized("m2", 4, 2)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "ReserveCPU=150%"), mu(t, "b.service", "ReserveCPU=1"), mu(t, "c.service", "ReserveCPU=1")}
			},
			want:     P{"a.service": {"m2"}, "b.service": {"m1"}},
			unplaced: map[string]string{"c.service": "no machine has 1 CPU free; largest free 0.5 CPUs on m2"},
		},
		{
			name:     "units without reservations keep least-loaded placement and ignore capacity",
			machines: []Machine{sized("m1", 1, 1), machines("m2")[0]},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service"), mu(t, "b.service"), mu(t, "c.service")}
			},
			want: P{"a.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m1"}},
		},
		{
			name:     "a machine reporting no capacity takes no reservation",
			machines: machines("m1", "m2"),
			units:    func(t *testing.T) []Unit { return []Unit{mu(t, "a.service", "ReserveMemory=1M")} },
			unplaced: map[string]string{"a.service": "no machine reports its memory capacity (fleetd --capacity-memory), and the unit reserves 1 MiB memory"},
		},
		{
			name:     "running units keep their machine; new ones go where there is room",
			machines: []Machine{sized("m1", 4, 4), sized("m2", 8, 4)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "ReserveMemory=3G"), mu(t, "b.service", "ReserveMemory=3G"), mu(t, "c.service", "ReserveMemory=3G")}
			},
			current: P{"a.service": {"m1"}},
			want:    P{"a.service": {"m1"}, "b.service": {"m2"}, "c.service": {"m2"}},
		},
		{
			name:     "a unit over capacity where it runs moves (capacity shrank)",
			machines: []Machine{sized("m1", 4, 4), sized("m2", 8, 4)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "a.service", "ReserveMemory=3G"), mu(t, "b.service", "ReserveMemory=3G")}
			},
			current: P{"a.service": {"m1"}, "b.service": {"m1"}},
			want:    P{"a.service": {"m1"}, "b.service": {"m2"}},
		},
		{
			name:     "pinned by MachineID with no room there",
			machines: []Machine{sized("m1", 1, 4), sized("m2", 8, 4)},
			units:    func(t *testing.T) []Unit { return []Unit{mu(t, "a.service", "MachineID=m1", "ReserveMemory=2G")} },
			unplaced: map[string]string{"a.service": "no machine has 2 GiB memory free; largest free 1 GiB on m1"},
		},
		{
			name:     "a global unit reserves on each machine and skips those without room",
			machines: []Machine{sized("m1", 1, 4), sized("m2", 8, 4)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "g.service", "Global=true", "ReserveMemory=2G"), mu(t, "a.service", "ReserveMemory=6G"), mu(t, "b.service", "ReserveMemory=1G")}
			},
			want: P{"g.service": {"m2"}, "a.service": {"m2"}, "b.service": {"m1"}},
		},
		{
			name:     "replacing frees the replaced unit's room",
			machines: []Machine{sized("m1", 4, 4)},
			units: func(t *testing.T) []Unit {
				return []Unit{mu(t, "old.service", "ReserveMemory=3G"), mu(t, "new.service", "Replaces=old.service", "ReserveMemory=3G")}
			},
			current:  P{"old.service": {"m1"}},
			want:     P{"new.service": {"m1"}},
			unplaced: map[string]string{"old.service": "m1, runs new.service, which replaces it"},
		},
		{
			name:     "memory free on one machine, CPU on another",
			machines: []Machine{sized("m1", 8, 0.5), sized("m2", 0.5, 8)},
			units:    func(t *testing.T) []Unit { return []Unit{mu(t, "a.service", "ReserveMemory=2G", "ReserveCPU=2")} },
			unplaced: map[string]string{"a.service": "no machine has memory 2 GiB, 2 CPUs free at once"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Snapshot{Machines: tc.machines, Units: tc.units(t), Current: tc.current}
			r := Place(s)
			want := tc.want
			if want == nil {
				want = P{}
			}
			if !reflect.DeepEqual(r.Placements, want) {
				t.Errorf("placements:\n got %v\nwant %v", r.Placements, want)
			}
			for u, sub := range tc.unplaced {
				if !strings.Contains(r.Unplaceable[u], sub) {
					t.Errorf("unplaceable[%s] = %q, want it to contain %q", u, r.Unplaceable[u], sub)
				}
			}
			if len(r.Placements)+len(r.Unplaceable) != len(s.Units) {
				t.Errorf("%d placed + %d unplaceable != %d units", len(r.Placements), len(r.Unplaceable), len(s.Units))
			}
			checkInvariants(t, s, r)
			s2 := s
			s2.Current = r.Placements
			if r2 := Place(s2); !reflect.DeepEqual(r2.Placements, r.Placements) {
				t.Errorf("not a fixed point: fed back, placements become %v", r2.Placements)
			}
		})
	}
}
