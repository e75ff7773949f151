package agent

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// stateWriter reports unit states: only those that changed since the last
// write, batched into as few transactions as possible, retried with backoff
// while etcd is unreachable.
type stateWriter struct {
	a *Agent

	mu      sync.Mutex
	lease   registry.LeaseID
	pending map[string]bool
	written map[string]registry.StateRecord
	wake    chan struct{}
}

func newStateWriter(a *Agent) *stateWriter {
	return &stateWriter{a: a, pending: map[string]bool{}, written: map[string]registry.StateRecord{}, wake: make(chan struct{}, 1)}
}

// setLease starts a new lease: every state is written again on it.
func (w *stateWriter) setLease(id registry.LeaseID) {
	w.mu.Lock()
	w.lease = id
	for name := range w.written {
		w.pending[name] = true
	}
	w.written = map[string]registry.StateRecord{}
	w.mu.Unlock()
	for _, name := range w.a.mgr.Units() {
		w.mark(name)
	}
}

func (w *stateWriter) mark(name string) {
	w.mu.Lock()
	w.pending[name] = true
	w.mu.Unlock()
	w.a.endpoints.mark(name) // an endpoint follows its unit's state
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *stateWriter) run(ctx context.Context) {
	changes := w.a.mgr.Changes()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-changes:
			w.mark(name)
			continue
		case <-w.wake:
		}
		// Gather what else changes in the next moment, so that a burst
		// (hundreds of units starting after a failover) is reported in a
		// few transactions rather than one per handful of units.
		if !w.gather(ctx, changes) {
			return
		}
		if err := w.flush(ctx); err != nil {
			w.a.cfg.Logf("agent: report states: %v (retrying in %s)", err, backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			w.mark("")
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// batchWindow is how long state changes are gathered before a write.
const batchWindow = 10 * time.Millisecond

// gather marks the changes that arrive within batchWindow; false when ctx ends.
func (w *stateWriter) gather(ctx context.Context, changes <-chan string) bool {
	t := time.NewTimer(batchWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case name := <-changes:
			w.mark(name)
		case <-t.C:
			return true
		}
	}
}

// flush writes every pending state that differs from what was last written.
func (w *stateWriter) flush(ctx context.Context) error {
	w.mu.Lock()
	names := w.pending
	w.pending = map[string]bool{}
	lease := w.lease
	w.mu.Unlock()
	if lease == 0 {
		w.requeue(names)
		return nil
	}
	var writes []registry.StateWrite
	recs := map[string]registry.StateRecord{}
	for name := range names {
		if name == "" {
			continue
		}
		rec, ok := w.a.record(name)
		w.mu.Lock()
		old, had := w.written[name]
		w.mu.Unlock()
		switch {
		case !ok && had:
			writes = append(writes, registry.StateWrite{Unit: name})
		case ok && (!had || !reflect.DeepEqual(old, rec)):
			r := rec
			writes = append(writes, registry.StateWrite{Unit: name, Record: &r})
			recs[name] = rec
		}
	}
	if len(writes) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, w.a.cfg.TTL)
	defer cancel()
	if err := w.a.reg.WriteStates(wctx, w.a.cfg.Machine.ID, lease, writes); err != nil {
		w.requeue(names)
		return err
	}
	w.mu.Lock()
	for _, wr := range writes {
		if wr.Record == nil {
			delete(w.written, wr.Unit)
		} else {
			w.written[wr.Unit] = recs[wr.Unit]
		}
	}
	w.mu.Unlock()
	return nil
}

func (w *stateWriter) requeue(names map[string]bool) {
	w.mu.Lock()
	for n := range names {
		w.pending[n] = true
	}
	w.mu.Unlock()
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
