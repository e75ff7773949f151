package registry

import "github.com/flotilla-os/flotilla/internal/unit"

// A machine's capacity (CPUs, memory) is part of its MachineRecord, written
// once with its registration at start (RegisterMachine, ClaimMachine): an
// idle cluster writes nothing for it. The engine places by it; the API and
// list-machines show it.

// Capacities returns each machine's capacity and what the units placed
// there reserve, as reserve reads a unit's reservation from its options.
// Machines that are not registered are left out.
func (s *Snapshot) Capacities(reserve func(p *Placement) unit.Resources) (capacity, reserved map[string]unit.Resources) {
	capacity = make(map[string]unit.Resources, len(s.Machines))
	reserved = make(map[string]unit.Resources, len(s.Machines))
	for id, m := range s.Machines {
		capacity[id] = m.Capacity
		reserved[id] = unit.Resources{}
	}
	for _, ps := range s.Placements {
		for _, p := range ps {
			if _, ok := capacity[p.Machine]; !ok {
				continue
			}
			r := reserve(p)
			sum := reserved[p.Machine]
			sum.Memory += r.Memory
			sum.MilliCPU += r.MilliCPU
			reserved[p.Machine] = sum
		}
	}
	return capacity, reserved
}
