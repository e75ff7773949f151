package schedule

import (
	"fmt"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// fits reports whether machine m has the room unit u reserves left.
func (p *placer) fits(u *punit, m int) bool {
	return fitsIn(u.fl.Reserve, p.free[m])
}

func fitsIn(r, free unit.Resources) bool {
	return (r.Memory == 0 || r.Memory <= free.Memory) && (r.MilliCPU == 0 || r.MilliCPU <= free.MilliCPU)
}

// fitsAfterEvicting reports whether unit u fits on machine m once the units
// it replaces there are evicted (their followers would free more: not
// counted, so this never overcommits).
func (p *placer) fitsAfterEvicting(u *punit, m int) bool {
	if u.fl.Reserve.IsZero() {
		return true
	}
	free := p.free[m]
	for _, r := range u.replaces {
		if p.on[r] == m {
			free.Memory += p.units[r].fl.Reserve.Memory
			free.MilliCPU += p.units[r].fl.Reserve.MilliCPU
		}
	}
	return fitsIn(u.fl.Reserve, free)
}

// better reports whether machine m suits unit u better than machine cur: for
// a unit with reservations, the one with the most room (free memory first
// if it reserves memory, then free CPU), then, as for every unit, the least
// loaded. Ties keep cur, the one with the lower ID.
func (p *placer) better(u *punit, m, cur int) bool {
	r := u.fl.Reserve
	if r.Memory > 0 && p.free[m].Memory != p.free[cur].Memory {
		return p.free[m].Memory > p.free[cur].Memory
	}
	if r.MilliCPU > 0 && p.free[m].MilliCPU != p.free[cur].MilliCPU {
		return p.free[m].MilliCPU > p.free[cur].MilliCPU
	}
	return p.load[m] < p.load[cur]
}

// eligibleMachines returns the machines u's metadata allows, in ID order.
func (p *placer) eligibleMachines(u *punit) []int {
	var ms []int
	for m := range p.machines {
		if p.metaOK(u, m) {
			ms = append(ms, m)
		}
	}
	return ms
}

// roomReason says what unit u misses on machines ms, every one of which
// allows it but for room: "no machine has 2 GiB memory free; largest free
// 1.2 GiB on m2".
func (p *placer) roomReason(u *punit, ms []int) string {
	r := u.fl.Reserve
	type dim struct {
		want        int64
		get         func(unit.Resources) int64
		name, flag  string
		format      func(int64) string
		formatWhole func(int64) string
	}
	dims := []dim{
		{r.Memory, func(x unit.Resources) int64 { return x.Memory }, "memory", "--capacity-memory", unit.FormatBytes, func(n int64) string { return unit.FormatBytes(n) + " memory" }},
		{r.MilliCPU, func(x unit.Resources) int64 { return x.MilliCPU }, "CPU", "--capacity-cpus", unit.FormatCPU, unit.FormatCPU},
	}
	for _, d := range dims {
		if d.want == 0 {
			continue
		}
		best, reported := -1, false
		for _, m := range ms {
			if d.get(p.machines[m].Capacity) > 0 {
				reported = true
			}
			if best < 0 || d.get(p.free[m]) > d.get(p.free[best]) {
				best = m
			}
		}
		if !reported {
			return fmt.Sprintf("no machine reports its %s capacity (fleetd %s), and the unit reserves %s", d.name, d.flag, d.formatWhole(d.want))
		}
		if free := d.get(p.free[best]); free < d.want {
			if free <= 0 {
				return fmt.Sprintf("no machine has %s free; none has any left", d.formatWhole(d.want))
			}
			return fmt.Sprintf("no machine has %s free; largest free %s on %s", d.formatWhole(d.want), d.format(free), p.machines[best].ID)
		}
	}
	// Each resource is free somewhere, never both on one machine.
	m := ms[0]
	return fmt.Sprintf("no machine has %s free at once (e.g. %s has memory %s, %s)", r, p.machines[m].ID,
		unit.FormatBytes(max(p.free[m].Memory, 0)), unit.FormatCPU(max(p.free[m].MilliCPU, 0)))
}
