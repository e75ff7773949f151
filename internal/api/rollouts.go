package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/rollout"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// rolloutRoutes adds the rollout and revision endpoints.
func (s *Server) rolloutRoutes() {
	s.mux.HandleFunc("GET /fleet/v1/rollouts", s.listRollouts)
	s.mux.HandleFunc("POST /fleet/v1/rollouts", s.startRollout)
	s.mux.HandleFunc("GET /fleet/v1/rollouts/{name}", s.getRollout)
	s.mux.HandleFunc("POST /fleet/v1/rollouts/{name}/{verb}", s.steerRollout)
	s.mux.HandleFunc("GET /fleet/v1/units/{name}/revisions", s.listRevisions)
}

func (s *Server) listRollouts(w http.ResponseWriter, r *http.Request) {
	all, err := s.cfg.Registry.Rollouts(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	out := schema.RolloutList{Rollouts: []*schema.Rollout{}}
	for _, ro := range all {
		out.Rollouts = append(out.Rollouts, ro)
	}
	slices.SortFunc(out.Rollouts, func(a, b *schema.Rollout) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ro, _, err := s.cfg.Registry.Rollout(r.Context(), name)
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	if ro == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("rollout %s not found: see fleetctl rollout status", name))
		return
	}
	writeJSON(w, http.StatusOK, ro)
}

// steerRollout pauses, resumes or aborts a rollout.
func (s *Server) steerRollout(w http.ResponseWriter, r *http.Request) {
	name, verb := r.PathValue("name"), r.PathValue("verb")
	ctx, cancel := writeContext(r)
	defer cancel()
	for range 5 { // retry when the engine advanced it meanwhile
		ro, rev, err := s.cfg.Registry.Rollout(ctx, name)
		if err != nil {
			writeRegistryError(w, name, err)
			return
		}
		if ro == nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("rollout %s not found: see fleetctl rollout status", name))
			return
		}
		if !ro.Active() {
			writeError(w, http.StatusConflict, fmt.Sprintf("rollout %s is %s: nothing to %s", name, ro.State, verb))
			return
		}
		switch verb {
		case "pause":
			ro.State = cmpState(ro.State, rollout.Running, rollout.Paused)
		case "resume":
			ro.State = cmpState(ro.State, rollout.Paused, rollout.Running)
		case "abort":
			ro.State = rollout.Aborting
		default:
			writeError(w, http.StatusNotFound, fmt.Sprintf("rollout %s: no such action %q: want pause, resume or abort", name, verb))
			return
		}
		err = s.cfg.Registry.UpdateRollout(ctx, ro, rev)
		if errors.Is(err, registry.ErrConflict) {
			continue
		}
		if err != nil {
			writeRegistryError(w, name, err)
			return
		}
		writeJSON(w, http.StatusOK, ro)
		return
	}
	writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("rollout %s keeps changing: try again", name))
}

func cmpState(cur, from, to string) string {
	if cur == from {
		return to
	}
	return cur
}

func (s *Server) listRevisions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	u, _, err := s.cfg.Registry.Unit(r.Context(), name)
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	revs, err := s.cfg.Registry.Revisions(r.Context(), name)
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	if u == nil && len(revs) == 0 {
		writeRegistryError(w, name, registry.ErrUnitNotFound)
		return
	}
	out := schema.RevisionList{Revisions: []*schema.Revision{}}
	for _, rev := range revs {
		out.Revisions = append(out.Revisions, &schema.Revision{Hash: rev.Hash, Time: rev.Time, Current: u != nil && u.Hash == rev.Hash, Failed: rev.Failed})
	}
	writeJSON(w, http.StatusOK, out)
}

