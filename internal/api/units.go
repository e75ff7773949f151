package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/schedule"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// view is the registry joined for presentation.
type view struct {
	snap   *registry.Snapshot
	states map[string][]*registry.StateRecord // unit -> reports
}

func (s *Server) load(ctx context.Context) (*view, error) {
	snap, err := s.cfg.Registry.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := s.cfg.Registry.States(ctx)
	if err != nil {
		return nil, err
	}
	v := &view{snap: snap, states: map[string][]*registry.StateRecord{}}
	for _, r := range recs {
		v.states[r.Unit] = append(v.states[r.Unit], r)
	}
	return v, nil
}

func (v *view) unit(name string) *schema.Unit {
	u := v.snap.Units[name]
	out := &schema.Unit{Name: name, Options: u.Options, Hash: u.Hash, DesiredState: v.snap.Desired[name], CurrentState: registry.TargetInactive}
	if out.DesiredState == "" {
		out.DesiredState = registry.TargetInactive
	}
	if ps := v.snap.Placements[name]; len(ps) == 1 {
		out.MachineID = ps[0].Machine
	}
	for _, st := range v.states[name] {
		if st.Applied != "" {
			out.CurrentState = st.Applied
			break
		}
	}
	return out
}

func (s *Server) listUnits(w http.ResponseWriter, r *http.Request) {
	v, err := s.load(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	names := make([]string, 0, len(v.snap.Units))
	for n := range v.snap.Units {
		names = append(names, n)
	}
	sort.Strings(names)
	lo, hi, next, err := page(r, len(names), func(i int) string { return names[i] })
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := schema.UnitPage{Units: make([]*schema.Unit, 0, hi-lo), NextPageToken: next}
	for _, n := range names[lo:hi] {
		out.Units = append(out.Units, v.unit(n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getUnit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, err := s.load(r.Context())
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	if v.snap.Units[name] == nil {
		writeRegistryError(w, name, registry.ErrUnitNotFound)
		return
	}
	writeJSON(w, http.StatusOK, v.unit(name))
}

func (s *Server) deleteUnit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := writeContext(r)
	defer cancel()
	err := s.cfg.Registry.DestroyUnit(ctx, name)
	if errors.Is(err, registry.ErrUnitNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unit %s not found: nothing to destroy (fleetctl list-unit-files shows the submitted units)", name))
		return
	}
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putUnit creates a unit (options + desiredState) or sets the desired state
// of an existing one (desiredState alone). An instance whose template is
// stored may be created from the desired state alone, as fleet did.
func (s *Server) putUnit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkContentType(r); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("unit %s: %v", name, err))
		return
	}
	var in schema.Unit
	if err := decodeBody(w, r, &in); err != nil {
		writeError(w, statusOf(err), fmt.Sprintf("unit %s: %v", name, err))
		return
	}
	ctx, cancel := writeContext(r)
	defer cancel()
	if in.Name != "" && in.Name != name {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unit %s: body names unit %q: the name in the body must match the URL", name, in.Name))
		return
	}
	n, err := unit.ParseName(name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.DesiredState == "" {
		if len(in.Options) == 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unit %s: field desiredState is required (inactive, loaded or launched)", name))
			return
		}
		// Options alone: a new unit starts inactive, a stored one keeps
		// its desired state (re-submitting must not stop it).
		_, desired, err := s.cfg.Registry.Unit(ctx, name)
		if err != nil {
			writeRegistryError(w, name, err)
			return
		}
		in.DesiredState = cmp.Or(desired, registry.TargetInactive)
	}
	if !registry.ValidTarget(in.DesiredState) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unit %s: field desiredState %q: want inactive, loaded or launched", name, in.DesiredState))
		return
	}
	if n.IsTemplate() && in.DesiredState != registry.TargetInactive {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unit %s: desiredState %s: a template unit is never scheduled, so it stays inactive: start an instance such as %s", name, in.DesiredState, n.Prefix()+"@1."+n.Suffix()))
		return
	}
	if len(in.Options) == 0 {
		err := s.cfg.Registry.SetDesired(ctx, name, in.DesiredState)
		if errors.Is(err, registry.ErrUnitNotFound) && n.IsInstance() {
			tmpl, _, terr := s.cfg.Registry.Unit(ctx, n.Template())
			if terr == nil && tmpl != nil {
				in.Options = tmpl.Options
				s.create(ctx, w, r, n, &in)
				return
			}
		}
		if err != nil {
			writeRegistryError(w, name, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.create(ctx, w, r, n, &in)
}

// writeTimeout bounds a unit write once the request is read: it no longer
// depends on the client's connection (see writeContext).
const writeTimeout = 30 * time.Second

// writeContext is the context for a request that changes the registry,
// taken once its body has been read. It keeps the request's values but not
// its cancellation: net/http cancels a request's context when the client
// half-closes its side of the connection (a background read sees EOF),
// which may land after etcd has committed the write but before the answer,
// so that the client was told 503 for a unit that was stored. Detached, a
// write that starts is answered for what it did.
func writeContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
}

func (s *Server) create(ctx context.Context, w http.ResponseWriter, r *http.Request, n unit.Name, in *schema.Unit) {
	name := n.String()
	f := unit.FromOptions(in.Options)
	if _, _, err := unit.Validate(name, f); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// What the node's unit manager would refuse when it loads the unit
	// (Type=bogus, no ExecStart, a bad [Container] value) is refused now.
	if err := s.cfg.ValidateUnit(name, f); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if size := len(f.String()); size > unit.MaxFileSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("unit %s: options: the unit file is %d bytes, more than the %d allowed", name, size, unit.MaxFileSize))
		return
	}
	if msg := fleetOptionRules(n, f); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if msg, err := s.cycleCheck(ctx, n, f); err != nil {
		writeRegistryError(w, name, err)
		return
	} else if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if msg, err := s.reserveCheck(ctx, n, f); err != nil {
		writeRegistryError(w, name, err)
		return
	} else if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	rec := &registry.UnitRecord{Name: name, Hash: f.Hash(), Options: f.Options}
	// Different options replace the stored unit, as in fleet's API, unless
	// the client asks otherwise with ?replace=false (ours does, so that
	// fleetctl submit without --replace never overwrites).
	created, err := s.cfg.Registry.PutUnit(ctx, rec, in.DesiredState, r.URL.Query().Get("replace") != "false")
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	if created {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// cycleCheck refuses a unit whose MachineOf would close a cycle.
func (s *Server) cycleCheck(ctx context.Context, n unit.Name, f *unit.File) (string, error) {
	fl, err := unit.ParseFleet(n, f)
	if err != nil || len(fl.MachineOf) == 0 {
		return "", nil
	}
	snap, err := s.cfg.Registry.Snapshot(ctx)
	if err != nil {
		return "", err
	}
	units := []schedule.Unit{{Name: n.String(), Fleet: fl}}
	for name, u := range snap.Units {
		if name == n.String() {
			continue
		}
		on, err := unit.ParseName(name)
		if err != nil || on.IsTemplate() {
			continue
		}
		ofl, err := unit.ParseFleet(on, u.File())
		if err != nil {
			continue
		}
		units = append(units, schedule.Unit{Name: name, Fleet: ofl})
	}
	if cyc := schedule.MachineOfCycle(units); cyc != nil {
		return fmt.Sprintf("unit %s: [X-Fleet] MachineOf: would form a cycle %v: no machine could ever be chosen; remove one of the MachineOf options", n, cyc), nil
	}
	return "", nil
}

type bodyError struct {
	code int
	msg  string
}

func (e *bodyError) Error() string { return e.msg }

func statusOf(err error) int {
	var be *bodyError
	if errors.As(err, &be) {
		return be.code
	}
	return http.StatusBadRequest
}

// decodeBody reads a bounded body holding exactly one JSON value; unknown
// fields are errors.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	tooLarge := func(err error) bool {
		var mbe *http.MaxBytesError
		return errors.As(err, &mbe)
	}
	if err := dec.Decode(v); err != nil {
		if tooLarge(err) {
			return errBodyTooLarge
		}
		if errors.Is(err, io.EOF) {
			return &bodyError{http.StatusBadRequest, "empty request body: send a JSON unit with desiredState (and options to create it)"}
		}
		return &bodyError{http.StatusBadRequest, "malformed JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if tooLarge(err) {
			return errBodyTooLarge
		}
		return &bodyError{http.StatusBadRequest, "malformed JSON body: data after the JSON unit: send one object"}
	}
	return nil
}

var errBodyTooLarge = &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes; a unit file may be at most %d bytes", MaxBodyBytes, unit.MaxFileSize)}
