package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/metrics"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/ttl"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// Config describes the machine an agent runs on.
type Config struct {
	Machine registry.MachineRecord
	TTL     time.Duration // machine lease; default ttl.Default
	Logf    func(format string, args ...any)
	// Alive, when set, is told after each answered renewal by when this
	// machine's units must be dead if the agent says nothing more (the
	// last renewal's send time plus ttl.Timing.Watchdog, after the agent's
	// own kill), and the zero time once there is nothing to protect
	// (fenced). An outside watchdog
	// (internal/lifeline) kills them if the agent stalls. It must not block.
	Alive func(deadline time.Time)
	// Metrics is told of renewals, fences and each unit state reported;
	// nil records nothing.
	Metrics *metrics.Node
}

// Agent runs the units placed on one machine.
type Agent struct {
	reg *registry.Registry
	mgr unitmgr.Manager
	cfg Config
	t   ttl.Timing // from cfg.TTL

	mu      sync.Mutex // guards the fields below and serialises apply with fence
	desired map[string]*registry.Placement
	applied map[string]applied
	loadErr map[string]string
	fenced  bool // units killed; restored by a timely renewal
	frozen  bool // units frozen; thawed by a renewal before killTimer

	lastRenew  time.Time   // when the last successful renewal was sent
	fenceTimer *time.Timer // fires t.Fence() after lastRenew
	killTimer  *time.Timer // while frozen: fires t.KillDeadline() after lastRenew

	kick      chan struct{} // placements or fencing changed: apply again
	states    *changeWriter[registry.StateRecord]
	endpoints *changeWriter[registry.Endpoint]
}

// applied is what the agent last did with a unit. An adopted unit was
// already in the manager when the agent started (init hosts units across a
// fleetd restart): the first apply keeps it if it is still placed here and
// unloads it otherwise.
type applied struct {
	hash, target string
	adopted      bool
}

// New returns an agent for the machine in cfg.
func New(reg *registry.Registry, mgr unitmgr.Manager, cfg Config) *Agent {
	if cfg.TTL == 0 {
		cfg.TTL = ttl.Default
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Alive == nil {
		cfg.Alive = func(time.Time) {}
	}
	a := &Agent{
		reg: reg, mgr: mgr, cfg: cfg, t: ttl.Of(cfg.TTL),
		desired: map[string]*registry.Placement{},
		applied: map[string]applied{},
		loadErr: map[string]string{},
		kick:    make(chan struct{}, 1),
	}
	a.states = newStateWriter(a)
	a.endpoints = newEndpointWriter(a)
	return a
}

// Run keeps the machine registered and its units in line until ctx is done.
// On return the units keep running; the caller decides whether to stop them.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.checkMachineID(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	for _, name := range a.mgr.Units() {
		a.applied[name] = applied{adopted: true}
	}
	a.mu.Unlock()
	go a.states.run(ctx, a.mgr.Changes())
	go a.endpoints.run(ctx, nil)
	go a.applyLoop(ctx)
	// One fence timer for the agent's whole life: only a successful lease
	// grant or renewal pushes it back, whatever happens to sessions and
	// watches in between.
	a.fenceTimer = time.AfterFunc(a.t.Fence(), a.fenceTimerFired)
	defer a.fenceTimer.Stop()
	defer func() {
		a.mu.Lock()
		if a.killTimer != nil {
			a.killTimer.Stop()
		}
		a.mu.Unlock()
	}()
	a.renewed(time.Now())
	for ctx.Err() == nil {
		err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, registry.ErrMachineIDTaken) {
			return err // another machine has our ID: do not join
		}
		a.cfg.Logf("agent: %v; registering again", err)
		select {
		case <-ctx.Done():
		case <-time.After(a.t.Retry()):
		}
	}
	return nil
}

// session is one lease: register, then renew it and follow our placements
// until the lease is lost.
func (a *Agent) session(ctx context.Context) error {
	sent := time.Now()
	gctx, cancel := context.WithTimeout(ctx, a.cfg.TTL)
	lease, err := a.reg.Grant(gctx, a.cfg.TTL)
	cancel()
	if err != nil {
		return err
	}
	m := a.cfg.Machine
	m.StartedAt = time.Now().UTC()
	if err := a.reg.ClaimMachine(ctx, &m, lease); err != nil {
		return err
	}
	a.renewed(sent)
	a.arm()
	a.states.setLease(lease)
	for _, name := range a.mgr.Units() {
		a.states.mark(name) // a unit the manager holds has a state to report
	}
	a.endpoints.setLease(lease)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go a.follow(sctx)
	return a.renew(sctx, lease)
}

