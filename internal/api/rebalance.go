package api

import (
	"fmt"
	"net/http"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/engine"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// rebalancePlan answers GET /fleet/v1/rebalance with the moves that would
// even out the cluster now (engine.RebalancePlan). It changes nothing.
func (s *Server) rebalancePlan(w http.ResponseWriter, r *http.Request) {
	snap, err := s.cfg.Registry.Snapshot(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	out := schema.RebalancePlan{Moves: []schema.Move{}}
	for _, mv := range engine.RebalancePlan(snap, engine.ParseFleet) {
		out.Moves = append(out.Moves, schema.Move{Unit: mv.Unit, From: mv.From, To: mv.To})
	}
	writeJSON(w, http.StatusOK, out)
}

// requestMove answers POST /fleet/v1/rebalance/moves: one move of
// fleetctl rebalance, {unit, from, to}. The unit must be placed on from and
// to must be another machine of the cluster; the leading engine then hands
// the unit over as a drain does (registry.RequestMove) and clears the
// request once it runs on to, or when the rules keep it where it is.
func (s *Server) requestMove(w http.ResponseWriter, r *http.Request) {
	var mv schema.Move
	if err := decodeBody(w, r, &mv); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	if mv.Unit == "" || mv.From == "" || mv.To == "" || mv.From == mv.To {
		writeError(w, http.StatusBadRequest, "a move needs unit, from and to, two different machines")
		return
	}
	snap, err := s.cfg.Registry.Snapshot(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	if _, ok := snap.Machines[mv.To]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("machine %s is not in the cluster: nothing moved (see fleetctl list-machines --full)", mv.To))
		return
	}
	placed := false
	for _, p := range snap.Placements[mv.Unit] {
		placed = placed || p.Machine == mv.From
	}
	if !placed {
		writeError(w, http.StatusConflict, fmt.Sprintf("unit %s is not placed on machine %s: nothing moved (see fleetctl list-units)", mv.Unit, mv.From))
		return
	}
	if err := s.cfg.Registry.RequestMove(r.Context(), registry.MoveRecord{Unit: mv.Unit, From: mv.From, To: mv.To}); err != nil {
		writeRegistryError(w, mv.Unit, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
