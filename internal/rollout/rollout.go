package rollout

import (
	"fmt"
	"time"
)

// Rollout states.
const (
	Running  = "running"
	Paused   = "paused"
	Done     = "done"
	Failed   = "failed"   // stopped; replaced instances kept (no auto-revert)
	Reverted = "reverted" // stopped; the previous revision brought back
	Aborting = "aborting" // asked to stop: revert on the next step
)

// Item phases.
const (
	Pending  = "pending"
	Released = "released"
	ItemDone = "done"
	ItemFail = "failed"
)

// Defaults.
const (
	DefaultMaxUnavailable = 1
	DefaultDeadline       = 5 * time.Minute
)

// Item is one instance to replace.
type Item struct {
	Unit    string `json:"unit"`
	Machine string `json:"machine,omitempty"` // set for a Global unit's instance
	Phase   string `json:"phase"`
	// Released is when the item was released; HealthySince when it was
	// first seen ready with the target revision since then (zero: not now).
	Released time.Time `json:"released,omitzero"`
	// Stopped: a restart's instance has been seen stopped since release.
	Stopped      bool      `json:"stopped,omitempty"`
	HealthySince time.Time `json:"healthySince,omitzero"`
	Reason       string    `json:"reason,omitempty"`
}

// Key names the item in observations.
func (it *Item) Key() string { return Key(it.Unit, it.Machine) }

// Key is an item's key: unit, or unit@machine for a Global unit's instance.
func Key(unitName, machine string) string {
	if machine == "" {
		return unitName
	}
	return unitName + " on " + machine
}

// Revs is a unit's revisions in a rollout.
type Revs struct {
	From string `json:"from"` // the revision it had before
	To   string `json:"to"`   // the target revision
}

// Rollout is a rollout's recorded progress.
type Rollout struct {
	Name           string          `json:"name"`
	Units          map[string]Revs `json:"units"`
	Items          []*Item         `json:"items"`
	MaxUnavailable int             `json:"maxUnavailable"`
	MinHealthy     time.Duration   `json:"minHealthy"`
	Deadline       time.Duration   `json:"deadline"`
	AutoRevert     bool            `json:"autoRevert"`
	// Restart: restart each instance in place (From == To): released, it
	// is stopped, then started once seen stopped.
	Restart  bool      `json:"restart,omitempty"`
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
}

// Active reports whether the rollout still holds or replaces instances.
func (r *Rollout) Active() bool {
	return r.State == Running || r.State == Paused || r.State == Aborting
}

// Check refuses settings a rollout cannot run with.
func (r *Rollout) Check() error {
	switch {
	case r.MaxUnavailable < 1:
		return fmt.Errorf("rollout %s: max-unavailable %d: want at least 1 (0 would never replace anything)", r.Name, r.MaxUnavailable)
	case r.MinHealthy < 0:
		return fmt.Errorf("rollout %s: min-healthy %s: want 0 or more", r.Name, r.MinHealthy)
	case r.Deadline <= r.MinHealthy:
		return fmt.Errorf("rollout %s: deadline %s: want more than min-healthy %s", r.Name, r.Deadline, r.MinHealthy)
	case len(r.Items) == 0:
		return fmt.Errorf("rollout %s: no instances to replace", r.Name)
	}
	return nil
}

// Holds reports whether the rollout keeps the placement of unitName on
// machine at its current revision: the item is still pending.
func (r *Rollout) Holds(unitName, machine string) bool {
	if !r.Active() {
		return false
	}
	for _, it := range r.Items {
		if it.Unit == unitName && (it.Machine == "" || it.Machine == machine) {
			return it.Phase == Pending
		}
	}
	return false
}

// Stops reports whether a restart has the instance of unitName on machine
// released and not yet seen stopped: its placement's target is loaded.
func (r *Rollout) Stops(unitName, machine string) bool {
	if !r.Restart || !r.Active() {
		return false
	}
	for _, it := range r.Items {
		if it.Unit == unitName && (it.Machine == "" || it.Machine == machine) {
			return it.Phase == Released && !it.Stopped
		}
	}
	return false
}

// Counts returns how many items are in each phase.
func (r *Rollout) Counts() map[string]int {
	c := map[string]int{}
	for _, it := range r.Items {
		c[it.Phase]++
	}
	return c
}

// Obs is what the agent reports of an item's instance.
type Obs struct {
	Hash   string // the revision the instance's current or last run started from
	Active string // systemd's ActiveState
	Health string // "" (no check) | starting | healthy | unhealthy
}

// Ready is an instance running the revision and, where it has checks,
// healthy.
func (o Obs) Ready(hash string) bool {
	return o.Hash == hash && o.Active == "active" && (o.Health == "" || o.Health == "healthy")
}

// Broken is an instance that runs the revision and failed or is unhealthy.
func (o Obs) Broken(hash string) string {
	switch {
	case o.Hash != hash:
		return ""
	case o.Active == "failed":
		return "failed"
	case o.Health == "unhealthy":
		return "unhealthy"
	}
	return ""
}

// Result is what a step asks of the engine beyond recording the rollout.
type Result struct {
	Changed bool // the rollout must be written back
	Revert  bool // bring back each unit's From revision
}

// Step advances r (in place) given what the agents report, keyed by
// Item.Key, at now.
func Step(r *Rollout, obs map[string]Obs, now time.Time) Result {
	var res Result
	if r.State == Aborting {
		r.State, r.Reason, r.Finished = Reverted, "aborted", now
		return Result{Changed: true, Revert: true}
	}
	if !r.Active() {
		return res
	}
	unavailable := 0
	for _, it := range r.Items {
		if it.Phase != Released {
			continue
		}
		to := r.Units[it.Unit].To
		o := obs[it.Key()]
		if r.Restart && !it.Stopped {
			// Stopped or failed, it starts again on the next step; a
			// failed restart shows as the deadline passing.
			if o.Active == "inactive" || o.Active == "failed" || o.Active == "" {
				it.Stopped, res.Changed = true, true
			}
			o = Obs{}
		}
		switch {
		case r.Restart && o.Active == "failed":
			// left over from the stop: wait for the start (deadline)
		case o.Broken(to) != "":
			it.Phase, it.Reason = ItemFail, o.Broken(to)
			res.Changed = true
		case o.Ready(to):
			if it.HealthySince.IsZero() {
				it.HealthySince, res.Changed = now, true
			}
			if now.Sub(it.HealthySince) >= r.MinHealthy {
				it.Phase, res.Changed = ItemDone, true
			}
		default:
			if !it.HealthySince.IsZero() {
				it.HealthySince, res.Changed = time.Time{}, true
			}
		}
		if it.Phase == Released && now.Sub(it.Released) > r.Deadline {
			it.Phase, it.Reason, res.Changed = ItemFail, fmt.Sprintf("not ready within the %s deadline", r.Deadline), true
		}
		switch it.Phase {
		case ItemFail:
			r.Finished = now
			r.Reason = fmt.Sprintf("%s: %s", it.Key(), it.Reason)
			if r.AutoRevert && !r.Restart {
				r.State = Reverted
				return Result{Changed: true, Revert: true}
			}
			r.State = Failed
			return Result{Changed: true}
		case Released:
			unavailable++
		}
	}
	if r.State == Running {
		for _, it := range r.Items {
			if unavailable >= r.MaxUnavailable {
				break
			}
			if it.Phase == Pending {
				it.Phase, it.Released, res.Changed = Released, now, true
				unavailable++
			}
		}
	}
	if c := r.Counts(); c[ItemDone] == len(r.Items) {
		r.State, r.Finished, res.Changed = Done, now, true
	}
	return res
}