// renew keeps the lease alive until it is lost. A renewal goes out every
// Renew (TTL/5) whether or not the previous one has answered, and each may
// take until the fence would fire anyway (Fence, 3/5 TTL): on a loaded
// node (three QEMU guests on two cores) a reply can take over a second, and
// a renewal given up after one tick, with the next only sent at the tick
// after, fenced healthy units every few seconds.
func (a *Agent) renew(ctx context.Context, lease registry.LeaseID) error {
	every := a.t.Renew()
	wait := a.t.Fence()
	const maxInFlight = 3 // wait/every: older ones have timed out by then
	type result struct {
		sent time.Time
		err  error
	}
	// Buffered for every renewal in flight, so none blocks after return.
	results := make(chan result, maxInFlight)
	inFlight, failing := 0, false
	send := func() {
		if inFlight == maxInFlight {
			return
		}
		inFlight++
		sent := time.Now()
		go func() {
			rctx, cancel := context.WithTimeout(ctx, wait)
			err := a.reg.RenewOnce(rctx, lease)
			cancel()
			if err == nil {
				a.cfg.Metrics.RenewObserved(time.Since(sent))
			}
			results <- result{sent, err}
		}()
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	// The first renewal goes out at once: a grant that waited for etcd to
	// come up dates the lease from when it was sent, long ago.
	send()
	for {
		var r result
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			send()
			continue
		case r = <-results:
			inFlight--
		}
		switch {
		case r.err == nil:
			if failing {
				a.cfg.Logf("agent: lease %x renewed again", lease)
			}
			failing = false
			a.renewed(r.sent)
			a.arm()
		case !errors.Is(r.err, registry.ErrLeaseNotFound):
			if !failing && ctx.Err() == nil {
				a.cfg.Logf("agent: %v", r.err)
			}
			failing = true
		default:
			// The lease expired: the engine may already run our units
			// elsewhere. Kill them now and forget our placements until a
			// new session has read them afresh.
			a.fence(time.Now().Add(a.t.LostKill()))
			a.mu.Lock()
			a.desired = map[string]*registry.Placement{}
			a.mu.Unlock()
			return fmt.Errorf("lease %x expired", lease)
		}
	}
}

// renewed records that the lease was alive at (or after) sent. Renewals
// overlap, so an answer to an older one changes nothing. Frozen units thaw
// when the answer leaves time before the fence point (no restart, same
// processes); otherwise they stay frozen and the kill moves to KillDeadline
// after sent. A fenced (killed) agent
// restores its units only when the answer leaves at least RestoreMargin
// (TTL/5) before the
// fence would fire again: a late answer (sent nearly 3/5 TTL ago) would
// restart them only to kill them a moment later, and that churn loads an
// already slow node further.
func (a *Agent) renewed(sent time.Time) {
	a.mu.Lock()
	if sent.Before(a.lastRenew) {
		a.mu.Unlock()
		return
	}
	a.lastRenew = sent
	left := time.Until(sent.Add(a.t.Fence()))
	a.fenceTimer.Reset(left)
	thawed := a.frozen && left > 0 && a.thaw()
	if a.frozen {
		// Still past the fence point: stay frozen, kill later.
		a.killTimer.Reset(time.Until(sent.Add(a.t.KillDeadline())))
	}
	a.mu.Unlock()
	if thawed {
		a.poke() // placements may have changed while frozen
	}
	if left >= a.t.RestoreMargin() {
		a.unfence()
	}
}

