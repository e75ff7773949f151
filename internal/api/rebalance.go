package api

import (
	"net/http"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/engine"
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