// startRollout records a rollout of the request's files (or a rollback)
// and replaces the units' files in the same transaction.
func (s *Server) startRollout(w http.ResponseWriter, r *http.Request) {
	if err := checkContentType(r); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("rollout: %v", err))
		return
	}
	var in schema.RolloutRequest
	if err := decodeBody(w, r, &in); err != nil {
		writeError(w, statusOf(err), fmt.Sprintf("rollout: %v", err))
		return
	}
	ctx, cancel := writeContext(r)
	defer cancel()
	ro, err := rolloutSettings(&in)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.Rollback != "" {
		f, code, err := s.rollbackFile(ctx, in.Rollback, in.To)
		if err != nil {
			writeError(w, code, err.Error())
			return
		}
		in.Units = []*schema.Unit{{Name: in.Rollback, Options: f.Options}}
	}
	if len(in.Restart) > 0 {
		s.startRestart(ctx, w, ro, in.Restart)
		return
	}
	if len(in.Units) == 0 {
		writeError(w, http.StatusBadRequest, "rollout: no unit files given: field units (or rollback, or restart) is required")
		return
	}
	snap, err := s.cfg.Registry.Snapshot(ctx)
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	ro.Name = in.Units[0].Name
	var recs []*registry.UnitRecord
	for _, su := range in.Units {
		add, code, err := s.rolloutUnits(ctx, snap, su, ro)
		if err != nil {
			writeError(w, code, err.Error())
			return
		}
		recs = append(recs, add...)
	}
	if len(recs) == 0 {
		writeError(w, http.StatusConflict, fmt.Sprintf("rollout %s: every unit already has this unit file: nothing to roll out", ro.Name))
		return
	}
	if len(ro.Items) == 0 {
		// Nothing placed: nothing to replace gradually. Record it done so
		// that history and status show it.
		ro.State, ro.Finished = rollout.Done, ro.Created
	} else if err := ro.Check(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	names := make([]string, len(recs))
	for i, u := range recs {
		names[i] = u.Name
	}
	// The files the snapshot showed are what From says: refuse if they
	// changed since; StartRollout refuses if they change after this read.
	cur, revs, err := s.cfg.Registry.UnitModRevisions(ctx, names)
	if err != nil {
		writeRegistryError(w, ro.Name, err)
		return
	}
	for _, u := range recs {
		if c := cur[u.Name]; c == nil || c.Hash != ro.Units[u.Name].From {
			writeError(w, http.StatusConflict, fmt.Sprintf("rollout %s: unit %s changed while starting the rollout: try again", ro.Name, u.Name))
			return
		}
	}
	switch err := s.cfg.Registry.StartRollout(ctx, ro, recs, revs); {
	case errors.Is(err, registry.ErrRolloutActive), errors.Is(err, registry.ErrConflict):
		writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "registry: "))
	case err != nil:
		writeRegistryError(w, ro.Name, err)
	default:
		writeJSON(w, http.StatusCreated, ro)
	}
}

// rolloutSettings reads the request's flags into a new rollout.
func rolloutSettings(in *schema.RolloutRequest) (*rollout.Rollout, error) {
	ro := &rollout.Rollout{Units: map[string]rollout.Revs{}, MaxUnavailable: rollout.DefaultMaxUnavailable,
		Deadline: rollout.DefaultDeadline, AutoRevert: in.AutoRevert == nil || *in.AutoRevert,
		State: rollout.Running, Created: time.Now().UTC()}
	var err error
	if in.MinHealthy != "" {
		if ro.MinHealthy, err = time.ParseDuration(in.MinHealthy); err != nil || ro.MinHealthy < 0 {
			return nil, fmt.Errorf("rollout: minHealthy %q: want a duration such as 10s", in.MinHealthy)
		}
	}
	if in.Deadline != "" {
		if ro.Deadline, err = time.ParseDuration(in.Deadline); err != nil || ro.Deadline <= 0 {
			return nil, fmt.Errorf("rollout: deadline %q: want a duration such as 5m", in.Deadline)
		}
	}
	if in.MaxUnavailable != nil {
		if *in.MaxUnavailable < 1 {
			return nil, fmt.Errorf("rollout: maxUnavailable %d: want 1 or more (0 would never replace anything)", *in.MaxUnavailable)
		}
		ro.MaxUnavailable = *in.MaxUnavailable
	}
	return ro, nil
}

// rollbackFile is the unit file unit name goes back to: revision to, or
// the newest kept one other than the current.
func (s *Server) rollbackFile(ctx context.Context, name, to string) (*unit.File, int, error) {
	u, _, err := s.cfg.Registry.Unit(ctx, name)
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	if u == nil {
		return nil, http.StatusNotFound, fmt.Errorf("rollback: unit %s not found: nothing to roll back", name)
	}
	if to != "" {
		rev, err := s.cfg.Registry.FindRevision(ctx, name, to)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("rollback %s: %w", name, err)
		}
		if rev == nil {
			return nil, http.StatusNotFound, fmt.Errorf("rollback %s: no kept revision %s: see fleetctl history %s", name, to, name)
		}
		return unit.FromOptions(rev.Options), 0, nil
	}
	revs, err := s.cfg.Registry.Revisions(ctx, name)
	if err != nil {
		return nil, http.StatusServiceUnavailable, err
	}
	for _, rev := range revs {
		if rev.Hash != u.Hash && rev.Failed == "" {
			return unit.FromOptions(rev.Options), 0, nil
		}
	}
	return nil, http.StatusConflict, fmt.Errorf("rollback %s: no earlier revision is kept that did not fail: see fleetctl history %s, and give one with --to", name, name)
}

