package fleetctl

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

func (a *app) restartCommand() *cobra.Command {
	var bf blockFlags
	var rf rolloutFlags
	var rolling bool
	cmd := &cobra.Command{
		Use:   "restart [--block-attempts=N] [--no-block] [--rolling [rollout flags]] UNIT...",
		Short: "Instruct systemd to restart one or more units in the cluster.",
		Long: `Restarts one or more units in the cluster, one after the other: each unit is
stopped, and once it has stopped on every machine it runs on, started again.
A unit that is loaded but not started is started. A unit that is not loaded
(inactive) is skipped with a message, as in fleet.

fleetctl waits until each unit has stopped and then started again, up to
--block-attempts polls each (0: no limit). --no-block still waits for the stop,
so that the machine sees it, but not for the start. Global units are restarted
on every machine they run on.

With --rolling, the cluster's engine restarts the units' instances (a Global
unit on each of its machines) a few at a time, as fleetctl rollout replaces
them: --max-unavailable at once, each active (and healthy where it has
checks) for --min-healthy before the next; one not back within --deadline
stops it.

Restart a single unit:
	fleetctl restart foo.service

Restart a Global unit one machine at a time:
	fleetctl restart --rolling --min-healthy 10s node-exporter.service`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.noUnitsGiven(args) {
				return nil
			}
			var req *schema.RolloutRequest
			if rolling {
				var err error
				if req, err = rf.request(); err != nil {
					return err
				}
			}
			units, err := a.findUnits(args)
			if err != nil {
				return err
			}
			if rolling {
				for _, u := range units {
					req.Restart = append(req.Restart, u.Name)
				}
				return a.runRollout(req, bf.noBlock)
			}
			var errs []error
			for _, u := range units {
				if err := a.restart(u, bf); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	addBlockFlags(cmd, &bf, "restarted")
	cmd.Flags().BoolVar(&rolling, "rolling", false, "Restart instances a few at a time, through the engine (see fleetctl rollout)")
	addRolloutFlags(cmd, &rf, false)
	return cmd
}

// restart stops u if it is started, waits until it has stopped, then starts
// it and (unless bf.noBlock) waits until it runs.
func (a *app) restart(u *schema.Unit, bf blockFlags) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	switch u.DesiredState {
	case schema.StateInactive, "":
		fmt.Fprintf(a.rt.Stderr, "Unable to restart unit %s in state %s\n", u.Name, schema.StateInactive)
		return nil
	case schema.StateLaunched:
		if err := c.SetUnitTargetState(a.ctx, u.Name, schema.StateLoaded); err != nil {
			return err
		}
		if err := a.waitNames([]string{u.Name}, goalStop, bf.attempts, nil); err != nil {
			return err
		}
	}
	var prior priorFailures
	if !bf.noBlock {
		// The stop may leave the last run's failure on record.
		if prior, err = a.failuresNow([]string{u.Name}); err != nil {
			return err
		}
	}
	if err := c.SetUnitTargetState(a.ctx, u.Name, schema.StateLaunched); err != nil {
		return err
	}
	if bf.noBlock {
		a.stdout("Triggered unit %s start", u.Name)
		return nil
	}
	return a.waitNames([]string{u.Name}, goalStart, bf.attempts, prior)
}
