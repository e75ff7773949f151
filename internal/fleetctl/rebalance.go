package fleetctl

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) rebalanceCommand() *cobra.Command {
	var dryRun, full bool
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
			return errors.New("rebalance: making the moves needs the engine's move requests (fleetctl drain's mechanism), not in this build yet: rerun with --dry-run to see the plan")
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the moves, one a line, without making them")
	cmd.Flags().BoolVarP(&full, "full", "l", false, "show full machine IDs")
	return cmd
}
