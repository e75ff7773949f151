package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flotilla-os/flotilla/internal/metrics"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/schedule"
	"github.com/flotilla-os/flotilla/internal/ttl"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Config tunes an Engine.
type Config struct {
	MachineID string // our identity in the election
	// TTL is the machine lease TTL. The engine's own leadership session
	// lives ttl.Timing.Election of it (2/5, at least 1 s). Losing
	// leadership spuriously is harmless: every write is guarded by the
	// leader key.
	TTL time.Duration
	// Settle is how long to wait for more events before reconciling; it
	// batches a burst of submissions into few reconciles. Default 20ms.
	Settle time.Duration
	// Resync reconciles even without events, as a safety net. Default 1m.
	Resync time.Duration
	Logf   func(format string, args ...any)
	// Metrics is told of terms won and lost, and of each reconcile's
	// time, placements and failovers; nil records nothing.
	Metrics *metrics.Node
}

// Engine places units while it is the leader.
type Engine struct {
	reg    *registry.Registry
	cfg    Config
	fleets *fleetCache
	// lossSince is when a reconcile first found more machines with
	// placements vanished than registered (zero when it did not).
	lossSince time.Time

	// draining: the last reconcile found a machine draining, so unit
	// state changes wake the engine (followStates).
	draining atomic.Bool

	mu sync.Mutex
	// fencedAt is when this fleetd revoked the lease of a machine that
	// died with etcd's raft leader (MachineDied), by machine ID.
	fencedAt map[string]time.Time
}

