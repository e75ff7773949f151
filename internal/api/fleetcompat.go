package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"sort"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/version"
)

// What this file matches, from fleet's api package (v1.0): the Server
// header (mux.go's serverInfoMiddleware), 405 with an empty message on "/"
// and the API root (baseHandler, methodNotAllowedHandler), the discovery
// document (discovery.go), 415 for a PUT that is not application/json
// (serialization.go's validateContentType), one nextPageToken at most
// (pagination.go's findNextPageToken), GET /state/{name} (state.go),
// PATCH /machines with JSON-patch metadata operations (machines.go) and the
// [X-Fleet] combinations fleet's ValidateOptions refused (units.go).

// withServerHeader sets fleet's "Server: fleetd/<version>" on every answer.
func withServerHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "fleetd/"+version.Version)
		next.ServeHTTP(w, r)
	})
}

// methodNotAllowed is fleet's answer on "/" and on the API root: 405 with
// an error entity whose message is empty.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, "")
}

// checkContentType is fleet's validateContentType: exactly one Content-Type,
// application/json (parameters such as charset allowed).
func checkContentType(r *http.Request) error {
	values := r.Header.Values("Content-Type")
	if len(values) != 1 {
		return fmt.Errorf("expected 1 Content-Type, got %d: send Content-Type: application/json", len(values))
	}
	mt, _, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "application/json" {
		return fmt.Errorf("only acceptable Content-Type is application/json, got %q", values[0])
	}
	return nil
}

// pageTokenParam returns the nextPageToken query parameter; more than one,
// or an empty one, is an error, as in fleet.
func pageTokenParam(r *http.Request) (string, error) {
	vals := r.URL.Query()["nextPageToken"]
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", errors.New("too many values for page token: send one nextPageToken")
	case vals[0] == "":
		return "", errors.New("nextPageToken is empty: send the token of the previous page, or none for the first")
	}
	return vals[0], nil
}

// getState is GET /fleet/v1/state/{name}: the state of one unit. A unit on
// several machines (global) answers with the first by machine ID; the list
// endpoint with ?unitName= has them all.
func (s *Server) getState(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, err := s.cfg.Registry.ReadStateView(r.Context())
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	var found []*schema.UnitState
	for _, rec := range v.States {
		if rec.Unit == name {
			found = append(found, stateOf(rec))
		}
	}
	if len(found) == 0 {
		if reason, ok := v.Unplaced[name]; ok {
			writeJSON(w, http.StatusOK, &schema.UnitState{Name: name, Hash: v.Hashes[name],
				SystemdLoadState: "-", SystemdActiveState: "-", SystemdSubState: "-", Reason: "not placed: " + reason})
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("unit state does not exist: no machine reports %s (fleetctl list-unit-files shows whether it is loaded)", name))
		return
	}
	sort.Slice(found, func(i, j int) bool { return found[i].MachineID < found[j].MachineID })
	writeJSON(w, http.StatusOK, found[0])
}

// metadataOp is one JSON-patch operation of PATCH /fleet/v1/machines.
type metadataOp struct {
	Op    string  `json:"op"`
	Path  string  `json:"path"`
	Value opValue `json:"value"`
}

// opValue is an operation's value: a JSON string, as api-v1.md documents, or
// {"value": "..."}, as fleet's functional tests (machines_test.go) send it.
type opValue string

func (v *opValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = opValue(s)
		return nil
	}
	var o struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return errors.New(`value must be a string or {"value": "..."}`)
	}
	*v = opValue(o.Value)
	return nil
}

// metadataPath is fleet's "/<machine ID>/metadata/<key>".
var metadataPath = regexp.MustCompile(`^/([^/]+)/metadata/([A-Za-z0-9_.-]+)$`)

// patchMachines applies fleet's metadata operations ("add", "replace",
// "remove") in order, after checking them all: 204, or 400 naming the
// first bad operation, with nothing applied.
func (s *Server) patchMachines(w http.ResponseWriter, r *http.Request) {
	var ops []metadataOp
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ops); err != nil {
		writeError(w, http.StatusBadRequest, "machine metadata: body must be a JSON array of {op, path, value}: "+err.Error())
		return
	}
	for i, op := range ops {
		if msg := checkMetadataOp(op); msg != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("machine metadata operation %d (%s %s): %s", i, op.Op, op.Path, msg))
			return
		}
	}
	ctx, cancel := writeContext(r)
	defer cancel()
	for _, op := range ops {
		m := metadataPath.FindStringSubmatch(op.Path)
		var err error
		if op.Op == "remove" {
			err = s.cfg.Registry.DeleteMachineMetadata(ctx, m[1], m[2])
		} else {
			err = s.cfg.Registry.SetMachineMetadata(ctx, m[1], m[2], string(op.Value))
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cluster store unavailable: %v", err))
			return
		}
	}
	// fleet answered with an (empty) JSON response, and its functional
	// tests check the Content-Type of this 204.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNoContent)
}

func checkMetadataOp(op metadataOp) string {
	switch op.Op {
	case "add", "replace", "remove":
	default:
		return "invalid op: expect add, remove, or replace"
	}
	if metadataPath.FindStringSubmatch(op.Path) == nil {
		return "machine metadata path invalid: want /<machine ID>/metadata/<key>, key of letters, digits, _ . -"
	}
	if op.Op != "remove" && op.Value == "" {
		return "invalid value: add and replace require a value"
	}
	return ""
}

// fleetOptionRules refuses the [X-Fleet] combinations fleet's API refused
// (api/units.go ValidateOptions): MachineID with Conflicts, and Conflicts
// with Replaces. The message names the unit and both options.
func fleetOptionRules(n unit.Name, f *unit.File) string {
	fl, err := unit.ParseFleet(n, f)
	if err != nil {
		return "" // unit.Validate has said why
	}
	bad := func(a, b, why string) string {
		return fmt.Sprintf("unit %s: [X-Fleet] %s cannot be used with %s: %s", n, a, b, why)
	}
	switch {
	case fl.MachineID != "" && len(fl.Conflicts) > 0:
		return bad("MachineID", "Conflicts", "a unit pinned to one machine has no choice to make; drop one of them")
	case len(fl.Conflicts) > 0 && len(fl.Replaces) > 0:
		return bad("Conflicts", "Replaces", "use one of them")
	}
	return ""
}
