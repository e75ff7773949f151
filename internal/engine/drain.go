package engine

import (
	"context"
	"slices"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/schedule"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// A drain (fleetctl drain, or the updater's mark before a reboot) takes
// the machine out of the schedule's input, so schedule.Place puts each of
// its non-global units on another machine. Moving a unit is then a
// handoff between two placements, both in etcd, so any engine that leads
// carries it on:
//
//   - make before break: when [X-Fleet] lets two copies run at once (see
//     Overlaps) and the unit should run (launched), the new placement is
//     written at once and the old one stays until the new machine reports
//     the unit active at the unit's hash, and healthy where it has checks
//     (or failed: the drain then goes on, as a failed unit anywhere). The
//     unit has two placements meanwhile; that pair is the drain's
//     progress.
//   - break before make: otherwise the old placement goes at once and the
//     new one waits until the draining machine no longer reports the unit
//     running (or no longer reports it at all: a dead machine's states go
//     with its lease).
//
// Either way a unit's gap is bounded by its own stop and start: zero for
// the first kind, stop plus start for the second.

// Overlaps reports whether two copies of a unit may run at once on
// different machines during a move: not global, not pinned by MachineID,
// and no Conflicts pattern matching its own name (fleet's way of saying
// "one at a time").
func Overlaps(name string, fl unit.Fleet) bool {
	return !fl.IsGlobal() && fl.MachineID == "" && !fl.ConflictsWith(name)
}

// handoffs is how the units leaving draining machines move, computed by
// planHandoffs.
type handoffs struct {
	// keep: unit -> draining machines whose placement stays (the new copy
	// does not run yet).
	keep map[string][]string
	// wait: units whose new placement waits for the old copy to stop.
	wait map[string]bool
}

func (h handoffs) keeps(name, machine string) bool { return slices.Contains(h.keep[name], machine) }

// planHandoffs decides the handoffs of snap's units given the schedule's
// result res; fleets holds the [X-Fleet] options of every unit that should
// run. Pure: it reads snap.States, which the engine fills while machines
// drain.
func planHandoffs(snap *registry.Snapshot, fleets map[string]unit.Fleet, res schedule.Result) handoffs {
	h := handoffs{keep: map[string][]string{}, wait: map[string]bool{}}
	if len(snap.Draining) == 0 && len(snap.Moves) == 0 {
		return h
	}
	type key struct{ unit, machine string }
	states := map[key]*registry.StateRecord{}
	for _, s := range snap.States {
		states[key{s.Unit, s.Machine}] = s
	}
	leaving := func(name, machine string) bool {
		moved := snap.Moves[name] != nil && snap.Moves[name].From == machine
		return (snap.Draining[machine] || moved) && snap.Machines[machine] != nil && !slices.Contains(res.Placements[name], machine)
	}
	for name, ps := range snap.Placements {
		fl, ok := fleets[name]
		want := res.Placements[name]
		if !ok || len(want) == 0 || snap.Desired[name] != registry.TargetLaunched || !Overlaps(name, fl) {
			continue
		}
		u := snap.Units[name]
		for _, p := range ps {
			if !leaving(name, p.Machine) {
				continue
			}
			if s := states[key{name, want[0]}]; s != nil && s.Hash == u.Hash && arrived(s.State) {
				continue
			}
			h.keep[name] = append(h.keep[name], p.Machine)
		}
	}
	for _, s := range snap.States {
		fl, ok := fleets[s.Unit]
		if !ok || Overlaps(s.Unit, fl) || !registry.Running(s.State) || !leaving(s.Unit, s.Machine) {
			continue
		}
		h.wait[s.Unit] = true
	}
	return h
}

// arrived reports whether a moved unit's new copy has settled: active (and
// healthy where it has checks), or failed.
func arrived(s unit.State) bool {
	switch s.Active {
	case "active":
		return s.Health == "" || s.Health == "healthy"
	case "failed":
		return true
	}
	return false
}

// followStates forwards unit state changes to events while a machine
// drains (draining), so a handoff completes as soon as the new copy runs
// or the old one stops. An idle cluster's states do not change, and a busy
// one's wake the engine only during drains.
func (e *Engine) followStates(ctx context.Context, events chan struct{}) {
	states := make(chan struct{}, 1)
	e.reg.WatchStates(ctx, states)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-states:
				if !e.draining.Load() {
					continue
				}
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}
	}()
}

// Moves (registry.RequestMove: moves/<unit> = {From, To}) are how a unit
// leaves one machine without draining it, for fleetctl rebalance: the
// unit's placement on From is left out of the schedule's Current, and To
// (if given) put in, so schedule.Place keeps it on To where every rule
// allows and otherwise places it as any unit; the handoff from From is
// then the drain's (planHandoffs). The engine deletes the request once the
// unit is placed elsewhere and gone from From, or when the move cannot
// happen (the unit should not run, or Place puts it back on From).

// steerMoves rewrites current (unit -> machines, the schedule's input) for
// the pending moves.
func steerMoves(snap *registry.Snapshot, current map[string][]string) {
	for name, m := range snap.Moves {
		ms := slices.DeleteFunc(current[name], func(id string) bool { return id == m.From })
		if m.To != "" && m.To != m.From && !slices.Contains(ms, m.To) {
			ms = append(ms, m.To)
		}
		if len(ms) == 0 {
			delete(current, name)
			continue
		}
		current[name] = ms
	}
}

// clearMoves returns the deletions of the move requests that are done or
// cannot be done.
func clearMoves(snap *registry.Snapshot, fleets map[string]unit.Fleet, res schedule.Result) []registry.Change {
	var out []registry.Change
	for name, m := range snap.Moves {
		_, runs := fleets[name]
		onFrom, elsewhere := false, false
		for _, p := range snap.Placements[name] {
			if p.Machine == m.From {
				onFrom = true
			} else {
				elsewhere = true
			}
		}
		if !runs || slices.Contains(res.Placements[name], m.From) || (!onFrom && elsewhere) || len(res.Placements[name]) == 0 {
			out = append(out, registry.ClearMove(name))
		}
	}
	return out
}
