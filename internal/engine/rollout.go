package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/rollout"
)

// RolloutPoll is how often the leader looks at agents' states while a
// rollout is active. Only then: an idle cluster reads and writes nothing.
const RolloutPoll = 200 * time.Millisecond

// heldByRollout returns the placement a rollout keeps at its current revision: the
// current placement of unitName on machine while an active rollout still
// has that instance pending; nil otherwise.
func heldByRollout(snap *registry.Snapshot, unitName, machine string) *registry.Placement {
	cur := find(snap.Placements[unitName], machine)
	if cur == nil {
		return nil // a new placement gets the unit's (target) revision
	}
	for _, ro := range snap.Rollouts {
		if ro.Holds(unitName, machine) {
			return cur
		}
	}
	return nil
}

// stoppedByRollout reports whether a rolling restart is stopping the
// instance of unitName on machine.
func stoppedByRollout(snap *registry.Snapshot, unitName, machine string) bool {
	for _, ro := range snap.Rollouts {
		if ro.Stops(unitName, machine) {
			return true
		}
	}
	return false
}

// advanceRollouts takes one step of every active rollout in snap and
// reports whether any is still active (the caller looks again after
// RolloutPoll).
func (e *Engine) advanceRollouts(ctx context.Context, guard registry.Guard, snap *registry.Snapshot, now time.Time) (active bool, err error) {
	var names []string
	for name, ro := range snap.Rollouts {
		if ro.Active() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return false, nil
	}
	slices.Sort(names)
	states, err := e.reg.States(ctx)
	if err != nil {
		return true, err
	}
	obs := Observe(snap, states)
	for _, name := range names {
		ro := snap.Rollouts[name]
		res := rollout.Step(ro, obs, now)
		if !res.Changed {
			continue
		}
		var revert []*registry.UnitRecord
		if res.Revert {
			revert, err = e.previous(ctx, snap, ro)
			if err != nil {
				ro.Reason += "; cannot revert: " + err.Error()
				ro.State = rollout.Failed
				revert = nil
			}
		}
		err := e.reg.AdvanceRollout(ctx, guard, ro, snap.RolloutRevs[name], revert)
		switch {
		case errors.Is(err, registry.ErrConflict):
			continue // paused or aborted meanwhile: the watch brings us back
		case err != nil:
			return true, err
		}
		if !ro.Active() {
			e.cfg.Logf("engine: rollout %s %s %s", name, ro.State, ro.Reason)
		}
		if res.Revert && ro.Reason != "aborted" {
			for u, revs := range ro.Units {
				if err := e.reg.MarkRevisionFailed(ctx, u, revs.To, ro.Reason); err != nil {
					e.cfg.Logf("engine: rollout %s: mark revision %.7s of %s failed: %v", name, revs.To, u, err)
				}
			}
		}
	}
	return true, nil
}

// previous returns each unit of ro at the revision it had before; a unit
// destroyed meanwhile stays destroyed, one replaced meanwhile (by a plain
// submit --replace) keeps that file.
func (e *Engine) previous(ctx context.Context, snap *registry.Snapshot, ro *rollout.Rollout) ([]*registry.UnitRecord, error) {
	var out []*registry.UnitRecord
	for name, revs := range ro.Units {
		if revs.From == "" || revs.From == revs.To {
			continue
		}
		if u := snap.Units[name]; u == nil || u.Hash != revs.To {
			continue
		}
		rev, err := e.reg.FindRevision(ctx, name, revs.From)
		if err != nil {
			return nil, err
		}
		if rev == nil {
			return nil, fmt.Errorf("revision %.7s of %s is no longer kept", revs.From, name)
		}
		out = append(out, &registry.UnitRecord{Name: name, Hash: rev.Hash, Options: rev.Options})
	}
	slices.SortFunc(out, func(a, b *registry.UnitRecord) int { return cmpString(a.Name, b.Name) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Observe turns the agents' states into what rollout.Step reads, keyed by
// rollout.Key: a unit on the machine it is placed on, and a unit on each
// machine (for a Global unit's items).
func Observe(snap *registry.Snapshot, states []*registry.StateRecord) map[string]rollout.Obs {
	obs := map[string]rollout.Obs{}
	for _, st := range states {
		o := rollout.Obs{Hash: st.State.Hash, Active: st.State.Active, Health: st.State.Health}
		if o.Hash == "" {
			o.Hash = st.Hash
		}
		obs[rollout.Key(st.Unit, st.Machine)] = o
		if ps := snap.Placements[st.Unit]; len(ps) == 1 && ps[0].Machine == st.Machine {
			obs[st.Unit] = o
		}
	}
	return obs
}