// fenceTimerFired: no renewal for Fence (3/5 of the TTL). The units are no
// longer provably ours, but a renewal may yet land: freeze them (they run
// nothing, so they cannot run twice) and kill them only at KillDeadline
// (4/5 of the TTL), before the lease can expire on the etcd side. A
// manager that cannot freeze gets them killed now.
func (a *Agent) fenceTimerFired() {
	a.mu.Lock()
	if a.fenced || a.frozen || time.Until(a.lastRenew.Add(a.t.Fence())) > 0 {
		a.mu.Unlock()
		return // a renewal landed as the timer fired
	}
	deadline := a.lastRenew.Add(a.t.KillDeadline())
	a.cfg.Logf("agent: cannot renew lease of %s: freezing local units", a.cfg.Machine.ID)
	err := a.mgr.Freeze()
	if err == nil {
		a.frozen = true
		a.cfg.Metrics.Fenced("freeze")
		if a.killTimer == nil {
			a.killTimer = time.AfterFunc(time.Until(deadline), a.killTimerFired)
		} else {
			a.killTimer.Reset(time.Until(deadline))
		}
		a.mu.Unlock()
		return
	}
	a.cfg.Logf("agent: freeze: %v; killing instead", err)
	a.mu.Unlock()
	a.fence(deadline)
}

// killTimerFired: the units stayed frozen until KillDeadline with no
// renewal: kill them. Killing frozen processes is immediate.
func (a *Agent) killTimerFired() {
	a.mu.Lock()
	deadline := a.lastRenew.Add(a.t.KillDeadline())
	if !a.frozen || time.Until(deadline) > 0 {
		a.mu.Unlock()
		return // thawed, or a late renewal moved the deadline
	}
	a.mu.Unlock()
	a.fence(time.Now().Add(a.t.LostKill()))
}

// thaw resumes frozen units; a.mu is held. It reports whether they run
// again; when Thaw fails the units stay frozen until killed.
func (a *Agent) thaw() bool {
	if err := a.mgr.Thaw(); err != nil {
		a.cfg.Logf("agent: thaw: %v", err)
		return false
	}
	a.frozen = false
	a.killTimer.Stop()
	a.cfg.Logf("agent: lease renewed again: thawed units")
	return true
}

// fence kills every local unit (frozen or not); they are no longer
// provably ours.
func (a *Agent) fence(deadline time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fenced {
		return
	}
	a.fenced = true
	a.cfg.Metrics.Fenced("kill")
	if a.frozen {
		a.frozen = false
		a.killTimer.Stop()
	}
	a.cfg.Logf("agent: cannot renew lease of %s: fencing local units", a.cfg.Machine.ID)
	if err := a.mgr.Fence(deadline); err != nil {
		a.cfg.Logf("agent: fence: %v", err)
	}
	a.cfg.Alive(time.Time{}) // nothing left to protect
	a.applied = map[string]applied{}
}

// arm tells the watchdog by when the units must be dead if no renewal
// answers again; a fenced agent has no units to protect. Under a.mu, so
// that an arm never overtakes a fence's disarm.
func (a *Agent) arm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.fenced {
		a.cfg.Alive(a.lastRenew.Add(a.t.Watchdog()))
	}
}

func (a *Agent) unfence() {
	a.mu.Lock()
	was := a.fenced
	a.fenced = false
	a.mu.Unlock()
	if was {
		a.cfg.Logf("agent: lease renewed again: restoring units")
		a.poke()
	}
}

func (a *Agent) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// follow mirrors our placements into a.desired, re-reading and watching
// again whenever the watch fails, until ctx is done.
func (a *Agent) follow(ctx context.Context) {
	for ctx.Err() == nil {
		err := a.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		a.cfg.Logf("agent: %v; watching again", err)
		select {
		case <-ctx.Done():
		case <-time.After(a.t.Retry()):
		}
	}
}

// watch mirrors our placements into a.desired until the watch fails.
func (a *Agent) watch(ctx context.Context) error {
	ps, rev, err := a.reg.Placements(ctx, a.cfg.Machine.ID)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.desired = ps
	a.mu.Unlock()
	// States are reported only for placed units: those read just now are
	// checked again (a write only where they differ from the last one).
	for name := range ps {
		a.states.mark(name)
	}
	a.poke()
	return a.reg.WatchPlacements(ctx, a.cfg.Machine.ID, rev+1, func(evs []registry.PlacementEvent) {
		a.mu.Lock()
		for _, ev := range evs {
			if ev.Placement == nil {
				delete(a.desired, ev.Unit)
				continue
			}
			a.desired[ev.Unit] = ev.Placement
		}
		a.mu.Unlock()
		a.poke()
	})
}

func (a *Agent) applyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		a.apply()
	}
}

