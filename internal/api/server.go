package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

// MaxBodyBytes bounds a request body: a unit file plus JSON overhead.
const MaxBodyBytes = 256 << 10

const (
	defaultPageSize = 1000
	maxPageSize     = 10000
)

// Config wires a Server.
type Config struct {
	Registry  *registry.Registry
	Manager   unitmgr.Manager // local units' logs
	MachineID string          // this machine
	// Peer is the HTTP client used to reach other machines' APIs (journal
	// proxying); it carries the cluster's client certificate when TLS is on.
	Peer *http.Client
	// Images is this machine's image store; nil when it runs no containers.
	Images Images
	// ValidateUnit checks a submitted unit file as the nodes' unit manager
	// will when it loads it, so that the API refuses it with 400 instead of
	// storing a unit that fails on the agent. nil means the native
	// manager's rules (native.Validate), which every Flotilla node runs.
	ValidateUnit func(name string, f *unit.File) error
	// DNSDomain is the cluster domain the services list names (fleetd
	// --dns-domain); "" is dns.DefaultDomain.
	DNSDomain string
}

// Server is the API's http.Handler.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	handler http.Handler // mux behind fleet's Server header
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.Peer == nil {
		cfg.Peer = http.DefaultClient
	}
	if cfg.ValidateUnit == nil {
		cfg.ValidateUnit = native.Validate
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.handler = withServerHeader(s.mux)
	s.mux.HandleFunc("GET /fleet/v1/units", s.listUnits)
	s.mux.HandleFunc("GET /fleet/v1/units/{name}", s.getUnit)
	s.mux.HandleFunc("PUT /fleet/v1/units/{name}", s.putUnit)
	s.mux.HandleFunc("DELETE /fleet/v1/units/{name}", s.deleteUnit)
	s.mux.HandleFunc("GET /fleet/v1/units/{name}/journal", s.journal)
	s.mux.HandleFunc("GET /fleet/v1/state", s.listStates)
	s.mux.HandleFunc("GET /fleet/v1/state/{name}", s.getState)
	s.mux.HandleFunc("GET /fleet/v1/machines", s.listMachines)
	s.mux.HandleFunc("GET /fleet/v1/services", s.listServices)
	s.mux.HandleFunc("PATCH /fleet/v1/machines", s.patchMachines)
	s.mux.HandleFunc("GET /fleet/v1/rebalance", s.rebalancePlan)
	s.mux.HandleFunc("POST /fleet/v1/rebalance/moves", s.requestMove)
	s.mux.HandleFunc("GET /fleet/v1/discovery", serveDiscovery)
	s.mux.HandleFunc("/{$}", methodNotAllowed)
	s.mux.HandleFunc("/fleet/v1", methodNotAllowed) // exactly: "/fleet/v1/" is 404, as in fleet
	s.mux.HandleFunc("GET /fleet/v1/machines/{id}/images", s.listImages)
	s.mux.HandleFunc("POST /fleet/v1/machines/{id}/images", s.pullImage)
	s.mux.HandleFunc("POST /fleet/v1/machines/{id}/cordon", s.cordon)
	s.mux.HandleFunc("POST /fleet/v1/machines/{id}/drain", s.drain)
	s.mux.HandleFunc("POST /fleet/v1/machines/{id}/uncordon", s.uncordon)
	s.mux.HandleFunc("GET /fleet/v1/machines/{id}/drain", s.drainStatus)
	s.mux.HandleFunc("GET /health", s.health)
	s.rolloutRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s %s: see /fleet/v1/units, /fleet/v1/state, /fleet/v1/machines", r.Method, r.URL.Path))
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, schema.Error{Error: schema.ErrorBody{Code: code, Message: msg}})
}

// writeRegistryError maps registry failures onto HTTP codes.
func writeRegistryError(w http.ResponseWriter, name string, err error) {
	switch {
	case errors.Is(err, registry.ErrUnitNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unit %s not found: submit it first (fleetctl submit FILE)", name))
	case errors.Is(err, registry.ErrUnitExists):
		writeError(w, http.StatusConflict, fmt.Sprintf("unit %s already exists with different contents: use --replace, or destroy it first", name))
	default:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cluster store unavailable: %v", err))
	}
}

// page cuts a sorted list of names at the page token; it returns the index
// range and the next token.
func page(r *http.Request, n int, nameAt func(int) string) (lo, hi int, next string, err error) {
	size := defaultPageSize
	if v := r.URL.Query().Get("pageSize"); v != "" {
		size, err = strconv.Atoi(v)
		if err != nil || size < 1 || size > maxPageSize {
			return 0, 0, "", fmt.Errorf("pageSize %q: want 1..%d", v, maxPageSize)
		}
	}
	tok, err := pageTokenParam(r)
	if err != nil {
		return 0, 0, "", err
	}
	if tok != "" {
		after, derr := decodeToken(tok)
		if derr != nil {
			return 0, 0, "", fmt.Errorf("nextPageToken %q is not one this server issued", tok)
		}
		lo = sort.Search(n, func(i int) bool { return nameAt(i) > after })
	}
	hi = min(lo+size, n)
	if hi < n {
		next = encodeToken(nameAt(hi - 1))
	}
	return lo, hi, next, nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Registry.Health(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "etcd: "+err.Error())
		return
	}
	w.Write([]byte("ok\n"))
}
