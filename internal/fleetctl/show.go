package fleetctl

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func (a *app) catCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "cat UNIT...",
		Short: "Output the contents of a submitted unit",
		Long: `Outputs the unit file that is currently loaded in the cluster, in canonical form.
Useful to verify the correct version of a unit is running.`,
		Args: requireUnits,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			for i, arg := range args {
				name := unitNameMangle(arg)
				u, err := c.Unit(a.ctx, name)
				if err != nil {
					return err
				}
				if u == nil {
					return fmt.Errorf("unit %s not found", name)
				}
				if i > 0 {
					fmt.Fprintln(a.rt.Stdout)
				}
				fmt.Fprint(a.rt.Stdout, unit.FromOptions(u.Options).String())
			}
			return nil
		},
	}
}

// unitStatus is one unit in `status -o json`.
type unitStatus struct {
	Unit   *schema.Unit        `json:"unit"`
	States []*schema.UnitState `json:"states"`
}

func (a *app) statusCommand() *cobra.Command {
	var output string
	var lines int
	cmd := &cobra.Command{
		Use:   "status [-o json] [--lines N] UNIT...",
		Short: "Output the status of one or more units in the cluster",
		Long: `Output the status of one or more units currently running in the cluster:
states reported by the machine running it, its main PID and why it failed or
could not be placed, then the last lines of its journal (read over the API).

	fleetctl status foo.service`,
		Args: requireUnits,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var all []unitStatus
			for _, arg := range args {
				name := unitNameMangle(arg)
				u, err := c.Unit(a.ctx, name)
				if err != nil {
					return err
				}
				if u == nil {
					return fmt.Errorf("unit %s does not exist", name)
				}
				states, err := c.UnitStates(a.ctx, client.StateFilter{UnitName: name})
				if err != nil {
					return fmt.Errorf("retrieving state of unit %s: %w", name, err)
				}
				sort.SliceStable(states, func(i, j int) bool { return states[i].MachineID < states[j].MachineID })
				all = append(all, unitStatus{Unit: u, States: nonNil(states)})
			}
			if output == "json" {
				return printJSON(a.rt.Stdout, all)
			}
			var errs []error
			for i, st := range all {
				if i > 0 {
					fmt.Fprintln(a.rt.Stdout)
				}
				if err := a.printStatus(st, lines); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "Number of journal lines to show per machine (0: none)")
	addSSHPortFlag(cmd)
	return cmd
}

// printStatus writes a systemctl-status-like block per machine the unit is on.
func (a *app) printStatus(st unitStatus, lines int) error {
	u := st.Unit
	w := a.rt.Stdout
	head := "● " + u.Name
	if d := description(u.Options); d != "" {
		head += " - " + d
	}
	placed, reason := splitPlaced(st.States)
	if len(placed) == 0 {
		fmt.Fprintln(w, head)
		fmt.Fprintf(w, "   Loaded: - (desired %s, hash %s)\n", dash(u.DesiredState), shortHash(optionsHash(u.Options), false))
		fmt.Fprintln(w, "   Active: inactive (dead)")
		if reason != "" {
			fmt.Fprintf(w, "  Machine: - (not placed: %s)\n", reason)
		} else {
			fmt.Fprintln(w, "  Machine: - (not placed)")
		}
		return nil
	}
	var errs []error
	for i, s := range placed {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, head)
		fmt.Fprintf(w, "   Loaded: %s (desired %s, hash %s)\n", dash(s.SystemdLoadState), dash(u.DesiredState), shortHash(s.Hash, false))
		active := fmt.Sprintf("%s (%s)", dash(s.SystemdActiveState), dash(s.SystemdSubState))
		if since := a.since(s.Since); since != "" {
			active += " since " + since
		}
		fmt.Fprintf(w, "   Active: %s\n", active)
		if s.Health != "" {
			fmt.Fprintf(w, "   Health: %s\n", s.Health)
		}
		fmt.Fprintf(w, "  Machine: %s\n", a.machineLegend(s.MachineID, true))
		if s.PID != 0 {
			fmt.Fprintf(w, " Main PID: %d\n", s.PID)
		}
		if s.Reason != "" {
			fmt.Fprintf(w, "   Reason: %s\n", s.Reason)
		}
		if lines > 0 {
			fmt.Fprintln(w)
			if err := a.journalTo(w, u.Name, lines, false, s.MachineID); err != nil {
				errs = append(errs, fmt.Errorf("journal of %s on %s: %w", u.Name, s.MachineID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// since renders an RFC 3339 time as systemctl does: "Mon 2006-01-02 15:04:05 MST; 5min ago".
func (a *app) since(rfc3339 string) string {
	if rfc3339 == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return rfc3339
	}
	return t.Format("Mon 2006-01-02 15:04:05 MST") + "; " + ago(a.rt.Now().Sub(t))
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dmin %ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dmin ago", int(d.Hours()), int(d.Minutes())%60)
	default:
		days := int(d.Hours()) / 24
		return fmt.Sprintf("%d days %dh ago", days, int(d.Hours())%24)
	}
}

func (a *app) journalTo(w io.Writer, name string, lines int, follow bool, machineID string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	return c.Journal(a.ctx, name, lines, follow, machineID, w)
}

func (a *app) journalCommand() *cobra.Command {
	var lines int
	var follow bool
	var machineID string
	cmd := &cobra.Command{
		Use:   "journal [--lines=N] [-f|--follow] [--machine=ID] UNIT",
		Short: "Print the journal of a unit in the cluster to stdout",
		Long: `Outputs the journal of a unit, read through fleetd's API from the machine
running it (fleet used SSH). With -f it follows until interrupted.
For a global unit, --machine picks the machine.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return errors.New("one unit must be provided")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if lines < 0 {
				return fmt.Errorf("--lines must not be negative, got %d", lines)
			}
			name := unitNameMangle(args[0])
			err := a.journalTo(a.rt.Stdout, name, lines, follow, strings.TrimSpace(machineID))
			if follow && a.ctx.Err() != nil {
				return nil // interrupted: the normal end of --follow
			}
			return err
		},
	}
	cmd.Flags().IntVar(&lines, "lines", 10, "Number of recent log lines to return")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Continuously print new entries as they are appended to the journal.")
	cmd.Flags().StringVar(&machineID, "machine", "", "Machine whose journal of the unit to read (for units on several machines)")
	addSSHPortFlag(cmd)
	var sudo bool
	cmd.Flags().BoolVar(&sudo, "sudo", false, "Execute journal command with sudo (accepted for fleet; ignored)")
	ignoreFlag(cmd.Flags(), "sudo", "logs come over fleetd's API, which needs no sudo")
	var mode string
	cmd.Flags().StringVar(&mode, "output", "short", "journalctl's output mode (accepted for fleet; the log is printed as the unit wrote it)")
	ignoreFlag(cmd.Flags(), "output", "the unit's log is printed as the unit wrote it, one line per line")
	return cmd
}