// apply drives the manager from a.applied towards a.desired.
func (a *Agent) apply() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fenced || a.frozen {
		return
	}
	type pending struct {
		name string
		p    *registry.Placement
		cur  applied
	}
	var todo []pending
	for name, p := range a.desired {
		cur, ok := a.applied[name]
		if ok && cur.adopted {
			cur, ok = a.adopt(name, p)
			if ok {
				a.applied[name] = cur
			}
		}
		if ok && cur.hash == p.Hash && cur.target == p.Target {
			continue
		}
		cur, err := a.loadOne(name, p, cur, ok)
		if err != nil {
			a.cfg.Logf("agent: %s: %v", name, err)
			a.states.mark(name)
			continue
		}
		todo = append(todo, pending{name, p, cur})
	}
	// Every placed unit is loaded before any starts: a start pulls in the
	// units it depends on (a sidekick's BindsTo=) only if they are loaded.
	sort.Slice(todo, func(i, j int) bool { return todo[i].name < todo[j].name })
	for _, t := range todo {
		if err := a.targetOne(t.name, t.p, t.cur); err != nil {
			a.cfg.Logf("agent: %s: %v", t.name, err)
		}
		a.states.mark(t.name)
	}
	// A fence forgets what was applied but leaves the units loaded, so the
	// manager's own list is read too: a unit moved away while this machine
	// was fenced is unloaded, and its state row goes with it.
	gone := map[string]bool{}
	for name := range a.applied {
		gone[name] = true
	}
	for _, name := range a.mgr.Units() {
		gone[name] = true
	}
	for name := range gone {
		if _, ok := a.desired[name]; ok {
			continue
		}
		if err := a.mgr.Unload(name); err != nil && !errors.Is(err, unitmgr.ErrNotLoaded) {
			a.cfg.Logf("agent: unload %s: %v", name, err)
		}
		delete(a.applied, name)
		a.states.mark(name)
	}
	for name := range a.loadErr {
		if _, ok := a.desired[name]; !ok {
			delete(a.loadErr, name)
			a.states.mark(name)
		}
	}
}

// adopt decides how to treat a unit the manager ran before this agent
// started. When the manager says which definition the unit runs, the agent
// takes that as what it applied itself: a unit replaced while fleetd was
// down (another hash) is stopped, loaded anew and started by apply, a
// running unit whose placement no longer launches it is stopped, and one
// that matches is left alone. A backend that cannot tell (no hash) gets
// Load and Start, which are no-ops for a running unit of the same file.
func (a *Agent) adopt(name string, p *registry.Placement) (applied, bool) {
	st, ok := a.mgr.State(name)
	if !ok || st.Hash == "" {
		return applied{}, false
	}
	if st.Hash != p.Hash {
		a.cfg.Logf("agent: %s runs definition %.7s, the cluster's is %.7s: replacing it", name, st.Hash, p.Hash)
	}
	target := registry.TargetLoaded
	if st.Active == unit.ActiveActive || st.Active == unit.ActiveActivating {
		target = registry.TargetLaunched
	}
	return applied{hash: st.Hash, target: target}, true
}

// loadOne loads the placed unit unless the manager has its definition
// (a launched unit with another definition is stopped first), and
// returns what is then applied.
func (a *Agent) loadOne(name string, p *registry.Placement, cur applied, known bool) (applied, error) {
	if known && cur.hash == p.Hash {
		return cur, nil
	}
	if known && cur.target == registry.TargetLaunched {
		_ = a.mgr.Stop(name)
	}
	if err := a.mgr.Load(name, (&registry.UnitRecord{Options: p.Options}).File()); err != nil {
		a.loadErr[name] = err.Error()
		a.applied[name] = applied{hash: p.Hash, target: p.Target}
		return cur, err
	}
	delete(a.loadErr, name)
	return applied{hash: p.Hash, target: registry.TargetLoaded}, nil
}

// targetOne starts or stops a loaded unit as its placement's target says.
func (a *Agent) targetOne(name string, p *registry.Placement, cur applied) error {
	var err error
	switch {
	case p.Target == registry.TargetLaunched && cur.target != registry.TargetLaunched:
		err = a.mgr.Start(name)
	case p.Target != registry.TargetLaunched && cur.target == registry.TargetLaunched:
		err = a.mgr.Stop(name)
	}
	a.applied[name] = applied{hash: p.Hash, target: p.Target}
	return err
}
