package fleetctl

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/spf13/cobra"
)

func (a *app) rebalanceCommand() *cobra.Command {
	var dryRun, full bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rebalance [--dry-run] [-l|--full]",
		Short: "Even out the units over the machines of the cluster",
		Long: `Moves units, one at a time, from the most loaded machines to the least
loaded, until no move narrows a gap of two units or more. Placement never moves
a running unit by itself, so after machines come back (after a rolling OS
update the last machine to reboot is empty) they stay empty until a rebalance.
It never runs on its own.

Only units that may move alone are moved: not global, not pinned with
MachineID, neither following (MachineOf) nor followed by another unit, and only
where their metadata, Conflicts, Replaces and reservations (ReserveMemory,
ReserveCPU) allow.

Each move hands the unit over as fleetctl drain does: where [X-Fleet] allows
two copies at once, the new copy starts before the old one stops. The next
move waits until the unit runs on its new machine.

Show the moves without making them:
	fleetctl rebalance --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			plan, err := c.RebalancePlan(a.ctx)
			if err != nil {
				return fmt.Errorf("planning the rebalance: %w", err)
			}
			if len(plan.Moves) == 0 {
				a.stdout("The cluster is balanced: nothing to move")
				return nil
			}
			tw := tabwriter.NewWriter(a.rt.Stdout, 0, 8, 1, '\t', 0)
			fmt.Fprintln(tw, "UNIT\tFROM\tTO")
			for _, mv := range plan.Moves {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", mv.Unit, shortID(mv.From, full), shortID(mv.To, full))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if dryRun {
				return nil
			}
			for _, mv := range plan.Moves {
				if err := a.move(c, mv, timeout); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the moves, one a line, without making them")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long one move may take before rebalance stops")
	cmd.Flags().BoolVarP(&full, "full", "l", false, "show full machine IDs")
	return cmd
}

// move makes one move of the plan and waits until the unit is active on
// its new machine only.
func (a *app) move(c *client.Client, mv schema.Move, timeout time.Duration) error {
	start := time.Now()
	if err := c.RequestMove(a.ctx, mv); err != nil {
		return fmt.Errorf("moving %s: %w", mv.Unit, err)
	}
	deadline := time.After(timeout)
	for {
		states, err := c.UnitStates(a.ctx, client.StateFilter{UnitName: mv.Unit})
		if err != nil {
			return fmt.Errorf("moving %s: %w", mv.Unit, err)
		}
		onTo, onFrom := false, false
		for _, st := range states {
			onTo = onTo || st.MachineID == mv.To && st.SystemdActiveState == "active"
			onFrom = onFrom || st.MachineID == mv.From
		}
		if onTo && !onFrom {
			fmt.Fprintf(a.rt.Stdout, "Moved %s from %s to %s in %s\n", mv.Unit, shortID(mv.From, false), shortID(mv.To, false), time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-a.ctx.Done():
			return a.ctx.Err()
		case <-deadline:
			return fmt.Errorf("%s did not move from %s to %s within %s; the rest of the plan is not made (fleetctl list-units shows where it runs; rerun fleetctl rebalance)", mv.Unit, mv.From, mv.To, timeout)
		case <-time.After(a.rt.PollInterval):
		}
	}
}
