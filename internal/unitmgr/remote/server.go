package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// MaxBody bounds every request body (a unit file, a fence, one for Also).
const MaxBody = 1 << 20

// KeepaliveEvery is how often a Client tells the server it is alive.
const KeepaliveEvery = 500 * time.Millisecond

// DefaultFenceAfter is ServerOptions.FenceAfter's default: fleetd's agent
// fence at its default TTL (ttl.Timing.ManagerFence of 5 s).
const DefaultFenceAfter = 3 * time.Second

// minFenceAfter is the shortest fence threshold: two keepalives.
const minFenceAfter = 2 * KeepaliveEvery

// ServerOptions configures Serve.
type ServerOptions struct {
	// FenceAfter: when no client has sent a keepalive for this long, the
	// units are fenced. Default 3 s; at least 2*KeepaliveEvery. A client
	// that states its own threshold in its keepalives (ClientOptions.
	// FenceAfter) overrides it; one that states none gets this.
	FenceAfter time.Duration
	// Also answers every request the unit manager's routes do not: other
	// services of the host sharing the socket and its root-only check
	// (imagehttp.Handler: the image store fleetd's API lists and pulls
	// through). nil answers 501.
	Also http.Handler
	Logf func(format string, args ...any) // default: discard
}

type server struct {
	m     unitmgr.Manager
	opts  ServerOptions
	hub   *hub
	alive *tracker
}

// Serve answers on l until ctx is done, then closes l and returns nil (or
// the error that stopped it earlier). It does not close m: the units
// belong to the caller.
func Serve(ctx context.Context, l net.Listener, m unitmgr.Manager, opts ServerOptions) error {
	if opts.FenceAfter == 0 {
		opts.FenceAfter = DefaultFenceAfter
	}
	if opts.FenceAfter < minFenceAfter {
		return fmt.Errorf("remote: ServerOptions.FenceAfter %s: want at least %s (clients send a keepalive every %s)", opts.FenceAfter, minFenceAfter, KeepaliveEvery)
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Also == nil {
		opts.Also = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotImplemented, "", fmt.Sprintf("remote: %s %s: this socket serves only the unit manager", r.Method, r.URL.Path))
		})
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &server{m: m, opts: opts, hub: newHub()}
	s.alive = newTracker(opts.FenceAfter, s.fence)
	defer s.alive.stop()
	go s.hub.run(sctx, m.Changes())

	hs := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return sctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerUID(c))
		},
		ErrorLog: nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case <-ctx.Done():
		cancel() // ends streams, which Shutdown would wait for
		shctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		_ = hs.Shutdown(shctx)
		return nil
	case err := <-errc:
		return fmt.Errorf("remote: serve: %w", err)
	}
}

// fence is called by the tracker when no client has been alive for after.
func (s *server) fence(after time.Duration) {
	if len(s.m.Units()) == 0 {
		return
	}
	s.opts.Logf("remote: no client for %s: fencing every unit", after)
	if err := s.m.Fence(time.Now().Add(5 * time.Second)); err != nil {
		s.opts.Logf("remote: fence: %v", err)
	}
}

type peerKey struct{}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/alive", s.keepalive)
	mux.HandleFunc("GET /v1/units", s.units)
	mux.HandleFunc("PUT /v1/units/{name}", s.load)
	mux.HandleFunc("GET /v1/units/{name}", s.state)
	mux.HandleFunc("POST /v1/units/{name}/start", s.action(s.m.Start))
	mux.HandleFunc("POST /v1/units/{name}/stop", s.action(s.m.Stop))
	mux.HandleFunc("DELETE /v1/units/{name}", s.action(s.m.Unload))
	mux.HandleFunc("GET /v1/units/{name}/journal", s.journal)
	mux.HandleFunc("POST /v1/fence", s.fenceNow)
	mux.HandleFunc("POST /v1/freeze", s.all(s.m.Freeze))
	mux.HandleFunc("POST /v1/thaw", s.all(s.m.Thaw))
	mux.HandleFunc("GET /v1/changes", s.changes)
	mux.HandleFunc("PUT /v1/network", s.network)
	mux.Handle("/", s.opts.Also)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uid, _ := r.Context().Value(peerKey{}).(int); uid != 0 {
			writeError(w, http.StatusForbidden, "", fmt.Sprintf("remote: peer uid %d is not root: the unit manager socket is root-only", uid))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		mux.ServeHTTP(w, r)
	})
}

// errorBody is every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

const codeNotLoaded = "not-loaded"

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers a manager error.
func fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, unitmgr.ErrNotLoaded):
		writeError(w, http.StatusNotFound, codeNotLoaded, err.Error())
	default:
		var ue *unit.Error
		if errors.As(err, &ue) {
			writeError(w, http.StatusBadRequest, "", err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, "", err.Error())
	}
}

