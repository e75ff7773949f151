package agent

import (
	"context"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// newStateWriter reports unit states: only those that changed since the
// last write, batched, retried with backoff while etcd is unreachable. An
// endpoint follows its unit's state, so each mark reaches the endpoint
// writer too.
func newStateWriter(a *Agent) *changeWriter[registry.StateRecord] {
	w := newChangeWriter("report states", a.cfg.TTL, a.cfg.Logf, a.observed,
		func(ctx context.Context, lease registry.LeaseID, vals map[string]*registry.StateRecord) error {
			writes := make([]registry.StateWrite, 0, len(vals))
			for name, rec := range vals {
				writes = append(writes, registry.StateWrite{Unit: name, Record: rec})
			}
			return a.reg.WriteStates(ctx, a.cfg.Machine.ID, lease, writes)
		})
	w.onMark = func(name string) { a.endpoints.mark(name) }
	return w
}

// observed is record, told to the metrics as it is reported: the metrics'
// view of this machine's units costs no call of its own to the manager.
func (a *Agent) observed(name string) (registry.StateRecord, bool) {
	rec, ok := a.record(name)
	a.cfg.Metrics.UnitState(name, rec.State, ok)
	return rec, ok
}

// record is what this machine reports for a unit now; ok is false when the
// unit is not ours any more. Only a unit placed here is ours: one the
// manager still holds after its placement left (a fence leaves units
// loaded, and the engine may move them meanwhile) has no state row, or
// list-units would show an inactive leftover on this machine beside the
// unit's row where it runs now.
func (a *Agent) record(name string) (registry.StateRecord, bool) {
	a.mu.Lock()
	p, placed := a.desired[name]
	ap := a.applied[name]
	loadErr := a.loadErr[name]
	a.mu.Unlock()
	rec := registry.StateRecord{Unit: name, Machine: a.cfg.Machine.ID, Applied: ap.target}
	if !placed {
		return rec, false
	}
	rec.Hash = p.Hash
	if loadErr != "" {
		rec.State = unit.State{Load: unit.LoadError, Active: unit.ActiveFailed, Sub: "failed", Reason: loadErr}
		return rec, true
	}
	st, ok := a.mgr.State(name)
	if !ok {
		return rec, false
	}
	rec.State = st
	return rec, true
}
