package native

import (
	"slices"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// job is one start job of a unit: it ends when the unit is up (active, or
// a oneshot's commands have run) or will not come up (failed, stopped).
// Units ordered after the unit wait for it; those that need it fail with it.
type job struct {
	done chan struct{}
	ok   bool // set before done is closed
}

func newJob() *job { return &job{done: make(chan struct{})} }

// finish ends j with its result unless it has ended; the unit's mu is held.
func (j *job) finish(ok bool) {
	if j != nil && !isClosed(j.done) {
		j.ok = ok
		close(j.done)
	}
}

// finishJob ends a's start job: ok once the unit is up, not ok when it
// ends (or restarts) without having come up.
func (a *activation) finishJob(ok bool) {
	a.u.mu.Lock()
	defer a.u.mu.Unlock()
	a.job.finish(ok)
}

// renewJob fails a's start job and begins another: a unit going through
// an automatic restart has not come up, and will try again.
func (a *activation) renewJob() {
	a.u.mu.Lock()
	defer a.u.mu.Unlock()
	a.job.finish(false)
	a.job = newJob()
	a.u.job = a.job
}

// takeJobLocked returns the start job a new activation runs: the one a
// Start made while the last run was stopping (waiters may hold it), or a
// new one; u.mu is held.
func (u *svc) takeJobLocked() *job {
	if u.job == nil || isClosed(u.job.done) {
		u.job = newJob()
	}
	return u.job
}

// queueJobLocked makes the job of the start that follows the current
// run's stop (pendingStart), for units ordered after this one to wait
// for; u.mu is held.
func (u *svc) queueJobLocked() {
	if u.job == nil || isClosed(u.job.done) || u.job == u.act.job {
		u.job = newJob()
	}
}

// dropQueuedJobLocked fails the job of a start that will not happen now
// (pendingStart cleared); u.mu is held.
func (u *svc) dropQueuedJobLocked() {
	if u.job != nil && (u.act == nil || u.job != u.act.job) {
		u.job.finish(false)
	}
}

func (u *svc) currentJob() *job {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.job
}

// down reports whether the unit is inactive or failed with nothing running.
func (u *svc) down() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.act == nil && (u.st.Active == unit.ActiveInactive || u.st.Active == unit.ActiveFailed)
}

// stopFor stops a running unit because cause stopped, failed or restarts,
// and remembers to start it again once cause is active. It reports
// whether the unit was running (activating or active, not stopping).
func (u *svc) stopFor(cause string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.act == nil || u.act.stopping() {
		return false
	}
	u.markResumeLocked(cause)
	if u.pendingStart {
		u.pendingStart = false
		u.dropQueuedJobLocked()
	}
	u.act.requestStop()
	return true
}

func (u *svc) markResumeLocked(cause string) {
	if u.resumeOn == nil {
		u.resumeOn = map[string]bool{}
	}
	u.resumeOn[cause] = true
}

func (u *svc) markResume(cause string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.markResumeLocked(cause)
}

// takeResume reports whether the unit waits for cause to be active to
// start again, and forgets it.
func (u *svc) takeResume(cause string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.resumeOn[cause] || u.removed {
		return false
	}
	u.resumeOn = nil
	return true
}

// graph returns the dependency graph of the loaded units, built once per
// change of the set of units or of their definitions.
func (s *Supervisor) graph() *graph {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.g == nil {
		deps := make(map[string]*unitDeps, len(s.units))
		for name, u := range s.units {
			if !u.isRemoved() {
				deps[name] = u.deps
			}
		}
		s.g = newGraph(deps)
	}
	return s.g
}

// startWith starts name and every loaded unit its start pulls in
// (Requires=, Wants=, BindsTo=, and the units that say WantedBy= or
// RequiredBy= on it), those it is ordered after first. Each unit's runner
// then waits for the start jobs it is ordered after (waitDeps).
func (s *Supervisor) startWith(name string) error {
	for _, n := range s.graph().startSet(name) {
		u := s.lookup(n)
		if u == nil {
			continue
		}
		if err := u.start(); err != nil {
			if n == name {
				return err
			}
			s.cfg.Logf("%s: start %s, which it pulls in: %v", name, n, err)
		}
	}
	return nil
}

// stopDependents stops the running units that need name (Requires=,
// Requisite=, BindsTo=, PartOf=, RequiredBy=), and theirs in turn: name
// was stopped, or restarts. Each starts again once name is active again.
func (s *Supervisor) stopDependents(g *graph, name, why string) {
	seen := map[string]bool{name: true}
	var walk func(string, string)
	walk = func(cause, why string) {
		for _, d := range g.dependents(cause, stops) {
			if seen[d] {
				continue
			}
			seen[d] = true
			u := s.lookup(d)
			if u == nil || !u.stopFor(cause) {
				continue
			}
			u.event("%s: stopping: %s %s.", d, cause, why)
			walk(d, "is stopping")
		}
	}
	walk(name, why)
}