// New returns an engine over reg.
func New(reg *registry.Registry, cfg Config) *Engine {
	if cfg.Settle == 0 {
		cfg.Settle = 20 * time.Millisecond
	}
	if cfg.Resync == 0 {
		cfg.Resync = time.Minute
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Engine{reg: reg, cfg: cfg, fleets: newFleetCache(), fencedAt: map[string]time.Time{}}
}

// Run campaigns for leadership and, while leading, reconciles. It returns
// when ctx is done.
func (e *Engine) Run(ctx context.Context) error {
	session := ttl.Of(e.cfg.TTL).Election()
	for ctx.Err() == nil {
		err := e.term(ctx, session)
		if ctx.Err() != nil {
			return nil
		}
		e.cfg.Logf("engine: %v; campaigning again", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// term is one campaign and, if won, one leadership term.
func (e *Engine) term(ctx context.Context, session time.Duration) error {
	term, err := e.reg.Campaign(ctx, e.cfg.MachineID, session)
	if err != nil {
		return err
	}
	defer term.Close()
	e.cfg.Logf("engine: %s is the leader", e.cfg.MachineID)
	e.cfg.Metrics.LeaderWon()
	defer e.cfg.Metrics.LeaderLost()
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-term.Done():
			cancel()
		case <-leadCtx.Done():
		}
	}()
	err = e.lead(leadCtx, term.Guard())
	if ctx.Err() == nil {
		// Resign so the next engine need not wait out our lease.
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		_ = term.Resign(rctx)
		rcancel()
	}
	return err
}

// lead reconciles on every relevant event until leadership ends.
func (e *Engine) lead(ctx context.Context, guard registry.Guard) error {
	events := make(chan struct{}, 1)
	e.reg.WatchEngine(ctx, events)
	e.followStates(ctx, events)
	resync := time.NewTicker(e.cfg.Resync)
	defer resync.Stop()
	e.lossSince = time.Time{}
	for {
		hold, err := e.reconcile(ctx, guard, time.Now())
		if err != nil {
			if errors.Is(err, registry.ErrNotLeader) || ctx.Err() != nil {
				return fmt.Errorf("leadership lost: %w", err)
			}
			e.cfg.Logf("engine: reconcile: %v", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond): // retry after an etcd error
			}
			continue
		}
		var held <-chan time.Time // a timer only while a mass loss is held
		if hold > 0 {
			held = time.After(hold)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-events:
		case <-resync.C:
		case <-held:
		}
		e.settle(ctx, events)
	}
}

// settle waits until events stop arriving for Settle (at most 10×Settle).
func (e *Engine) settle(ctx context.Context, events chan struct{}) {
	deadline := time.After(10 * e.cfg.Settle)
	for {
		select {
		case <-events:
		case <-time.After(e.cfg.Settle):
			return
		case <-deadline:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Reconcile reads the registry once and writes what differs from the plan.
func (e *Engine) Reconcile(ctx context.Context, guard registry.Guard) error {
	_, err := e.reconcile(ctx, guard, time.Now())
	return err
}

// reconcile is Reconcile; while it holds placements after a mass loss
// (holdMassLoss) it writes nothing, and while a machine fenced by
// MachineDied may still run units (holdFenced) it leaves them be; either
// way it says when to look again.
func (e *Engine) reconcile(ctx context.Context, guard registry.Guard, now time.Time) (hold time.Duration, err error) {
	start := time.Now()
	snap, err := e.reg.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	if hold := e.holdMassLoss(snap, now); hold > 0 {
		return hold, nil
	}
	// After the snapshot: a machine it lacks because it was fenced was
	// marked before its lease went.
	fenced, err := e.reg.Fenced(ctx)
	if err != nil {
		return 0, err
	}
	e.draining.Store(len(snap.Draining) > 0 || len(snap.Moves) > 0)
	if e.draining.Load() {
		// Moves hand off on unit states (drain.go); read them only now.
		if snap.States, err = e.reg.States(ctx); err != nil {
			return 0, err
		}
	}
	held, hold := e.holdFenced(snap, fenced, now)
	plan := withoutHeld(snap, held)
	changes := Plan(plan, e.fleets.parse)
	e.fleets.retain(snap.Units)
	if len(changes) > 0 {
		if _, err = e.reg.Apply(ctx, guard, changes); err != nil {
			return hold, err
		}
	}
	placed, failed := CountPlacements(plan, changes)
	e.cfg.Metrics.Reconciled(time.Since(start), placed, failed)
	if active, err := e.advanceRollouts(ctx, guard, snap, now); err != nil || active {
		return minHold(hold, RolloutPoll), err
	}
	return hold, nil
}

// CountPlacements counts the changes that place a unit on a machine it
// was not placed on (placed) and, of those, the ones whose unit was
// placed on a machine that has vanished (failed over).
func CountPlacements(snap *registry.Snapshot, changes []registry.Change) (placed, failed int) {
	for _, c := range changes {
		if c.Put == nil || find(snap.Placements[c.Put.Unit], c.Put.Machine) != nil {
			continue
		}
		placed++
		for _, p := range snap.Placements[c.Put.Unit] {
			if snap.Machines[p.Machine] == nil {
				failed++
				break
			}
		}
	}
	return placed, failed
}

// minHold is the sooner of two holds (zero: none).
func minHold(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// holdMassLoss returns how long to leave placements alone: once more
// machines that hold placements have vanished than are registered, until
// every one of them is back, for at most MassLossHold. A resumed stale
// etcd raft leader can revoke every lease that expired in its frozen view,
// the healthy machines' included (etcd-io/etcd#15247: its leadership check
// passes on a fresh raft tick, and the revoke is forwarded to the new
// leader once it steps down); those machines register again within a
// Retry, and moving their units meanwhile would pile them all onto
// whichever machine registered first. One machine of three dying is not a
// mass loss and moves at once.
func (e *Engine) holdMassLoss(snap *registry.Snapshot, now time.Time) time.Duration {
	lost, alive := MassLoss(snap)
	switch {
	case lost == 0:
		if !e.lossSince.IsZero() {
			e.cfg.Logf("engine: every vanished machine registered again after %s", now.Sub(e.lossSince).Round(time.Millisecond))
		}
		e.lossSince = time.Time{}
		return 0
	case e.lossSince.IsZero() && lost <= alive:
		return 0
	case e.lossSince.IsZero():
		e.lossSince = now
		e.cfg.Logf("engine: %d machines with units vanished, %d registered: holding placements for up to %s", lost, alive, ttl.Of(e.cfg.TTL).MassLossHold())
	}
	return max(e.lossSince.Add(ttl.Of(e.cfg.TTL).MassLossHold()).Sub(now), 0)
}

// MassLoss counts the machines that hold placements but are not
// registered (lost) and the machines registered (alive).
func MassLoss(snap *registry.Snapshot) (lost, alive int) {
	gone := map[string]bool{}
	for _, ps := range snap.Placements {
		for _, p := range ps {
			if snap.Machines[p.Machine] == nil {
				gone[p.Machine] = true
			}
		}
	}
	return len(gone), len(snap.Machines)
}

// ParseFunc reads a stored unit's [X-Fleet] options.
type ParseFunc func(n unit.Name, u *registry.UnitRecord) (unit.Fleet, error)

// ParseFleet parses without caching.
func ParseFleet(n unit.Name, u *registry.UnitRecord) (unit.Fleet, error) {
	return unit.ParseFleet(n, u.File())
}

// Plan computes the writes that bring a snapshot's placements in line with
// the schedule. It is a pure function of the snapshot (parse must be too).
func Plan(snap *registry.Snapshot, parse ParseFunc) []registry.Change {
	in := schedule.Snapshot{Current: map[string][]string{}}
	for id, m := range snap.Machines {
		if snap.Draining[id] {
			continue // its units move away before it reboots
		}
		in.Machines = append(in.Machines, schedule.Machine{ID: id, Metadata: m.Metadata, Cordoned: snap.Cordoned[id], Capacity: m.Capacity})
	}
	invalid := map[string]string{}
	fleets := map[string]unit.Fleet{}
	for name, u := range snap.Units {
		target := snap.Desired[name]
		if target == "" || target == registry.TargetInactive {
			continue
		}
		n, err := unit.ParseName(name)
		if err != nil || n.IsTemplate() {
			continue
		}
		fl, err := parse(n, u)
		if err != nil {
			invalid[name] = err.Error()
			continue
		}
		in.Units = append(in.Units, schedule.Unit{Name: name, Fleet: fl})
		fleets[name] = fl
	}
	for name, ps := range snap.Placements {
		for _, p := range ps {
			in.Current[name] = append(in.Current[name], p.Machine)
		}
	}
	steerMoves(snap, in.Current)
	res := schedule.Place(in)
	keepGlobalsOnDraining(snap, fleets, res)
	moving := planHandoffs(snap, fleets, res)

	var dels, puts []registry.Change
	for name, ps := range snap.Placements {
		want := res.Placements[name]
		for _, p := range ps {
			if !slices.Contains(want, p.Machine) && !moving.keeps(name, p.Machine) {
				dels = append(dels, registry.DeletePlacement(name, p.Machine))
			}
		}
	}
	for name, machines := range res.Placements {
		u, target := snap.Units[name], snap.Desired[name]
		for _, m := range machines {
			target := target
			if stoppedByRollout(snap, name, m) { // a rolling restart stops it first
				target = registry.TargetLoaded
			}
			cur := find(snap.Placements[name], m)
			if cur != nil && cur.Target == target && cur.Hash == u.Hash {
				continue
			}
			if cur == nil && moving.wait[name] {
				continue // its old copy still stops on a draining machine
			}
			if h := heldByRollout(snap, name, m); h != nil { // a rollout has not reached it yet
				if h.Target != target {
					puts = append(puts, registry.PutPlacement(&registry.Placement{Unit: name, Machine: m, Target: target, Hash: h.Hash, Options: h.Options}))
				}
				continue
			}
			puts = append(puts, registry.PutPlacement(&registry.Placement{Unit: name, Machine: m, Target: target, Hash: u.Hash, Options: u.Options}))
		}
	}
	puts = append(puts, clearMoves(snap, fleets, res)...)
	for name, reason := range res.Unplaceable {
		invalid[name] = reason
	}
	for name, reason := range invalid {
		if snap.Unplaced[name] != reason {
			puts = append(puts, registry.SetUnplaced(name, reason))
		}
	}
	for name := range snap.Unplaced {
		if _, still := invalid[name]; !still {
			puts = append(puts, registry.ClearUnplaced(name))
		}
	}
	return append(dels, puts...)
}

// keepGlobalsOnDraining leaves a global unit where it runs on a draining
// machine that is still alive: draining moves only what can run elsewhere.
func keepGlobalsOnDraining(snap *registry.Snapshot, fleets map[string]unit.Fleet, res schedule.Result) {
	for name, ps := range snap.Placements {
		if fl, ok := fleets[name]; !ok || !fl.IsGlobal() {
			continue
		}
		for _, p := range ps {
			if snap.Draining[p.Machine] && snap.Machines[p.Machine] != nil && !slices.Contains(res.Placements[name], p.Machine) {
				res.Placements[name] = append(res.Placements[name], p.Machine)
				slices.Sort(res.Placements[name])
				delete(res.Unplaceable, name)
			}
		}
	}
}

func find(ps []*registry.Placement, machine string) *registry.Placement {
	for _, p := range ps {
		if p.Machine == machine {
			return p
		}
	}
	return nil
}
