package fleetctl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
)

// goal is what a blocking command waits for.
type goal struct {
	verb  string // start, load, stop, unload: fleet's "Triggered unit x start"
	state string // the desired state set, in fleet's words
}

var (
	goalStart  = goal{"start", schema.StateLaunched}
	goalLoad   = goal{"load", schema.StateLoaded}
	goalStop   = goal{"stop", schema.StateLoaded}
	goalUnload = goal{"unload", schema.StateInactive}
)

// blockFlags are --no-block and --block-attempts.
type blockFlags struct {
	noBlock  bool
	attempts int
}

// running are the systemd active states of a unit that has not stopped.
var running = map[string]bool{"active": true, "activating": true, "deactivating": true, "reloading": true}

// reached reports whether placed states (one per machine) satisfy g.
func reached(g goal, placed []*schema.UnitState) bool {
	switch g {
	case goalStart:
		if len(placed) == 0 {
			return false
		}
		for _, s := range placed {
			if s.SystemdActiveState != "active" {
				return false
			}
		}
		return true
	case goalLoad:
		if len(placed) == 0 {
			return false
		}
		for _, s := range placed {
			if s.SystemdLoadState != "loaded" {
				return false
			}
		}
		return true
	case goalStop:
		for _, s := range placed {
			if running[s.SystemdActiveState] {
				return false
			}
		}
		return true
	case goalUnload:
		return len(placed) == 0
	}
	return false
}

// waitForUnits polls unit states until every unit reaches g, printing fleet's
// "Unit x launched on m" lines; global units are not waited for, as in fleet.
// prior holds the failures start must not take for its own (see failuresNow).
func (a *app) waitForUnits(units []*schema.Unit, g goal, bf blockFlags, prior priorFailures) error {
	var names []string
	for _, u := range units {
		if isGlobal(u.Options) {
			a.stdout("Triggered global unit %s %s", u.Name, g.verb)
			continue
		}
		names = append(names, u.Name)
	}
	if len(names) == 0 {
		return nil
	}
	if bf.noBlock {
		for _, n := range names {
			a.stdout("Triggered unit %s %s", n, g.verb)
		}
		return nil
	}
	return a.waitNames(names, g, bf.attempts, prior)
}

// priorFailures are the failed states units had before a command changed
// their target state: unit name → machine ID → the state's Since.
type priorFailures map[string]map[string]string