// waitDeps runs before a unit's first start: it logs the hard
// dependencies that are not loaded here (ignored), waits for the start
// jobs of the units it is ordered after, and returns the first unit it
// needs (Requires=, BindsTo=, Requisite=) whose start failed, or a
// Requisite= that is not active; "" when the unit may start, or was
// stopped while it waited.
func (s *Supervisor) waitDeps(a *activation) string {
	g := s.graph()
	name := a.u.name
	if !g.has(name) {
		return ""
	}
	for _, m := range g.missing(name) {
		a.u.event("%s: %s is not loaded on this machine; the dependency is ignored.", name, m)
	}
	if cyc := g.cycleOf(name); cyc != nil {
		a.u.event("%s: ordering cycle between %s; they start without waiting for each other.", name, strings.Join(cyc, ", "))
	}
	for _, p := range g.ordered(name) {
		v := s.lookup(p)
		if v == nil {
			continue
		}
		j := v.currentJob()
		if j == nil {
			continue
		}
		select {
		case <-j.done:
		case <-a.stopc:
			return ""
		}
		if !j.ok && g.kinds(name, p)&needs != 0 {
			return p
		}
	}
	for _, r := range sortedWith(g.out[name], edgeRequisite) {
		if v := s.lookup(r); v != nil && v.state().Active != unit.ActiveActive {
			return r
		}
	}
	return ""
}

// waitStopsBefore runs before a unit asked to stop runs its stop steps:
// the units ordered after it (After= on it, or its Before=) that are
// stopping too stop first, as systemd orders stop jobs in reverse. A
// sidekick's ExecStop so runs while its service is still up.
func (s *Supervisor) waitStopsBefore(a *activation) {
	g := s.graph()
	cyc := g.cycleOf(a.u.name)
	for _, d := range g.dependents(a.u.name, edgeAfter) {
		if slices.Contains(cyc, d) {
			continue
		}
		v := s.lookup(d)
		if v == nil {
			continue
		}
		if done := v.stoppingDone(); done != nil {
			select {
			case <-done:
			case <-a.fencec:
				return
			}
		}
	}
}

// stoppingDone returns a channel closed when the unit's stopping run is
// over, or nil when it is not stopping.
func (u *svc) stoppingDone() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.act == nil || !u.act.stopping() {
		return nil
	}
	return u.act.done
}

// depEvent is a unit's state change that its dependents may act on.
type depEvent struct{ name, active, sub string }

// queueEvent hands a state change to the dependency loop; it never blocks
// (it is called with the unit's lock held).
func (s *Supervisor) queueEvent(ev depEvent) {
	s.evMu.Lock()
	s.events = append(s.events, ev)
	s.evMu.Unlock()
	select {
	case s.evWake <- struct{}{}:
	default:
	}
}

// depLoop acts on state changes in the order they happened, until Close.
func (s *Supervisor) depLoop() {
	defer close(s.evDone)
	for {
		select {
		case <-s.evWake:
		case <-s.evStop:
			return
		}
		for {
			s.evMu.Lock()
			evs := s.events
			s.events = nil
			s.evMu.Unlock()
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if s.isClosed() {
					return
				}
				s.handle(ev)
			}
		}
	}
}

// handle applies systemd's dependency rules to one state change:
//   - a unit restarting automatically restarts the units that need it
//     (they stop now, and start again when it is active);
//   - a unit that stopped or failed, however it happened, stops the units
//     bound to it (BindsTo=);
//   - a unit that became active starts the units stopped because of it,
//     and stops itself if a unit it is bound to is down.
func (s *Supervisor) handle(ev depEvent) {
	g := s.graph()
	switch {
	case ev.sub == "auto-restart":
		s.stopDependents(g, ev.name, "is restarting")
	case ev.active == unit.ActiveInactive || ev.active == unit.ActiveFailed:
		for _, d := range g.dependents(ev.name, edgeBindsTo) {
			if u := s.lookup(d); u != nil && u.stopFor(ev.name) {
				u.event("%s: stopping: it is bound to %s, which is %s.", d, ev.name, ev.active)
				s.stopDependents(g, d, "is stopping")
			}
		}
	case ev.active == unit.ActiveActive:
		for _, u := range s.all() {
			if u.takeResume(ev.name) {
				u.event("%s: starting again: %s is active.", u.name, ev.name)
				if err := s.startWith(u.name); err != nil {
					s.cfg.Logf("%s: %v", u.name, err)
				}
			}
		}
		for _, b := range sortedWith(g.out[ev.name], edgeBindsTo) {
			if v := s.lookup(b); v != nil && v.down() {
				if u := s.lookup(ev.name); u != nil && u.stopFor(b) {
					u.event("%s: stopping: it is bound to %s, which is not active.", ev.name, b)
					s.stopDependents(g, ev.name, "is stopping")
				}
			}
		}
	}
}

// dependencyFailed ends an activation whose start a needed unit failed:
// the unit stays inactive, as in systemd (job result "dependency"), and
// starts again once that unit is active.
func (a *activation) dependencyFailed(dep string) {
	a.u.markResume(dep)
	a.u.event("Dependency failed for %s.", a.u.name)
	a.set(unit.ActiveInactive, "dead", "dependency failed: "+dep)
	a.finishJob(false)
}
