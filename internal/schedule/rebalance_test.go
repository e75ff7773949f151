package schedule

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// applyMoves returns placements with moves made, checking each starts where
// the unit is.
func applyMoves(t *testing.T, placements P, moves []Move) P {
	t.Helper()
	out := P{}
	for u, ms := range placements {
		out[u] = slices.Clone(ms)
	}
	for _, mv := range moves {
		if !slices.Equal(out[mv.Unit], []string{mv.From}) {
			t.Fatalf("move %v: the unit is on %v", mv, out[mv.Unit])
		}
		out[mv.Unit] = []string{mv.To}
	}
	return out
}

// checkRebalance checks that Rebalance's moves leave a valid placement that
// Place keeps, every other unit where it was.
func checkRebalance(t *testing.T, s Snapshot) []Move {
	t.Helper()
	r := Place(s)
	moves := Rebalance(s)
	after := applyMoves(t, r.Placements, moves)
	s2 := s
	s2.Current = after
	r2 := Place(s2)
	// Every placement stays; a unit that could not be placed before may
	// be now (a move freed room for it, or left a machine it conflicted on).
	for u, ms := range after {
		for _, m := range ms {
			if !slices.Contains(r2.Placements[u], m) {
				t.Fatalf("after rebalancing by %v, Place does not keep %s on %s:\nmoved %v\nplace %v", moves, u, m, after, r2.Placements)
			}
		}
	}
	checkInvariants(t, s2, r2)
	return moves
}

func TestRebalance(t *testing.T) {
	n := func(prefix string, k int, xfleet ...string) []Unit {
		var us []Unit
		for i := 1; i <= k; i++ {
			us = append(us, mu(t, fmt.Sprintf("%s%d.service", prefix, i), xfleet...))
		}
		return us
	}
	on := func(machine string, units []Unit) P {
		p := P{}
		for _, u := range units {
			p[u.Name] = []string{machine}
		}
		return p
	}
	merge := func(ps ...P) P {
		out := P{}
		for _, p := range ps {
			maps.Copy(out, p)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		machines []Machine
		units    []Unit
		current  P
		want     []Move
	}{
		{
			name:     "the machine back from reboot is empty: one unit from each full one",
			machines: machines("m1", "m2", "m3"),
			units:    append(n("a", 4), n("b", 4)...),
			current:  merge(on("m1", n("a", 4)), on("m2", n("b", 4))),
			want:     []Move{{"a1.service", "m1", "m3"}, {"b1.service", "m2", "m3"}},
		},
		{
			name:     "a cordoned machine takes nothing",
			machines: []Machine{{ID: "m1"}, {ID: "m2"}, {ID: "m3", Cordoned: true}},
			units:    append(n("a", 4), n("b", 4)...),
			current:  merge(on("m1", n("a", 4)), on("m2", n("b", 4))),
		},
		{
			name:     "balanced: nothing moves",
			machines: machines("m1", "m2"),
			units:    append(n("a", 2), n("b", 1)...),
			current:  merge(on("m1", n("a", 2)), on("m2", n("b", 1))),
		},
		{
			name:     "pinned, following, followed and global units stay",
			machines: machines("m1", "m2"),
			units: []Unit{mu(t, "g.service", "Global=true"), mu(t, "pin.service", "MachineID=m1"),
				mu(t, "t.service"), mu(t, "f.service", "MachineOf=t.service"), mu(t, "z.service")},
			current: P{"pin.service": {"m1"}, "t.service": {"m1"}, "f.service": {"m1"}, "z.service": {"m1"}},
			want:    []Move{{"z.service", "m1", "m2"}},
		},
		{
			name:     "conflicts and room decide which unit goes",
			machines: []Machine{sized("m1", 8, 8), sized("m2", 1, 8)},
			units: []Unit{mu(t, "a.service", "ReserveMemory=2G"), mu(t, "b.service", "Conflicts=c.service"),
				mu(t, "c.service"), mu(t, "d.service")},
			current: P{"a.service": {"m1"}, "b.service": {"m1"}, "d.service": {"m1"}, "c.service": {"m2"}},
			// a does not fit m2, b conflicts with c there: d moves.
			want: []Move{{"d.service", "m1", "m2"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Snapshot{Machines: tc.machines, Units: tc.units, Current: tc.current}
			if got := checkRebalance(t, s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("moves %v, want %v", got, tc.want)
			}
		})
	}
}
