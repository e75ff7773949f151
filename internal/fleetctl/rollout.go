package fleetctl

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/rollout"
)

// rolloutFlags are the flags of every command that rolls.
type rolloutFlags struct {
	maxUnavailable int
	minHealthy     time.Duration
	deadline       time.Duration
	autoRevert     bool
	noBlock        bool
}

// addRolloutFlags adds the rollout flags; noBlock says whether to add
// --no-block too (restart has its own).
func addRolloutFlags(cmd *cobra.Command, rf *rolloutFlags, noBlock bool) {
	fs := cmd.Flags()
	fs.IntVar(&rf.maxUnavailable, "max-unavailable", rollout.DefaultMaxUnavailable, "Instances replaced at once (at least 1)")
	fs.DurationVar(&rf.minHealthy, "min-healthy", 0, "How long a replaced instance must stay active, and healthy where it has checks, before the next step")
	fs.DurationVar(&rf.deadline, "deadline", rollout.DefaultDeadline, "How long a replaced instance may take to become ready before the rollout fails")
	fs.BoolVar(&rf.autoRevert, "auto-revert", true, "On failure, bring back the previous revision on every instance already replaced")
	if noBlock {
		fs.BoolVar(&rf.noBlock, "no-block", false, "Do not wait for the rollout to finish")
	}
}

// request fills a rollout request's settings, refusing bad ones before
// anything is sent.
func (rf *rolloutFlags) request() (*schema.RolloutRequest, error) {
	if rf.maxUnavailable < 1 {
		return nil, fmt.Errorf("--max-unavailable %d: want 1 or more (0 would never replace anything)", rf.maxUnavailable)
	}
	if rf.deadline <= rf.minHealthy {
		return nil, fmt.Errorf("--deadline %s: want more than --min-healthy %s", rf.deadline, rf.minHealthy)
	}
	n, auto := rf.maxUnavailable, rf.autoRevert
	return &schema.RolloutRequest{MaxUnavailable: &n, MinHealthy: rf.minHealthy.String(),
		Deadline: rf.deadline.String(), AutoRevert: &auto}, nil
}

func (a *app) rolloutCommand() *cobra.Command {
	var rf rolloutFlags
	cmd := &cobra.Command{
		Use:   "rollout [flags] FILE... | rollout status|pause|resume|abort [NAME]",
		Short: "Replace units with new unit files a few instances at a time.",
		Long: `Replace units with new unit files a few instances at a time. A template file
(web@.service) replaces every instance of it; a Global unit is replaced on each
of its machines in turn; other files replace the units of their names.

--max-unavailable instances are replaced at once. A replaced instance must run
the new file active, and healthy where it has checks, for --min-healthy before
the next is replaced. An instance that fails, turns unhealthy or is not ready
within --deadline stops the rollout and (--auto-revert, on by default) brings
back the previous file on every instance already replaced.

The rollout is carried on by the cluster's engine, not by fleetctl: it goes on
if fleetctl is interrupted. fleetctl waits for it to finish unless --no-block.

	fleetctl rollout --max-unavailable 2 --min-healthy 10s web@.service
	fleetctl rollout status web@.service`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("no unit files given: fleetctl rollout FILE..., or fleetctl rollout status")
			}
			req, err := rf.request()
			if err != nil {
				return err
			}
			for _, arg := range args {
				name := unitNameMangle(filepath.Base(arg))
				f, err := readUnitFile(name, arg)
				if err != nil {
					return fmt.Errorf("unit file %s: %w", arg, err)
				}
				req.Units = append(req.Units, &schema.Unit{Name: name, Options: f.Options})
			}
			return a.runRollout(req, rf.noBlock)
		},
	}
	addRolloutFlags(cmd, &rf, true)
	cmd.AddCommand(a.rolloutStatusCommand())
	for _, verb := range []string{"pause", "resume", "abort"} {
		cmd.AddCommand(a.rolloutSteerCommand(verb))
	}
	return cmd
}

// runRollout starts a rollout and, unless noBlock, follows it to its end.
func (a *app) runRollout(req *schema.RolloutRequest, noBlock bool) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ro, err := c.StartRollout(a.ctx, req)
	if err != nil {
		return err
	}
	a.stdout("Rollout %s started: %d instances, %d at a time", ro.Name, len(ro.Items), ro.MaxUnavailable)
	if noBlock {
		return nil
	}
	last := ""
	for ro.Active() {
		if line := progress(ro); line != last {
			a.stdout("%s", line)
			last = line
		}
		select {
		case <-a.ctx.Done():
			return a.ctx.Err()
		case <-time.After(a.rt.PollInterval):
		}
		if ro, err = c.Rollout(a.ctx, ro.Name); err != nil {
			return err
		}
	}
	a.stdout("%s", progress(ro))
	if ro.State != rollout.Done {
		return fmt.Errorf("rollout %s %s: %s", ro.Name, ro.State, ro.Reason)
	}
	return nil
}

