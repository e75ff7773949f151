package initd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// Backoff is the restart delay of a system service: Min after the first
// exit, doubling up to Max, back to Min once a run lasted Reset.
type Backoff struct {
	Min, Max, Reset time.Duration
}

// DefaultBackoff is 1 s doubling to 30 s, reset after 60 s up.
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second, Reset: 60 * time.Second}

// Next is the delay before the next start, given the previous delay (0 for
// none yet) and how long the run that just ended lasted.
func (b Backoff) Next(prev, upFor time.Duration) time.Duration {
	if prev <= 0 || upFor >= b.Reset {
		return b.Min
	}
	return min(prev*2, b.Max)
}

// Service is a system service init supervises (fleetd, updater, the debug
// shell). Its processes are run by a unitmgr.Manager (in init: a
// native.Supervisor of its own, so the process-wide reaper is the only
// thing that ever waits for a child).
type Service struct {
	Name string   // "fleetd"; the unit is Name+".service"
	Argv []string // absolute program path first
	Env  []string // KEY=value, set for the service's processes
	// Console prefixes the service's output onto the console ("fleetd: ...")
	// as well as keeping it in its log. The debug shell, which owns the
	// console itself, sets it false.
	Console bool
	// StopTimeout is SIGTERM's grace before SIGKILL; default 10 s.
	StopTimeout time.Duration
}

func (s Service) unitName() string { return s.Name + ".service" }

// UnitFile is the unit a service runs as: a simple service the manager
// never restarts on its own (Services does, with backoff), no start limit,
// argv quoted so the manager's parser gives it back word for word.
func (s Service) UnitFile() *unit.File {
	stop := s.StopTimeout
	if stop <= 0 {
		stop = 10 * time.Second
	}
	words := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		words[i] = quoteExecWord(a)
	}
	opts := []unit.Option{
		{Section: "Unit", Name: "Description", Value: "flotilla system service " + s.Name},
		{Section: "Unit", Name: "StartLimitIntervalSec", Value: "0"},
		{Section: "Service", Name: "Type", Value: "simple"},
		{Section: "Service", Name: "ExecStart", Value: ":" + strings.Join(words, " ")},
		{Section: "Service", Name: "Restart", Value: "no"},
		{Section: "Service", Name: "KillMode", Value: "mixed"},
		{Section: "Service", Name: "TimeoutStopSec", Value: fmt.Sprintf("%dms", stop.Milliseconds())},
	}
	for _, kv := range s.Env {
		opts = append(opts, unit.Option{Section: "Service", Name: "Environment", Value: quoteExecWord(kv)})
	}
	return unit.FromOptions(opts)
}

// quoteExecWord quotes one word for an Exec line: specifiers doubled,
// backslashes and quotes escaped, always in double quotes. The ':' prefix
// on the line turns off $VAR substitution.
func quoteExecWord(w string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%")
	return `"` + r.Replace(w) + `"`
}

// Services starts system services and restarts them with Backoff when they
// exit. Every method is safe for concurrent use.
type Services struct {
	m       unitmgr.Manager
	backoff Backoff
	console io.Writer
	logf    func(string, ...any)

	mu       sync.Mutex
	svcs     map[string]*svcState // by unit name
	stopping bool
	ctx      context.Context // ends at Close: the console followers and the watcher
	done     chan struct{}
	cancel   context.CancelFunc
}

type svcState struct {
	svc     Service
	started time.Time     // last Start
	delay   time.Duration // last backoff delay, 0 when none
	pending bool          // a restart is scheduled
	starts  int
}

// NewServices runs services through m, which Services owns from now on
// (Close closes it). console receives prefixed output and restart notices.
func NewServices(m unitmgr.Manager, console io.Writer, b Backoff, logf func(string, ...any)) *Services {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Services{m: m, backoff: b, console: console, logf: logf, svcs: map[string]*svcState{},
		ctx: ctx, done: make(chan struct{}), cancel: cancel}
	go s.watch(ctx)
	return s
}

// Start loads svc and starts it; from now on an exit restarts it.
func (s *Services) Start(svc Service) error {
	name := svc.unitName()
	if err := s.m.Load(name, svc.UnitFile()); err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return fmt.Errorf("service %s: init is shutting down", svc.Name)
	}
	st := &svcState{svc: svc}
	s.svcs[name] = st
	s.mu.Unlock()
	if svc.Console {
		go s.m.Journal(s.ctx, name, 0, true, &prefixWriter{w: s.console, prefix: svc.Name + ": "})
	}
	return s.start(name)
}

func (s *Services) start(name string) error {
	s.mu.Lock()
	st := s.svcs[name]
	if s.stopping || st == nil {
		s.mu.Unlock()
		return nil
	}
	st.started, st.pending = time.Now(), false
	st.starts++
	s.mu.Unlock()
	return s.m.Start(name)
}

// Starts reports how often a service was started (for tests and status).
func (s *Services) Starts(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.svcs[name+".service"]; st != nil {
		return st.starts
	}
	return 0
}

// State is the service's unit state.
func (s *Services) State(name string) (unit.State, bool) {
	return s.m.State(name + ".service")
}

func (s *Services) watch(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case name, ok := <-s.m.Changes():
			if !ok {
				return
			}
			s.changed(name)
		}
	}
}

// changed schedules a restart when a service's unit has ended.
func (s *Services) changed(name string) {
	state, ok := s.m.State(name)
	if !ok || (state.Active != unit.ActiveInactive && state.Active != unit.ActiveFailed) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.svcs[name]
	if st == nil || s.stopping || st.pending || st.started.IsZero() {
		return
	}
	up := time.Since(st.started)
	st.delay = s.backoff.Next(st.delay, up)
	st.pending = true
	why := state.Reason
	if why == "" {
		why = state.Sub
	}
	fmt.Fprintf(s.console, "flotilla: %s exited (%s) after %s; restarting in %s\n", st.svc.Name, why, up.Round(time.Millisecond), st.delay)
	time.AfterFunc(st.delay, func() {
		if err := s.start(name); err != nil {
			s.logf("flotilla: restart %s: %v", st.svc.Name, err)
		}
	})
}

// Close stops every service (SIGTERM, then SIGKILL after its StopTimeout)
// and closes the manager. No service restarts after Close begins.
func (s *Services) Close() error {
	s.mu.Lock()
	s.stopping = true
	names := make([]string, 0, len(s.svcs))
	for n := range s.svcs {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		s.m.Stop(n)
	}
	err := s.m.Close()
	s.cancel()
	<-s.done
	return err
}

// prefixWriter writes each line of output with a prefix, holding a partial
// line until its newline (or 4 KiB) arrives.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			if len(p.buf) < 4096 {
				return len(b), nil
			}
			i = len(p.buf) - 1
		}
		line := make([]byte, 0, len(p.prefix)+i+2)
		line = append(append(line, p.prefix...), p.buf[:i+1]...)
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		p.buf = p.buf[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return len(b), err
		}
	}
}
