package schedule

import (
	"slices"
	"sort"
)

// Move is one step of a rebalance: take Unit from machine From to To.
type Move struct {
	Unit, From, To string
}

// Rebalance plans how to even out a cluster, for fleetctl rebalance (it
// never runs on its own): the moves, to be made one at a time in order,
// that bring each machine's unit count (global units included) as close
// to the others' as the rules allow. Placement itself never moves a
// running unit, so after nodes come back (the last to reboot in a rolling
// update is empty) only a rebalance fills them.
//
// s.Current is where units run now; units are placed as Place would first.
// Each step takes the most loaded machine (ties by ID) and moves to the
// least loaded one that can take it the first unit, by name, that may move
// alone and that every rule allows there: not global, not pinned by
// MachineID, following no unit and followed by none (MachineOf moves them
// together, which one step cannot), replacing nothing there, conflicting
// with nothing there, fitting what is left of its capacity, and leaving
// every placement as Place would keep it (moving a unit away may let a
// unit that replaces another in: no such move is made). Steps stop
// when no move narrows a gap of two units or more. Every step leaves a
// valid placement, so Place fed the moved placements as Current keeps
// them: the engine holds the result. Pure and deterministic.
func Rebalance(s Snapshot) []Move {
	p, _ := run(s)
	now := p.result().Placements
	// A move the rules allow may still unblock a unit that evicts another
	// (Replaces): each move is checked against Place itself, which must
	// keep every placement.
	keeps := func(mv Move) bool {
		next := make(map[string][]string, len(now))
		for u, ms := range now {
			next[u] = ms
		}
		next[mv.Unit] = []string{mv.To}
		t := s
		t.Current = next
		r := Place(t)
		for u, ms := range next {
			for _, m := range ms {
				if !slices.Contains(r.Placements[u], m) {
					return false
				}
			}
		}
		now = next
		return true
	}
	var moves []Move
	// Each step moves a unit from a machine with load L to one with load
	// at most L-2, which lowers the sum of squared loads: steps are bounded.
	for {
		mv, ok := p.rebalanceStep(keeps)
		if !ok {
			return moves
		}
		moves = append(moves, mv)
	}
}

// run computes the placement of s, returning its working state.
func run(s Snapshot) (*placer, bool) {
	pass := func(static bool) (*placer, bool) {
		p := newPlacer(s, static)
		p.placeGlobals()
		p.keepCurrent()
		settled := p.placeRest()
		p.placeConflictingGlobals()
		return p, settled
	}
	p, settled := pass(false)
	if p.keptHolderFailed() {
		// A Replaces cycle's running unit could not stay: choose by the
		// units alone, as a run without it would (see oneOfReplacesCycles).
		p, settled = pass(true)
	}
	return p, settled
}

func (p *placer) rebalanceStep(keeps func(Move) bool) (Move, bool) {
	byLoad := make([]int, len(p.machines))
	for m := range byLoad {
		byLoad[m] = m
	}
	sort.SliceStable(byLoad, func(a, b int) bool { return p.load[byLoad[a]] > p.load[byLoad[b]] })
	// Most loaded first; for each, the least loaded targets first.
	for _, from := range byLoad {
		members := append([]int(nil), p.members[from]...)
		sort.Ints(members) // unit indexes are in name order
		for k := len(byLoad) - 1; k >= 0; k-- {
			to := byLoad[k]
			if p.load[from]-p.load[to] < 2 {
				break
			}
			for _, i := range members {
				if p.on[i] != from || !p.movable(i) {
					continue
				}
				u := p.units[i]
				p.remove(i)
				if p.metaOK(u, to) && p.mayPlace(u, to) && !p.conflicts(u, to) && !p.mustEvict(u, to) && p.fits(u, to) {
					mv := Move{Unit: u.name, From: p.machines[from].ID, To: p.machines[to].ID}
					if keeps(mv) {
						p.add(i, to)
						return mv, true
					}
				}
				p.add(i, from)
			}
		}
	}
	return Move{}, false
}

// movable reports whether unit i may move alone (see Rebalance).
func (p *placer) movable(i int) bool {
	u := p.units[i]
	return !u.fl.Global && u.fl.MachineID == "" && len(u.targets) == 0 && len(u.followers) == 0 && len(u.fl.MachineOf) == 0
}
