package agent

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/netbridge"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// endpointWriter publishes where this machine's active units can be
// reached (registry.Endpoint), on the machine's lease, written on change
// only: it is told of every unit the state writer is told of, and writes
// only what differs from its last write. An idle machine writes nothing.
type endpointWriter struct {
	a *Agent

	mu      sync.Mutex
	lease   registry.LeaseID
	pending map[string]bool
	written map[string]registry.Endpoint
	wake    chan struct{}
}

func newEndpointWriter(a *Agent) *endpointWriter {
	return &endpointWriter{a: a, pending: map[string]bool{}, written: map[string]registry.Endpoint{}, wake: make(chan struct{}, 1)}
}

// setLease starts a new lease: every endpoint is written again on it.
func (w *endpointWriter) setLease(id registry.LeaseID) {
	w.mu.Lock()
	w.lease = id
	for name := range w.written {
		w.pending[name] = true
	}
	w.written = map[string]registry.Endpoint{}
	w.mu.Unlock()
	w.poke()
}

func (w *endpointWriter) mark(name string) {
	w.mu.Lock()
	w.pending[name] = true
	w.mu.Unlock()
	w.poke()
}

func (w *endpointWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *endpointWriter) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		// Let a burst of changes gather, as the state writer does.
		select {
		case <-ctx.Done():
			return
		case <-time.After(batchWindow):
		}
		if err := w.flush(ctx); err != nil {
			w.a.cfg.Logf("agent: publish endpoints: %v (retrying in %s)", err, backoff)
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

// flush writes every pending endpoint that differs from the last write.
func (w *endpointWriter) flush(ctx context.Context) error {
	w.mu.Lock()
	names := w.pending
	w.pending = map[string]bool{}
	lease := w.lease
	w.mu.Unlock()
	if lease == 0 {
		w.requeue(names)
		return nil
	}
	var writes []registry.EndpointWrite
	for name := range names {
		ep, ok := w.a.endpoint(name)
		w.mu.Lock()
		old, had := w.written[name]
		w.mu.Unlock()
		switch {
		case !ok && had:
			writes = append(writes, registry.EndpointWrite{Unit: name})
		case ok && (!had || !reflect.DeepEqual(old, ep)):
			e := ep
			writes = append(writes, registry.EndpointWrite{Unit: name, Endpoint: &e})
		}
	}
	if len(writes) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, w.a.cfg.TTL)
	defer cancel()
	if err := w.a.reg.WriteEndpoints(wctx, w.a.cfg.Machine.ID, lease, writes); err != nil {
		w.requeue(names)
		return err
	}
	w.mu.Lock()
	for _, wr := range writes {
		if wr.Endpoint == nil {
			delete(w.written, wr.Unit)
		} else {
			w.written[wr.Unit] = *wr.Endpoint
		}
	}
	w.mu.Unlock()
	return nil
}

func (w *endpointWriter) requeue(names map[string]bool) {
	w.mu.Lock()
	for n := range names {
		w.pending[n] = true
	}
	w.mu.Unlock()
}

// endpoint is what this machine publishes for a unit now; ok is false when
// the unit is not placed here or not active. A unit that is active but
// unhealthy is published with its health, and DNS leaves it out.
func (a *Agent) endpoint(name string) (registry.Endpoint, bool) {
	rec, ok := a.record(name)
	if !ok || rec.State.Active != unit.ActiveActive {
		return registry.Endpoint{}, false
	}
	a.mu.Lock()
	p := a.desired[name]
	a.mu.Unlock()
	ep := registry.Endpoint{
		Unit: name, Machine: a.cfg.Machine.ID, MachineAddr: a.cfg.Machine.PublicIP,
		Addr: rec.State.Addr, Health: rec.State.Health,
	}
	if p != nil {
		ep.Ports = publishedPorts(p)
	}
	return ep, true
}

// publishedPorts reads a container unit's PublishPort= lines; one the
// container runtime would refuse publishes nothing (the unit fails anyway).
func publishedPorts(p *registry.Placement) []registry.Port {
	var out []registry.Port
	for _, o := range p.Options {
		if o.Section != "Container" || o.Name != "PublishPort" {
			continue
		}
		ms, err := netbridge.ParsePublishPort(o.Value)
		if err != nil {
			continue
		}
		for _, m := range ms {
			out = append(out, registry.Port{HostPort: m.HostPort, ContainerPort: m.ContainerPort, Protocol: m.Protocol})
		}
	}
	return out
}
