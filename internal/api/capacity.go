package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// reserveCheck refuses a unit reserving more memory or CPU than any machine
// of the cluster has in all: it could never be placed. Machines may join
// later, so a cluster with no machine registered yet refuses nothing, and
// the check is against each machine's whole capacity, not what is free now
// (a unit waiting for room is unplaced, with its reason, not refused).
func (s *Server) reserveCheck(ctx context.Context, n unit.Name, f *unit.File) (string, error) {
	fl, err := unit.ParseFleet(n, f)
	if err != nil || fl.Reserve.IsZero() {
		return "", nil
	}
	ms, err := s.cfg.Registry.Machines(ctx)
	if err != nil || len(ms) == 0 {
		return "", err
	}
	type dim struct {
		want   int64
		get    func(unit.Resources) int64
		keys   [][2]string // where the reservation may come from, in order
		format func(int64) string
		name   string
		flag   string
	}
	dims := []dim{
		{fl.Reserve.Memory, func(r unit.Resources) int64 { return r.Memory },
			[][2]string{{unit.FleetSection, "ReserveMemory"}, {"Service", "MemoryMax"}, {"Container", "Memory"}},
			unit.FormatBytes, "memory", "--capacity-memory"},
		{fl.Reserve.MilliCPU, func(r unit.Resources) int64 { return r.MilliCPU },
			[][2]string{{unit.FleetSection, "ReserveCPU"}, {"Service", "CPUQuota"}},
			unit.FormatCPU, "CPU", "--capacity-cpus"},
	}
	for _, d := range dims {
		if d.want == 0 {
			continue
		}
		var most int64
		where := ""
		for _, m := range ms {
			if c := d.get(m.Capacity); c > most || where == "" {
				most, where = c, m.ID
				if m.Name != "" {
					where = m.Name
				}
			}
		}
		if d.want <= most {
			continue
		}
		key := d.keys[0]
		for _, k := range d.keys {
			if v, ok := f.Value(k[0], k[1]); ok && strings.TrimSpace(v) != "" {
				key = k
				break
			}
		}
		largest := "none reports any"
		if most > 0 {
			largest = fmt.Sprintf("the largest is %s on %s", d.format(most), where)
		}
		want := d.format(d.want)
		if d.name == "memory" {
			want += " memory"
		}
		return fmt.Sprintf("unit %s: [%s] %s: reserves %s, more than any machine of the cluster has in all (%s): lower it, or add a machine that large (fleetd %s)",
			n, key[0], key[1], want, largest, d.flag), nil
	}
	return "", nil
}