// progress is one line of a rollout's state.
func progress(ro *schema.Rollout) string {
	c := ro.Counts()
	s := fmt.Sprintf("Rollout %s %s: %d/%d done, %d in progress", ro.Name, ro.State, c[rollout.ItemDone], len(ro.Items), c[rollout.Released])
	if c[rollout.ItemFail] > 0 {
		s += fmt.Sprintf(", %d failed", c[rollout.ItemFail])
	}
	if ro.Reason != "" {
		s += " (" + ro.Reason + ")"
	}
	return s
}

func (a *app) rolloutStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show rollouts, or one rollout's instances",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.rt.Stdout, 0, 8, 1, '\t', 0)
			defer tw.Flush()
			if len(args) == 0 {
				all, err := c.Rollouts(a.ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(tw, "NAME\tSTATE\tDONE\tSTARTED\tREASON")
				for _, ro := range all {
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\n", ro.Name, ro.State, ro.Counts()[rollout.ItemDone], len(ro.Items), ro.Created.Format(time.RFC3339), ro.Reason)
				}
				return nil
			}
			ro, err := c.Rollout(a.ctx, unitNameMangle(args[0]))
			if err != nil {
				return err
			}
			fmt.Fprintln(tw, progress(ro))
			fmt.Fprintln(tw, "INSTANCE\tPHASE\tFROM\tTO\tREASON")
			for _, it := range ro.Items {
				revs := ro.Units[it.Unit]
				fmt.Fprintf(tw, "%s\t%s\t%.7s\t%.7s\t%s\n", it.Key(), it.Phase, revs.From, revs.To, it.Reason)
			}
			return nil
		},
	}
}

func (a *app) rolloutSteerCommand(verb string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a rollout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ro, err := c.SteerRollout(a.ctx, unitNameMangle(args[0]), verb)
			if err != nil {
				return err
			}
			a.stdout("%s", progress(ro))
			return nil
		},
	}
}

func (a *app) historyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "history UNIT",
		Short: "List the kept revisions of a unit's file, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			revs, err := c.Revisions(a.ctx, unitNameMangle(args[0]))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.rt.Stdout, 0, 8, 1, '\t', 0)
			defer tw.Flush()
			fmt.Fprintln(tw, "HASH\tSUBMITTED\tCURRENT\tFAILED")
			for _, r := range revs {
				cur := ""
				if r.Current {
					cur = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Hash, r.Time.Format(time.RFC3339), cur, r.Failed)
			}
			return nil
		},
	}
}

func (a *app) rollbackCommand() *cobra.Command {
	var rf rolloutFlags
	var to string
	cmd := &cobra.Command{
		Use:   "rollback [--to HASH] UNIT",
		Short: "Go back to an earlier revision of a unit, through a rollout",
		Long: `Replace a unit's file with an earlier kept revision (fleetctl history UNIT):
--to HASH (at least 7 characters), or the newest one other than the current
whose rollout did not fail. It
goes through the same rollout as fleetctl rollout, with the same flags.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := rf.request()
			if err != nil {
				return err
			}
			req.Rollback, req.To = unitNameMangle(args[0]), to
			return a.runRollout(req, rf.noBlock)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "The revision to go back to (fleetctl history UNIT)")
	addRolloutFlags(cmd, &rf, true)
	return cmd
}

// rollChanged rolls out, before start --replace --rolling starts them, the
// units of args that are in the cluster and differ from their local file,
// in one rollout; the rest are left to the plain start.
func (a *app) rollChanged(args []string, rf *rolloutFlags) error {
	req, err := rf.request()
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	for _, arg := range args {
		arg = maybeAppendDefaultUnitType(arg)
		name := unitNameMangle(arg)
		stored, err := c.Unit(a.ctx, name)
		if err != nil {
			return err
		}
		local, _, err := localUnit(arg)
		if err != nil {
			return err
		}
		if stored == nil || local == nil || local.Hash() == optionsHash(stored.Options) {
			continue
		}
		req.Units = append(req.Units, &schema.Unit{Name: name, Options: local.Options})
	}
	if len(req.Units) == 0 {
		return nil
	}
	return a.runRollout(req, false)
}
