package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// Cordon, drain and uncordon (fleetctl cordon|drain|uncordon MACHINE). The
// API only stores the mark; the leading engine moves the units (package
// engine, drain.go), so a drain goes on whatever happens to the client.

func (s *Server) cordon(w http.ResponseWriter, r *http.Request) { s.setCordon(w, r, false) }
func (s *Server) drain(w http.ResponseWriter, r *http.Request)  { s.setCordon(w, r, true) }

func (s *Server) setCordon(w http.ResponseWriter, r *http.Request, drain bool) {
	id := r.PathValue("id")
	known, err := s.machineKnown(r.Context(), id)
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	if !known {
		writeError(w, http.StatusNotFound, fmt.Sprintf("machine %s is not in the cluster: nothing cordoned (see fleetctl list-machines --full)", id))
		return
	}
	if err := s.cfg.Registry.Cordon(r.Context(), id, drain); err != nil {
		writeRegistryError(w, "", err)
		return
	}
	s.drainStatus(w, r)
}

func (s *Server) uncordon(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	existed, err := s.cfg.Registry.Uncordon(r.Context(), id)
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	if !existed {
		known, err := s.machineKnown(r.Context(), id)
		if err != nil {
			writeRegistryError(w, "", err)
			return
		}
		if !known {
			writeError(w, http.StatusNotFound, fmt.Sprintf("machine %s is not in the cluster and not cordoned (see fleetctl list-machines --full)", id))
			return
		}
	}
	s.drainStatus(w, r)
}

// drainStatus answers a machine's state and what its drain waits for.
func (s *Server) drainStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	states, err := s.cfg.Registry.MachineStates(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	out := schema.MachineDrain{Machine: id, State: states[id]}
	if out.State == "" {
		known, err := s.machineKnown(r.Context(), id)
		if err != nil {
			writeRegistryError(w, "", err)
			return
		}
		if !known {
			writeError(w, http.StatusNotFound, fmt.Sprintf("machine %s is not in the cluster (see fleetctl list-machines --full)", id))
			return
		}
	}
	if out.State == registry.MachineDraining {
		if out.Left, err = s.cfg.Registry.DrainLeft(r.Context(), id); err != nil {
			writeRegistryError(w, "", err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// machineKnown reports whether id is a registered machine's full ID.
func (s *Server) machineKnown(ctx context.Context, id string) (bool, error) {
	ms, err := s.cfg.Registry.Machines(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.ID == id {
			return true, nil
		}
	}
	return false, nil
}
