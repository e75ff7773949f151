package api

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// listStates reports every unit on every machine, plus one machine-less
// entry per unit the engine could not place, carrying the reason.
func (s *Server) listStates(w http.ResponseWriter, r *http.Request) {
	v, err := s.cfg.Registry.ReadStateView(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	q := r.URL.Query()
	unitFilter, machineFilter := q["unitName"], q.Get("machineID")
	want := func(name string) bool {
		if len(unitFilter) == 0 {
			return true
		}
		for _, u := range unitFilter {
			if u == name {
				return true
			}
		}
		return false
	}
	all := make([]*schema.UnitState, 0, len(v.States))
	for _, rec := range v.States {
		if want(rec.Unit) && (machineFilter == "" || rec.Machine == machineFilter) {
			all = append(all, stateOf(rec))
		}
	}
	if machineFilter == "" {
		for name, reason := range v.Unplaced {
			if hash, ok := v.Hashes[name]; ok && want(name) {
				all = append(all, &schema.UnitState{Name: name, Hash: hash,
					SystemdLoadState: "-", SystemdActiveState: "-", SystemdSubState: "-", Reason: "not placed: " + reason})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Name != all[j].Name {
			return all[i].Name < all[j].Name
		}
		return all[i].MachineID < all[j].MachineID
	})
	lo, hi, next, err := page(r, len(all), func(i int) string { return stateKey(all[i]) })
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, schema.UnitStatePage{States: all[lo:hi], NextPageToken: next})
}

func stateKey(s *schema.UnitState) string { return s.Name + "\x00" + s.MachineID }

func stateOf(rec *registry.StateRecord) *schema.UnitState {
	st := &schema.UnitState{
		Name: rec.Unit, Hash: rec.Hash, MachineID: rec.Machine,
		SystemdLoadState: rec.State.Load, SystemdActiveState: rec.State.Active, SystemdSubState: rec.State.Sub,
		Reason: rec.State.Reason, PID: rec.State.PID, Health: rec.State.Health, Addr: rec.State.Addr,
	}
	if !rec.State.Since.IsZero() {
		st.Since = rec.State.Since.UTC().Format(time.RFC3339Nano)
	}
	return st
}

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	ms, err := s.cfg.Registry.Machines(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	lo, hi, next, err := page(r, len(ms), func(i int) string { return ms[i].ID })
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Which machine is etcd's raft leader is worth a short wait, not a
	// failed listing: without an answer the field stays empty.
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	roles, _ := s.cfg.Registry.EtcdRoles(ctx)
	cancel()
	states, err := s.cfg.Registry.MachineStates(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	out := schema.MachinePage{Machines: make([]*schema.Machine, 0, hi-lo), NextPageToken: next}
	for _, m := range ms[lo:hi] {
		out.Machines = append(out.Machines, &schema.Machine{ID: m.ID, PrimaryIP: m.PublicIP, Metadata: m.Metadata,
			Name: m.Name, APIURL: m.APIURL, Version: m.Version, Update: m.Update, Root: m.Root, Etcd: etcdRole(roles, m.Name), State: states[m.ID],
			CapacityMilliCPU: m.Capacity.MilliCPU, CapacityMemory: m.Capacity.Memory})
	}
	writeJSON(w, http.StatusOK, out)
}

// etcdRole is the role of the machine named name: its member's role, or
// client when it has none; "" when the roles are unknown.
func etcdRole(roles map[string]string, name string) string {
	if roles == nil {
		return ""
	}
	if r, ok := roles[name]; ok {
		return r
	}
	return registry.EtcdClient
}
