package fleetctl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
)

// Machine states as the API names them (schema.Machine.State).
const (
	machineCordoned = "cordoned"
	machineDraining = "draining"
	machineDrained  = "drained"
)

func (a *app) cordonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cordon MACHINE",
		Short: "Place no new units on a machine",
		Long: `Marks a machine cordoned: the units it runs stay, but no unit is placed
there any more until fleetctl uncordon. The mark is kept in the cluster's
store, not on the machine, so it outlasts the machine's restarts.
MACHINE is a machine ID or a unique prefix of one (fleetctl list-machines).`,
		Args: exactMachine,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.cordonVerb(args[0], "cordon")
		},
	}
}

func (a *app) uncordonCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "uncordon MACHINE",
		Short: "Let units be placed on a cordoned or drained machine again",
		Long: `Removes a machine's cordon (fleetctl cordon or drain): units may be placed
there again. Units already moved away stay where they are (fleetctl rebalance
moves them back, when asked).`,
		Args: exactMachine,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.cordonVerb(args[0], "uncordon")
		},
	}
}

func (a *app) drainCommand() *cobra.Command {
	var noBlock bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain [--no-block] [--timeout D] MACHINE",
		Short: "Cordon a machine and move its units to other machines",
		Long: `Cordons a machine and moves its units away. A unit that may run twice at once
(not Global, no MachineID, no Conflicts matching its own name) is started on
its new machine first and stopped on the drained one once the new copy is
active, and healthy where it has checks; any other unit is stopped first and
then started elsewhere. Global units stay. The cluster's leading engine
carries the drain out, so it goes on if fleetctl stops or the leader dies.

fleetctl waits until no unit is left on the machine (at most --timeout, 0: no
limit), as kubectl drain and nomad node drain do; with --no-block it returns
once the drain is recorded. Either way, stopping fleetctl does not stop the
drain: fleetctl list-machines shows its state, and fleetctl uncordon MACHINE
ends it and the cordon.`,
		Args: exactMachine,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := a.resolveMachine(args[0], false)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			st, err := c.Drain(a.ctx, id)
			if err != nil {
				return machineError(id, "drain", err)
			}
			if noBlock {
				fmt.Fprintf(a.rt.Stdout, "Machine %s %s: %s\n", id, st.State, leftText(st.Left))
				return nil
			}
			return a.waitDrained(c, id, st, timeout)
		},
	}
	cmd.Flags().BoolVar(&noBlock, "no-block", false, "Return once the drain is recorded, without waiting for the units to leave")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "Stop waiting after this long (0: no limit); the drain goes on")
	return cmd
}

// waitDrained polls the drain until the machine is drained, printing each
// change of what is left.
func (a *app) waitDrained(c *client.Client, id string, st *schema.MachineDrain, timeout time.Duration) error {
	start := time.Now()
	var deadline <-chan time.Time
	if timeout > 0 {
		deadline = time.After(timeout)
	}
	last := ""
	for {
		if st.State != machineDraining {
			if st.State != machineDrained {
				return fmt.Errorf("machine %s is %s: its drain was ended (fleetctl uncordon?)", id, stateText(st.State))
			}
			fmt.Fprintf(a.rt.Stdout, "Machine %s drained in %s\n", id, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if now := leftText(st.Left); now != last {
			fmt.Fprintf(a.rt.Stdout, "Machine %s draining: %s\n", id, now)
			last = now
		}
		select {
		case <-a.ctx.Done():
			return a.ctx.Err()
		case <-deadline:
			return fmt.Errorf("machine %s not drained after %s: %s (the drain goes on; fleetctl list-machines shows it)", id, timeout, leftText(st.Left))
		case <-time.After(a.rt.PollInterval):
		}
		var err error
		if st, err = c.DrainStatus(a.ctx, id); err != nil {
			return machineError(id, "drain", err)
		}
	}
}

func (a *app) cordonVerb(arg, verb string) error {
	id, err := a.resolveMachine(arg, verb == "uncordon")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var st *schema.MachineDrain
	if verb == "cordon" {
		st, err = c.Cordon(a.ctx, id)
	} else {
		st, err = c.Uncordon(a.ctx, id)
	}
	if err != nil {
		return machineError(id, verb, err)
	}
	fmt.Fprintf(a.rt.Stdout, "Machine %s %s\n", id, stateText(st.State))
	return nil
}

// resolveMachine turns a machine ID or unique prefix into a full ID. With
// down, an argument matching no live machine is passed on as it is: a
// machine that is down may still be uncordoned.
func (a *app) resolveMachine(arg string, down bool) (string, error) {
	c, err := a.client()
	if err != nil {
		return "", err
	}
	ms, err := c.Machines(a.ctx)
	if err != nil {
		return "", fmt.Errorf("retrieving list of active machines: %w", err)
	}
	var ids []string
	for _, m := range ms {
		if m.ID == arg {
			return arg, nil
		}
		if strings.HasPrefix(m.ID, arg) {
			ids = append(ids, m.ID)
		}
	}
	switch {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) > 1:
		return "", fmt.Errorf("machine %s matches %d machines (%s): give more of the ID", arg, len(ids), strings.Join(ids, ", "))
	case down:
		return arg, nil
	}
	return "", fmt.Errorf("machine %s is not in the cluster: nothing changed (see fleetctl list-machines --full)", arg)
}

func exactMachine(cmd *cobra.Command, args []string) error {
	if len(args) != 1 || args[0] == "" {
		return fmt.Errorf("%s takes one MACHINE (an ID or a unique prefix of one; see fleetctl list-machines)", cmd.Name())
	}
	return nil
}

func machineError(id, verb string, err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s %s: %s", verb, id, ae.Message)
	}
	return fmt.Errorf("%s %s: %w", verb, id, err)
}

func leftText(left []string) string {
	switch len(left) {
	case 0:
		return "no units left"
	case 1:
		return "1 unit left: " + left[0]
	}
	if len(left) > 5 {
		return fmt.Sprintf("%d units left: %s, ...", len(left), strings.Join(left[:5], ", "))
	}
	return fmt.Sprintf("%d units left: %s", len(left), strings.Join(left, ", "))
}

func stateText(s string) string {
	switch s {
	case "":
		return "active (uncordoned)"
	case machineCordoned:
		return "cordoned: no new units are placed there"
	}
	return s
}
