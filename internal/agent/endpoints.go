package agent

import (
	"context"

	"github.com/flotilla-os/flotilla/internal/netbridge"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// newEndpointWriter publishes where this machine's active units can be
// reached (registry.Endpoint), on the machine's lease, written on change
// only: it is told of every unit the state writer is told of, and writes
// only what differs from its last write. An idle machine writes nothing.
func newEndpointWriter(a *Agent) *changeWriter[registry.Endpoint] {
	return newChangeWriter("publish endpoints", a.cfg.TTL, a.cfg.Logf, a.endpoint,
		func(ctx context.Context, lease registry.LeaseID, vals map[string]*registry.Endpoint) error {
			writes := make([]registry.EndpointWrite, 0, len(vals))
			for name, ep := range vals {
				writes = append(writes, registry.EndpointWrite{Unit: name, Endpoint: ep})
			}
			return a.reg.WriteEndpoints(ctx, a.cfg.Machine.ID, lease, writes)
		})
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
