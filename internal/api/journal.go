package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// journal streams a unit's log from the machine that runs it: locally from
// the unit manager, or proxied to that machine's API.
func (s *Server) journal(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	lines := 10
	if v := q.Get("lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unit %s: lines %q: want a number ≥ 0", name, v))
			return
		}
		lines = n
	}
	follow := q.Get("follow") == "true"
	machine := q.Get("machineID")
	ctx := r.Context()
	if machine == "" {
		v, err := s.load(ctx)
		if err != nil {
			writeRegistryError(w, name, err)
			return
		}
		if v.snap.Units[name] == nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unit %s not found", name))
			return
		}
		ps := v.snap.Placements[name]
		if len(ps) == 0 {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unit %s is not placed on any machine, so it has no log", name))
			return
		}
		machine = ps[0].Machine
		for _, p := range ps {
			if p.Machine == s.cfg.MachineID {
				machine = p.Machine
			}
		}
	}
	if machine == s.cfg.MachineID {
		s.localJournal(w, r, name, lines, follow)
		return
	}
	if by := r.Header.Get(proxiedByHeader); by != "" {
		// Proxying again could only loop: machine's registered API URL
		// leads here, to another machine.
		writeError(w, http.StatusBadGateway, fmt.Sprintf("unit %s: machine %s asked this API (%s) for the log of machine %s, but this is machine %s: machine %s has registered a wrong apiURL (did its machine ID change?)",
			name, by, r.Host, machine, s.cfg.MachineID, machine))
		return
	}
	s.proxyJournal(w, r, name, machine, lines, follow)
}

func (s *Server) localJournal(w http.ResponseWriter, r *http.Request, name string, lines int, follow bool) {
	if _, ok := s.cfg.Manager.State(name); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unit %s is not loaded on machine %s", name, s.cfg.MachineID))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := s.cfg.Manager.Journal(r.Context(), name, lines, follow, fw); err != nil && r.Context().Err() == nil {
		if err == unitmgr.ErrNotLoaded {
			return
		}
		fmt.Fprintf(fw, "-- journal of %s ended: %v --\n", name, err)
	}
}

func (s *Server) proxyJournal(w http.ResponseWriter, r *http.Request, name, machine string, lines int, follow bool) {
	base, _, err := s.machineAPI(r.Context(), machine)
	if err != nil {
		writeRegistryError(w, name, err)
		return
	}
	if base == "" {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("unit %s runs on machine %s, whose API is not reachable over TCP (is it alive, and started with --api-listen?)", name, machine))
		return
	}
	u := base + "/fleet/v1/units/" + url.PathEscape(name) + "/journal?" + url.Values{
		"lines": {strconv.Itoa(lines)}, "follow": {strconv.FormatBool(follow)}, "machineID": {machine},
	}.Encode()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u, nil)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	req.Header.Set(proxiedByHeader, s.cfg.MachineID)
	resp, err := s.cfg.Peer.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("unit %s: reach machine %s at %s: %v", name, machine, base, err))
		return
	}
	relay(w, resp)
}

// machineAPI returns the API URL a machine registered ("" without TCP API)
// and whether the machine is in the cluster at all.
func (s *Server) machineAPI(ctx context.Context, machine string) (base string, known bool, err error) {
	ms, err := s.cfg.Registry.Machines(ctx)
	if err != nil {
		return "", false, err
	}
	for _, m := range ms {
		if m.ID == machine {
			return m.APIURL, true, nil
		}
	}
	return "", false, nil
}

// relay copies another machine's answer to w, flushing as it streams.
func relay(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	_, _ = io.Copy(fw, resp.Body)
}

// proxiedByHeader marks a journal request proxied from another machine's API
// (its value is that machine's ID); such a request is served locally or refused.
const proxiedByHeader = "X-Flotilla-Proxied-By"

// flushWriter flushes after every write so followers see lines at once.
type flushWriter struct {
	w io.Writer
	f http.Flusher
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}
