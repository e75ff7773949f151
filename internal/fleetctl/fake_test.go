package fleetctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// fakeFleet is an in-memory fleetd API as internal/api/schema describes it.
// It never changes unit states by itself: tests drive them, directly or from
// the onDesired and onStatePoll hooks (called with mu held).
type fakeFleet struct {
	mu       sync.Mutex
	pageSize int // default page size; ?pageSize= overrides
	units    map[string]*schema.Unit
	states   []*schema.UnitState
	machines []*schema.Machine
	journals map[string][]string // unit name -> lines
	follow   chan string         // lines sent to followers after the backlog

	// validate returns a 400 message for bad options, "" when fine.
	validate    func(u *schema.Unit) string
	onDesired   func(f *fakeFleet, name, state string)
	onStatePoll func(f *fakeFleet, n int)
	statePolls  int
	failPoll    bool     // set by onStatePoll: this poll answers 503
	requests    []string // "METHOD /path?query"

	srv *httptest.Server
}

func newFakeFleet(t testing.TB) *fakeFleet {
	f := &fakeFleet{
		pageSize: 2, // small, so that every list crosses pages
		units:    map[string]*schema.Unit{},
		journals: map[string][]string{},
		follow:   make(chan string, 16),
	}
	f.srv = httptest.NewServer(f.handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFleet) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fleet/v1/units", f.listUnits)
	mux.HandleFunc("GET /fleet/v1/units/{name}", f.getUnit)
	mux.HandleFunc("PUT /fleet/v1/units/{name}", f.putUnit)
	mux.HandleFunc("DELETE /fleet/v1/units/{name}", f.deleteUnit)
	mux.HandleFunc("GET /fleet/v1/units/{name}/journal", f.journal)
	mux.HandleFunc("GET /fleet/v1/state", f.listStates)
	mux.HandleFunc("GET /fleet/v1/machines", f.listMachines)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func writeErr(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(schema.Error{Error: schema.ErrorBody{Code: code, Message: fmt.Sprintf(format, args...)}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// page cuts items at nextPageToken (an index) to the page size.
func page[T any](r *http.Request, items []T, def int) ([]T, string, error) {
	start := 0
	if tok := r.URL.Query().Get("nextPageToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", fmt.Errorf("invalid nextPageToken %q", tok)
		}
		start = n
	}
	size := def
	if s := r.URL.Query().Get("pageSize"); s != "" {
		size, _ = strconv.Atoi(s)
	}
	if size <= 0 {
		size = len(items) + 1
	}
	end := min(start+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

func (f *fakeFleet) sortedUnits() []*schema.Unit {
	us := make([]*schema.Unit, 0, len(f.units))
	for _, u := range f.units {
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return us[i].Name < us[j].Name })
	return us
}

func (f *fakeFleet) listUnits(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, next, err := page(r, f.sortedUnits(), f.pageSize)
	if err != nil {
		writeErr(w, 400, "%v", err)
		return
	}
	writeJSON(w, schema.UnitPage{Units: p, NextPageToken: next})
}

func (f *fakeFleet) getUnit(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.units[r.PathValue("name")]
	if !ok {
		writeErr(w, 404, "unit %s not found", r.PathValue("name"))
		return
	}
	writeJSON(w, u)
}

func validState(s string) bool {
	return s == schema.StateInactive || s == schema.StateLoaded || s == schema.StateLaunched
}

func (f *fakeFleet) putUnit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var in schema.Unit
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, 400, "unit %s: malformed body: %v", name, err)
		return
	}
	if in.Name != "" && in.Name != name {
		writeErr(w, 400, "unit %s: body names unit %s", name, in.Name)
		return
	}
	if in.DesiredState != "" && !validState(in.DesiredState) {
		writeErr(w, 400, "unit %s: invalid desiredState %q", name, in.DesiredState)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, exists := f.units[name]
	if len(in.Options) == 0 {
		if !exists {
			writeErr(w, 404, "unit %s not found", name)
			return
		}
		if in.DesiredState == "" {
			writeErr(w, 400, "unit %s: neither options nor desiredState given", name)
			return
		}
		f.setDesired(cur, in.DesiredState)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if f.validate != nil {
		if msg := f.validate(&in); msg != "" {
			writeErr(w, 400, "%s", msg)
			return
		}
	}
	hash := unit.FromOptions(in.Options).Hash()
	if exists {
		if cur.Hash != hash {
			if r.URL.Query().Get("replace") != "true" {
				writeErr(w, 409, "unit %s: options differ from the stored unit; use replace", name)
				return
			}
			cur.Options, cur.Hash = in.Options, hash
		}
		if in.DesiredState != "" {
			f.setDesired(cur, in.DesiredState)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	u := &schema.Unit{Name: name, Options: in.Options, Hash: hash, DesiredState: schema.StateInactive}
	f.units[name] = u
	if in.DesiredState != "" {
		f.setDesired(u, in.DesiredState)
	}
	w.WriteHeader(http.StatusCreated)
}

func (f *fakeFleet) setDesired(u *schema.Unit, state string) {
	u.DesiredState = state
	if f.onDesired != nil {
		f.onDesired(f, u.Name, state)
	}
}

func (f *fakeFleet) deleteUnit(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.units[name]; !ok {
		writeErr(w, 404, "unit %s not found", name)
		return
	}
	delete(f.units, name)
	f.removeStates(name)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeFleet) listStates(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Query().Get("nextPageToken") == "" {
		f.statePolls++
		if f.onStatePoll != nil {
			f.onStatePoll(f, f.statePolls)
		}
		if f.failPoll {
			f.failPoll = false
			writeErr(w, http.StatusServiceUnavailable, "etcd: request timed out")
			return
		}
	}
	var ss []*schema.UnitState
	un, mid := r.URL.Query().Get("unitName"), r.URL.Query().Get("machineID")
	for _, s := range f.states {
		if (un == "" || s.Name == un) && (mid == "" || s.MachineID == mid) {
			ss = append(ss, s)
		}
	}
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].Name != ss[j].Name {
			return ss[i].Name < ss[j].Name
		}
		return ss[i].MachineID < ss[j].MachineID
	})
	p, next, err := page(r, ss, f.pageSize)
	if err != nil {
		writeErr(w, 400, "%v", err)
		return
	}
	writeJSON(w, schema.UnitStatePage{States: p, NextPageToken: next})
}

func (f *fakeFleet) listMachines(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, next, err := page(r, f.machines, f.pageSize)
	if err != nil {
		writeErr(w, 400, "%v", err)
		return
	}
	writeJSON(w, schema.MachinePage{Machines: p, NextPageToken: next})
}

func (f *fakeFleet) journal(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	f.mu.Lock()
	_, ok := f.units[name]
	lines := f.journals[name+"@"+q.Get("machineID")]
	if lines == nil {
		lines = f.journals[name]
	}
	f.mu.Unlock()
	if !ok {
		writeErr(w, 404, "unit %s not found", name)
		return
	}
	n, err := strconv.Atoi(q.Get("lines"))
	if err != nil || n < 0 {
		writeErr(w, 400, "unit %s: invalid lines %q", name, q.Get("lines"))
		return
	}
	if n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	if q.Get("follow") != "true" {
		return
	}
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case l := <-f.follow:
			fmt.Fprintln(w, l)
			w.(http.Flusher).Flush()
		}
	}
}

// setState records the state of name on machine (replacing an earlier one); call with mu held.
func (f *fakeFleet) setState(s *schema.UnitState) {
	for i, o := range f.states {
		if o.Name == s.Name && o.MachineID == s.MachineID {
			f.states[i] = s
			return
		}
	}
	f.states = append(f.states, s)
}

// removeStates forgets every state of name; call with mu held.
func (f *fakeFleet) removeStates(name string) {
	kept := f.states[:0]
	for _, s := range f.states {
		if s.Name != name {
			kept = append(kept, s)
		}
	}
	f.states = kept
}

func (f *fakeFleet) lock(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeFleet) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// runCtl runs fleetctl in-process against endpoint.
func runCtl(t testing.TB, endpoint string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCtlEnv(t, context.Background(), map[string]string{"FLEETCTL_ENDPOINT": endpoint}, args...)
}

func runCtlEnv(t testing.TB, ctx context.Context, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut testutil.Buffer
	code := Run(ctx, args, Runtime{
		Stdout:       &out,
		Stderr:       &errOut,
		LookupEnv:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Now:          func() time.Time { return testNow },
		PollInterval: time.Millisecond,
	})
	t.Logf("fleetctl %s -> %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}
