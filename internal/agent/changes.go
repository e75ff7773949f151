package agent

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// changeWriter writes a per-unit value on the machine's lease, only where
// it differs from the last value written: the names marked since the last
// write are gathered for batchWindow, written in one call, and retried
// with backoff while etcd fails. Unit states and endpoints use one each,
// so an idle machine writes nothing.
type changeWriter[T any] struct {
	what    string                                                                      // "report states", for the log
	current func(name string) (T, bool)                                                 // the value now; false: none (delete)
	write   func(ctx context.Context, lease registry.LeaseID, vals map[string]*T) error // nil value: delete
	onMark  func(name string)                                                           // also told of every mark, if set
	ttl     time.Duration
	logf    func(string, ...any)

	mu      sync.Mutex
	lease   registry.LeaseID
	pending map[string]bool
	written map[string]T
	wake    chan struct{}
}

func newChangeWriter[T any](what string, ttl time.Duration, logf func(string, ...any),
	current func(string) (T, bool), write func(context.Context, registry.LeaseID, map[string]*T) error) *changeWriter[T] {
	return &changeWriter[T]{what: what, current: current, write: write, ttl: ttl, logf: logf,
		pending: map[string]bool{}, written: map[string]T{}, wake: make(chan struct{}, 1)}
}

// batchWindow is how long changes are gathered before a write.
const batchWindow = 10 * time.Millisecond

// setLease starts a new lease: every value written is written again on it.
func (w *changeWriter[T]) setLease(id registry.LeaseID) {
	w.mu.Lock()
	w.lease = id
	for name := range w.written {
		w.pending[name] = true
	}
	w.written = map[string]T{}
	w.mu.Unlock()
	w.poke()
}

func (w *changeWriter[T]) mark(name string) {
	w.mu.Lock()
	w.pending[name] = true
	w.mu.Unlock()
	if w.onMark != nil {
		w.onMark(name)
	}
	w.poke()
}

func (w *changeWriter[T]) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes until ctx ends; changes (nil for none) names units to mark.
func (w *changeWriter[T]) run(ctx context.Context, changes <-chan string) {
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
		// (hundreds of units starting after a failover) is written in a
		// few transactions rather than one per handful of units.
		if !w.gather(ctx, changes) {
			return
		}
		if err := w.flush(ctx); err != nil {
			w.logf("agent: %s: %v (retrying in %s)", w.what, err, backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			w.poke()
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// gather marks the changes that arrive within batchWindow; false when ctx ends.
func (w *changeWriter[T]) gather(ctx context.Context, changes <-chan string) bool {
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

// flush writes every pending value that differs from the last written.
func (w *changeWriter[T]) flush(ctx context.Context) error {
	w.mu.Lock()
	names := w.pending
	w.pending = map[string]bool{}
	lease := w.lease
	w.mu.Unlock()
	if lease == 0 {
		w.requeue(names)
		return nil
	}
	vals := map[string]*T{}
	for name := range names {
		v, ok := w.current(name)
		w.mu.Lock()
		old, had := w.written[name]
		w.mu.Unlock()
		switch {
		case !ok && had:
			vals[name] = nil
		case ok && (!had || !reflect.DeepEqual(old, v)):
			vals[name] = &v
		}
	}
	if len(vals) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, w.ttl)
	defer cancel()
	if err := w.write(wctx, lease, vals); err != nil {
		w.requeue(names)
		return err
	}
	w.mu.Lock()
	for name, v := range vals {
		if v == nil {
			delete(w.written, name)
		} else {
			w.written[name] = *v
		}
	}
	w.mu.Unlock()
	return nil
}

func (w *changeWriter[T]) requeue(names map[string]bool) {
	w.mu.Lock()
	for n := range names {
		w.pending[n] = true
	}
	w.mu.Unlock()
}