// failuresNow records the failed states of names, taken before start sets
// their target state. A failed state the wait later sees that is not among
// them (another machine, or a later Since) comes from this start. Comparing
// with the node's own earlier report, not with the local clock, keeps a VM
// whose clock lags the client's from hiding a fresh failure.
func (a *app) failuresNow(names []string) (priorFailures, error) {
	prior := priorFailures{}
	if len(names) == 0 {
		return prior, nil
	}
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	filter := client.StateFilter{}
	if len(names) == 1 {
		filter.UnitName = names[0]
	}
	states, err := c.UnitStates(a.ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("reading unit states: %w", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, s := range states {
		if !want[s.Name] || s.MachineID == "" || s.SystemdActiveState != "failed" {
			continue
		}
		if prior[s.Name] == nil {
			prior[s.Name] = map[string]string{}
		}
		prior[s.Name][s.MachineID] = s.Since
	}
	return prior, nil
}

// waitNames polls the states of the named units until each reaches g on
// every machine it is placed on, or attempts polls (0: no limit) are spent.
// Waiting for start ends early for a unit that failed, unless prior holds
// that very failure.
func (a *app) waitNames(names []string, g goal, attempts int, prior priorFailures) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	pending := append([]string(nil), names...)
	var last map[string][]*schema.UnitState
	var failed []error
	var pollErr error
	for attempt := 1; ; attempt++ {
		filter := client.StateFilter{}
		if len(pending) == 1 {
			filter.UnitName = pending[0]
		}
		states, err := c.UnitStates(a.ctx, filter)
		switch {
		case err != nil && a.ctx.Err() != nil:
			return fmt.Errorf("waiting for units: %w", err)
		case err != nil:
			// As fleet's assertUnitState: a poll that fails (a node slow
			// to answer, an election) is retried, and counts as an attempt.
			if pollErr == nil || pollErr.Error() != err.Error() {
				fmt.Fprintf(a.rt.Stderr, "Error retrieving unit states (retrying): %v\n", err)
			}
			pollErr = err
		default:
			pollErr = nil
			last = map[string][]*schema.UnitState{}
			for _, s := range states {
				last[s.Name] = append(last[s.Name], s)
			}
			var still []string
			for _, n := range pending {
				placed, _ := splitPlaced(last[n])
				if f := failedOn(g, placed, prior[n]); f != nil {
					// failed is final (a restarting unit shows activating): waiting cannot help.
					failed = append(failed, fmt.Errorf("unit %s failed on %s: %s", n, shortID(f.MachineID, false), f.Reason))
					continue
				}
				if !reached(g, placed) {
					still = append(still, n)
					continue
				}
				a.printReached(n, g, placed)
			}
			pending = still
			if len(pending) == 0 {
				return errors.Join(failed...)
			}
		}
		if attempts > 0 && attempt >= attempts {
			break
		}
		select {
		case <-a.ctx.Done():
			return a.ctx.Err()
		case <-time.After(a.rt.PollInterval):
		}
	}
	if pollErr != nil {
		failed = append(failed, fmt.Errorf("waiting for units: %w", pollErr))
	}
	errs := failed
	for _, n := range pending {
		errs = append(errs, a.notReached(n, g, last[n]))
	}
	return errors.Join(errs...)
}

// splitPlaced separates the states of units on a machine from the record of
// a unit fleetd could not place (no machine ID), which carries the reason.
func splitPlaced(states []*schema.UnitState) (placed []*schema.UnitState, unplacedReason string) {
	for _, s := range states {
		if s.MachineID == "" {
			if s.Reason != "" {
				// fleetd words it "not placed: <why>"; we say "not placed" ourselves.
				unplacedReason = strings.TrimPrefix(s.Reason, "not placed: ")
			}
			continue
		}
		placed = append(placed, s)
	}
	return placed, unplacedReason
}

func (a *app) printReached(name string, g goal, placed []*schema.UnitState) {
	if len(placed) == 0 {
		if g == goalStop {
			a.stdout("Unit %s %s", name, schema.StateLoaded)
			return
		}
		a.stdout("Unit %s %s", name, schema.StateInactive)
		return
	}
	for _, s := range placed {
		a.stdout("Unit %s %s on %s", name, g.state, a.machineLegend(s.MachineID, false))
	}
}

// notReached explains why name did not reach g within the attempts.
func (a *app) notReached(name string, g goal, states []*schema.UnitState) error {
	placed, reason := splitPlaced(states)
	if len(placed) == 0 && reason != "" && g != goalUnload && g != goalStop {
		return fmt.Errorf("Unit %s not placed: %s", name, reason)
	}
	for _, s := range placed {
		if s.SystemdActiveState == "failed" {
			msg := fmt.Sprintf("Unit %s failed on %s", name, a.machineLegend(s.MachineID, false))
			if s.Reason != "" {
				msg += ": " + s.Reason
			}
			return errors.New(msg)
		}
	}
	return fmt.Errorf("timed out waiting for unit %s to report state %s", name, g.state)
}

// machineLegend is fleet's "<8 chars>.../<ip>", or the full ID with full.
func (a *app) machineLegend(id string, full bool) string {
	if id == "" {
		return "-"
	}
	legend := shortID(id, full)
	if m := a.machine(id); m != nil && m.PrimaryIP != "" {
		legend += "/" + m.PrimaryIP
	}
	return legend
}

// machine returns the machine of id from a list fetched once per invocation;
// nil when unknown or when the list cannot be had (best effort, as fleet).
func (a *app) machine(id string) *schema.Machine {
	if a.machines == nil {
		a.machines = map[string]*schema.Machine{}
		c, err := a.client()
		if err != nil {
			return nil
		}
		ms, err := c.Machines(a.ctx)
		if err != nil {
			return nil
		}
		for _, m := range ms {
			a.machines[m.ID] = m
		}
	}
	return a.machines[id]
}

// failedOn returns a placed state that is failed while g is start, unless
// prior (machine ID → Since) shows it failed so before the command.
func failedOn(g goal, placed []*schema.UnitState, prior map[string]string) *schema.UnitState {
	if g != goalStart {
		return nil
	}
	for _, s := range placed {
		if s.SystemdActiveState != "failed" {
			continue
		}
		if since, ok := prior[s.MachineID]; ok && since == s.Since {
			continue
		}
		return s
	}
	return nil
}