// aliveRequest is the optional body of POST /v1/alive.
type aliveRequest struct {
	// FenceAfterMS is the client's fence threshold in milliseconds; absent
	// (or no body at all) means ServerOptions.FenceAfter.
	FenceAfterMS int64 `json:"fenceAfterMs,omitempty"`
}

func (s *server) keepalive(w http.ResponseWriter, r *http.Request) {
	after := s.opts.FenceAfter
	var in aliveRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("remote: keepalive: body: %v (want {\"fenceAfterMs\": N} or nothing)", err))
		return
	}
	if in.FenceAfterMS != 0 {
		after = time.Duration(in.FenceAfterMS) * time.Millisecond
		if after < minFenceAfter {
			writeError(w, http.StatusBadRequest, "", fmt.Sprintf("remote: fence threshold %s: this unit manager cannot fence sooner than %s after the last keepalive (one every %s); give fleetd a longer --ttl", after, minFenceAfter, KeepaliveEvery))
			return
		}
	}
	s.alive.seen(after)
	w.WriteHeader(http.StatusNoContent)
}

type unitList struct {
	Units []string `json:"units"`
}

func (s *server) units(w http.ResponseWriter, r *http.Request) {
	names := s.m.Units()
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, unitList{Units: names})
}

func (s *server) load(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("remote: unit file of %s: %v (at most %d bytes)", name, err, MaxBody))
		return
	}
	f, err := unit.Parse(name, body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	if err := s.m.Load(name, f); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) state(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, ok := s.m.State(name)
	if !ok {
		writeError(w, http.StatusNotFound, codeNotLoaded, fmt.Sprintf("%s: %v", name, unitmgr.ErrNotLoaded))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *server) action(f func(string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(r.PathValue("name")); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

type fenceRequest struct {
	Deadline time.Time `json:"deadline"`
}

func (s *server) fenceNow(w http.ResponseWriter, r *http.Request) {
	var in fenceRequest
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("remote: fence: body: %v (want {\"deadline\": RFC 3339 time})", err))
		return
	}
	if err := s.m.Fence(in.Deadline); err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// all serves an operation on every unit (freeze, thaw).
func (s *server) all(op func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := op(); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *server) journal(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	lines := -1
	if v := q.Get("lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "", fmt.Sprintf("remote: journal: lines=%q: want an integer", v))
			return
		}
		lines = n
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), contentType: "text/plain; charset=utf-8"}
	err := s.m.Journal(r.Context(), name, lines, follow, sw)
	if err != nil && !sw.started {
		fail(w, err)
		return
	}
	sw.start()
}

// streamWriter commits a 200 at the first write (so that an error found
// before any output can still be answered as one) and flushes every write.
type streamWriter struct {
	w           http.ResponseWriter
	rc          *http.ResponseController
	contentType string
	started     bool
}

func (sw *streamWriter) start() {
	if !sw.started {
		sw.started = true
		sw.w.Header().Set("Content-Type", sw.contentType)
		sw.w.WriteHeader(http.StatusOK)
		_ = sw.rc.Flush()
	}
}

func (sw *streamWriter) Write(b []byte) (int, error) {
	sw.start()
	if len(b) == 0 {
		return 0, nil
	}
	n, err := sw.w.Write(b)
	if err == nil {
		err = sw.rc.Flush()
	}
	return n, err
}

// change is one line of the change stream.
type change struct {
	Unit string `json:"unit"`
}

func (s *server) changes(w http.ResponseWriter, r *http.Request) {
	sub := s.hub.subscribe()
	defer s.hub.unsubscribe(sub)
	for _, name := range s.m.Units() {
		sub.Add(name)
	}
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), contentType: "application/x-ndjson"}
	sw.start()
	enc := json.NewEncoder(sw)
	for {
		for _, name := range sub.Take() {
			if err := enc.Encode(change{Unit: name}); err != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-sub.Wake():
		}
	}
}

// tracker calls fence once when no keepalive has come for after; a new
// keepalive re-arms it, with the threshold that keepalive asked for.
type tracker struct {
	fence func(after time.Duration)

	mu      sync.Mutex
	after   time.Duration // the threshold of the last keepalive
	last    time.Time
	fenced  bool
	stopped bool
	timer   *time.Timer
}

func newTracker(after time.Duration, fence func(time.Duration)) *tracker {
	t := &tracker{after: after, fence: fence, last: time.Now()}
	t.timer = time.AfterFunc(after, t.fire)
	return t
}

func (t *tracker) seen(after time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.after = after
	t.last = time.Now()
	t.fenced = false
	t.timer.Reset(t.after)
}

func (t *tracker) fire() {
	t.mu.Lock()
	if t.stopped || t.fenced {
		t.mu.Unlock()
		return
	}
	if left := t.after - time.Since(t.last); left > 0 {
		t.timer.Reset(left)
		t.mu.Unlock()
		return
	}
	t.fenced = true
	after := t.after
	t.mu.Unlock()
	t.fence(after)
}

func (t *tracker) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.timer.Stop()
}
