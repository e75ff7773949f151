package registry

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PlacementEvent is one change to a machine's placements.
type PlacementEvent struct {
	Unit      string
	Placement *Placement // nil: the placement was deleted
}

// ErrWatchClosed: etcd ended a watch without an error (the client closed).
var ErrWatchClosed = errors.New("registry: watch closed")

// WatchPlacements follows a machine's placements from revision rev (the
// one Placements returned, plus one) and calls fn with each batch of
// changes, in order. It returns when the watch fails (etcd lost its leader,
// the revision was compacted, ...) or ctx is done; the caller reads again
// and watches anew. A placement that does not decode is skipped.
func (r *Registry) WatchPlacements(ctx context.Context, machine string, rev int64, fn func([]PlacementEvent)) error {
	wch := r.cli.Watch(clientv3.WithRequireLeader(ctx), machinePlacementPrefix(machine), clientv3.WithPrefix(), clientv3.WithRev(rev))
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return fmt.Errorf("registry: watch placements of %s: %w", machine, err)
		}
		evs := make([]PlacementEvent, 0, len(resp.Events))
		for _, ev := range resp.Events {
			name := placementUnit(string(ev.Kv.Key))
			if ev.Type == clientv3.EventTypeDelete {
				evs = append(evs, PlacementEvent{Unit: name})
				continue
			}
			if p, err := decodePlacement(ev.Kv.Value); err == nil {
				evs = append(evs, PlacementEvent{Unit: name, Placement: p})
			}
		}
		fn(evs)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("registry: watch placements of %s: %w", machine, ErrWatchClosed)
}

// WatchEngine signals on events (without blocking: a full channel already
// says "something changed") whenever anything the engine places from
// changes: units, desired states, machines, draining marks, cordons, API-set
// metadata, move requests, rollouts. It watches
// until ctx is done.
func (r *Registry) WatchEngine(ctx context.Context, events chan<- struct{}) {
	for _, prefix := range []string{unitsDir, desiredDir, machinesDir, drainDir, metadataDir, cordonDir, movesDir, rolloutsDir} {
		wch := r.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		go func() {
			for range wch {
				select {
				case events <- struct{}{}:
				default:
				}
			}
		}()
	}
}
