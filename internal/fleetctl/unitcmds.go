package fleetctl

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
)

func addBlockFlags(cmd *cobra.Command, bf *blockFlags, what string) {
	cmd.Flags().IntVar(&bf.attempts, "block-attempts", 0, fmt.Sprintf("Wait until the units are %s, performing up to N attempts before giving up. A value of 0 indicates no limit. Does not apply to global units.", what))
	cmd.Flags().BoolVar(&bf.noBlock, "no-block", false, fmt.Sprintf("Do not wait until the units are %s before exiting. Always the case for global units.", what))
}

func (a *app) submitCommand() *cobra.Command {
	var replace, sign bool
	cmd := &cobra.Command{
		Use:   "submit UNIT...",
		Short: "Upload one or more units to the cluster without starting them",
		Long: `Upload one or more units to the cluster without starting them. Useful for validating units before they are started.

This operation is idempotent; if a named unit already exists in the cluster, it will not be resubmitted,
unless it differs from the local file and --replace is given.

Submit a single unit:
	fleetctl submit foo.service

Submit a directory of units with glob matching:
	fleetctl submit myservice/*`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSign(sign); err != nil || a.noUnitsGiven(args) {
				return err
			}
			_, err := a.lazyCreateUnits(args, replace)
			return err
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "Replace the old submitted units in the cluster with new versions.")
	addSignFlag(cmd, &sign)
	return cmd
}

func (a *app) loadCommand() *cobra.Command {
	var replace, sign bool
	var bf blockFlags
	cmd := &cobra.Command{
		Use:   "load [--no-block|--block-attempts=N] UNIT...",
		Short: "Schedule one or more units in the cluster, first submitting them if necessary.",
		Long: `Load one or many units in the cluster into systemd, but do not start.

Select units to load by glob matching for units in the current working directory
or matching the names of previously submitted units.

For units which are not global, load operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a loaded state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Load operations on global
units are always non-blocking.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSign(sign); err != nil || a.noUnitsGiven(args) {
				return err
			}
			units, err := a.lazyCreateUnits(args, replace)
			if err != nil {
				return err
			}
			if err := a.setTargetState(units, schema.StateLoaded); err != nil {
				return err
			}
			return a.waitForUnits(units, goalLoad, bf, nil)
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "Replace the old scheduled units in the cluster with new versions.")
	addBlockFlags(cmd, &bf, "loaded")
	addSignFlag(cmd, &sign)
	return cmd
}

func (a *app) startCommand() *cobra.Command {
	var replace, sign bool
	var rf rolloutFlags
	var rolling bool
	var bf blockFlags
	cmd := &cobra.Command{
		Use:   "start [--no-block|--block-attempts=N] UNIT...",
		Short: "Instruct systemd to start one or more units in the cluster, first submitting and loading if necessary.",
		Long: `Start one or many units on the cluster. Select units to start by glob matching
for units in the current working directory or matching names of previously
submitted units. An instance such as foo@1.service is created from the template
foo@.service, taken from the cluster or from the directory of the argument.

For units which are not global, start operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a started state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Start operations on global
units are always non-blocking.

Start a single unit:
	fleetctl start foo.service

Start an entire directory of units with glob matching:
	fleetctl start myservice/*`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSign(sign); err != nil || a.noUnitsGiven(args) {
				return err
			}
			if rolling {
				if !replace {
					return errors.New("--rolling replaces units a few instances at a time: it needs --replace")
				}
				if err := a.rollChanged(args, &rf); err != nil {
					return err
				}
			}
			units, err := a.lazyCreateUnits(args, replace)
			if err != nil {
				return err
			}
			// Only a unit this start triggers can fail because of it: the
			// failures of the others stand, and end the wait at once.
			var triggered []string
			for _, u := range units {
				if u.DesiredState != schema.StateLaunched {
					triggered = append(triggered, u.Name)
				}
			}
			var prior priorFailures
			if !bf.noBlock {
				if prior, err = a.failuresNow(triggered); err != nil {
					return err
				}
			}
			if err := a.setTargetState(units, schema.StateLaunched); err != nil {
				return err
			}
			return a.waitForUnits(units, goalStart, bf, prior)
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "Replace the already started units in the cluster with new versions.")
	cmd.Flags().BoolVar(&rolling, "rolling", false, "With --replace: replace units already in the cluster through a rollout, a few instances at a time (see fleetctl rollout)")
	addRolloutFlags(cmd, &rf, false)
	addBlockFlags(cmd, &bf, "launched")
	addSignFlag(cmd, &sign)
	return cmd
}

func (a *app) stopCommand() *cobra.Command {
	var bf blockFlags
	cmd := &cobra.Command{
		Use:   "stop [--no-block|--block-attempts=N] UNIT...",
		Short: "Instruct systemd to stop one or more units in the cluster.",
		Long: `Stop one or more units from running in the cluster, but allow them to be started again in the future.

Instructs systemd on the host machine to stop the unit, deferring to systemd
completely for any custom stop directives (i.e. ExecStop option in the unit
file).

For units which are not global, stop operations are performed synchronously,
which means fleetctl will block until it detects that the unit(s) have
transitioned to a stopped state. This behaviour can be configured with the
respective --block-attempts and --no-block options. Stop operations on global
units are always non-blocking.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.noUnitsGiven(args) {
				return nil
			}
			units, err := a.findUnits(args)
			if err != nil {
				return err
			}
			for _, u := range units {
				if u.DesiredState == schema.StateInactive && !isGlobal(u.Options) {
					return fmt.Errorf("unable to stop unit %s in state %s: load or start it first", u.Name, schema.StateInactive)
				}
			}
			if err := a.setTargetState(units, schema.StateLoaded); err != nil {
				return err
			}
			return a.waitForUnits(units, goalStop, bf, nil)
		},
	}
	addBlockFlags(cmd, &bf, "stopped")
	return cmd
}

func (a *app) unloadCommand() *cobra.Command {
	var bf blockFlags
	cmd := &cobra.Command{
		Use:   "unload [--no-block|--block-attempts=N] UNIT...",
		Short: "Unschedule one or more units in the cluster.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.noUnitsGiven(args) {
				return nil
			}
			units, err := a.findUnits(args)
			if err != nil {
				return err
			}
			if err := a.setTargetState(units, schema.StateInactive); err != nil {
				return err
			}
			return a.waitForUnits(units, goalUnload, bf, nil)
		},
	}
	addBlockFlags(cmd, &bf, "inactive")
	return cmd
}

func (a *app) destroyCommand() *cobra.Command {
	var bf blockFlags
	cmd := &cobra.Command{
		Use:   "destroy UNIT...",
		Short: "Destroy one or more units in the cluster",
		Long: `Completely remove one or more running or submitted units from the cluster.

Instructs systemd on the host machine to stop the unit, deferring to systemd
completely for any custom stop directives (i.e. ExecStop option in the unit
file). Units that do not exist are skipped, as in fleet.

A unit is gone from the cluster when the command returns, so --no-block and
--block-attempts (fleet's) change nothing.

Destroyed units are impossible to start unless re-submitted.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.noUnitsGiven(args) {
				return nil
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, arg := range args {
				name := unitNameMangle(arg)
				if seen[name] {
					continue
				}
				seen[name] = true
				err := c.DestroyUnit(a.ctx, name)
				var ae *client.APIError
				if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
					continue
				}
				if err != nil {
					return err
				}
				a.stdout("Destroyed %s", name)
			}
			return nil
		},
	}
	addBlockFlags(cmd, &bf, "destroyed")
	return cmd
}