// rolloutUnits checks one file of a rollout and adds to ro what replacing
// it means: the unit itself, or for a template the template and each of
// its stored instances; an item for each instance placed (for a Global
// unit, one per machine). It returns the new records of the units whose
// file changes.
func (s *Server) rolloutUnits(ctx context.Context, snap *registry.Snapshot, su *schema.Unit, ro *rollout.Rollout) ([]*registry.UnitRecord, int, error) {
	n, err := unit.ParseName(su.Name)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("rollout: %w", err)
	}
	f := unit.FromOptions(su.Options)
	if _, _, err := unit.Validate(su.Name, f); err != nil {
		return nil, http.StatusBadRequest, err
	}
	if err := s.cfg.ValidateUnit(su.Name, f); err != nil {
		return nil, http.StatusBadRequest, err
	}
	if msg := fleetOptionRules(n, f); msg != "" {
		return nil, http.StatusBadRequest, errors.New(msg)
	}
	names := []string{}
	if snap.Units[su.Name] != nil {
		names = append(names, su.Name)
	}
	if n.IsTemplate() {
		for name := range snap.Units {
			if in, err := unit.ParseName(name); err == nil && in.IsInstance() && in.Template() == su.Name {
				names = append(names, name)
			}
		}
	}
	if len(names) == 0 {
		what := "submit it first (fleetctl submit, or start)"
		if n.IsTemplate() {
			what = "neither it nor any instance is submitted: start an instance first"
		}
		return nil, http.StatusNotFound, fmt.Errorf("rollout: unit %s not found: %s", su.Name, what)
	}
	slices.Sort(names)
	fl, err := unit.ParseFleet(n, f)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	hash := f.Hash()
	var recs []*registry.UnitRecord
	for _, name := range names {
		old := snap.Units[name]
		if _, dup := ro.Units[name]; dup {
			return nil, http.StatusBadRequest, fmt.Errorf("rollout: unit %s given twice", name)
		}
		if old.Hash == hash {
			continue
		}
		ro.Units[name] = rollout.Revs{From: old.Hash, To: hash}
		recs = append(recs, &registry.UnitRecord{Name: name, Hash: hash, Options: f.Options})
		ps := snap.Placements[name]
		switch {
		case len(ps) == 0:
		case fl.IsGlobal():
			for _, p := range ps {
				ro.Items = append(ro.Items, &rollout.Item{Unit: name, Machine: p.Machine, Phase: rollout.Pending})
			}
		default:
			ro.Items = append(ro.Items, &rollout.Item{Unit: name, Phase: rollout.Pending})
		}
	}
	slices.SortStableFunc(ro.Items, func(a, b *rollout.Item) int {
		return strings.Compare(rollout.Key(a.Unit, a.Machine), rollout.Key(b.Unit, b.Machine))
	})
	return recs, 0, nil
}

// startRestart records a rolling restart of the named units' placed
// instances; no unit file changes.
func (s *Server) startRestart(ctx context.Context, w http.ResponseWriter, ro *rollout.Rollout, names []string) {
	snap, err := s.cfg.Registry.Snapshot(ctx)
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	ro.Name, ro.Restart = names[0], true
	for _, name := range names {
		u := snap.Units[name]
		if u == nil {
			writeRegistryError(w, name, registry.ErrUnitNotFound)
			return
		}
		if _, dup := ro.Units[name]; dup {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("restart: unit %s given twice", name))
			return
		}
		ro.Units[name] = rollout.Revs{From: u.Hash, To: u.Hash}
		n, err := unit.ParseName(name)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		fl, err := unit.ParseFleet(n, u.File())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		for _, p := range snap.Placements[name] {
			if p.Target != registry.TargetLaunched {
				continue
			}
			m := p.Machine
			if !fl.IsGlobal() {
				m = ""
			}
			ro.Items = append(ro.Items, &rollout.Item{Unit: name, Machine: m, Phase: rollout.Pending})
		}
	}
	if err := ro.Check(); err != nil {
		writeError(w, http.StatusBadRequest, strings.Replace(err.Error(), "no instances to replace", "no instance is started: nothing to restart", 1))
		return
	}
	switch err := s.cfg.Registry.StartRollout(ctx, ro, nil, nil); {
	case errors.Is(err, registry.ErrRolloutActive), errors.Is(err, registry.ErrConflict):
		writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), "registry: "))
	case err != nil:
		writeRegistryError(w, ro.Name, err)
	default:
		writeJSON(w, http.StatusCreated, ro)
	}
}
