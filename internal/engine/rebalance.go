package engine

import (
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/schedule"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// RebalancePlan is fleetctl rebalance's plan for a snapshot: the moves,
// one at a time, that even the machines out (schedule.Rebalance), from
// the same schedule input as Plan (machines being drained left out,
// units that should run, where they are placed now). Pure.
func RebalancePlan(snap *registry.Snapshot, parse ParseFunc) []schedule.Move {
	in := schedule.Snapshot{Current: map[string][]string{}}
	for id, m := range snap.Machines {
		if snap.Draining[id] {
			continue
		}
		in.Machines = append(in.Machines, schedule.Machine{ID: id, Metadata: m.Metadata, Capacity: m.Capacity})
	}
	for name, u := range snap.Units {
		if t := snap.Desired[name]; t == "" || t == registry.TargetInactive {
			continue
		}
		n, err := unit.ParseName(name)
		if err != nil || n.IsTemplate() {
			continue
		}
		fl, err := parse(n, u)
		if err != nil {
			continue
		}
		in.Units = append(in.Units, schedule.Unit{Name: name, Fleet: fl})
	}
	for name, ps := range snap.Placements {
		for _, p := range ps {
			in.Current[name] = append(in.Current[name], p.Machine)
		}
	}
	return schedule.Rebalance(in)
}
