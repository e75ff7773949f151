package fleetctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// listFlags are shared by the list commands.
type listFlags struct {
	full     bool
	noLegend bool
	fields   string
	output   string
}

func addListFlags(cmd *cobra.Command, lf *listFlags, defFields string, valid []string, what string) {
	cmd.Flags().BoolVarP(&lf.full, "full", "l", false, "Do not ellipsize fields on output")
	cmd.Flags().BoolVar(&lf.noLegend, "no-legend", false, "Do not print a legend (column headers)")
	cmd.Flags().StringVar(&lf.fields, "fields", defFields, fmt.Sprintf("Columns to print for each %s. Valid fields are %q", what, strings.Join(valid, ",")))
	addOutputFlag(cmd, &lf.output)
}

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", `Output format: "text" (fleet's table) or "json" (the API objects; ignores --fields, --full and --no-legend)`)
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("invalid output format %q: use text or json", output)
	}
	return nil
}

// fieldFunc renders one column of a row; full disables ellipsizing.
type fieldFunc[T any] func(row T, full bool) string

func fieldNames[T any](m map[string]fieldFunc[T]) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseFields checks a --fields value against the valid field names.
func parseFields[T any](spec string, m map[string]fieldFunc[T]) ([]string, error) {
	if spec == "" {
		return nil, errors.New("must define output format: --fields is empty")
	}
	cols := strings.Split(spec, ",")
	for _, c := range cols {
		if _, ok := m[c]; !ok {
			return nil, fmt.Errorf("invalid key in output format: %q (valid fields: %s)", c, strings.Join(fieldNames(m), ","))
		}
	}
	return cols, nil
}

// printTable writes rows as fleet did: tab-separated through a tabwriter,
// upper-case legend unless noLegend.
func printTable[T any](w io.Writer, cols []string, m map[string]fieldFunc[T], rows []T, lf listFlags) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, '\t', 0)
	if !lf.noLegend {
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	}
	for _, r := range rows {
		f := make([]string, len(cols))
		for i, c := range cols {
			f[i] = m[c](r, lf.full)
		}
		fmt.Fprintln(tw, strings.Join(f, "\t"))
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortHash(h string, full bool) string {
	if h == "" {
		return "-"
	}
	if !full && len(h) > 7 {
		return h[:7]
	}
	return h
}

func (a *app) unitStateFields() map[string]fieldFunc[*schema.UnitState] {
	return map[string]fieldFunc[*schema.UnitState]{
		"unit":    func(s *schema.UnitState, _ bool) string { return dash(s.Name) },
		"machine": func(s *schema.UnitState, full bool) string { return a.machineLegend(s.MachineID, full) },
		"active":  func(s *schema.UnitState, _ bool) string { return dash(s.SystemdActiveState) },
		"sub":     func(s *schema.UnitState, _ bool) string { return dash(s.SystemdSubState) },
		"load":    func(s *schema.UnitState, _ bool) string { return dash(s.SystemdLoadState) },
		"hash":    func(s *schema.UnitState, full bool) string { return shortHash(s.Hash, full) },
		"reason":  func(s *schema.UnitState, _ bool) string { return dash(s.Reason) },
		// health is Flotilla's: the check's verdict, "-" without a check.
		// Not a default column, so fleet's default output is unchanged.
		"health": func(s *schema.UnitState, _ bool) string { return dash(s.Health) },
		"pid": func(s *schema.UnitState, _ bool) string {
			if s.PID == 0 {
				return "-"
			}
			return strconv.Itoa(s.PID)
		},
	}
}

func (a *app) listUnitsCommand() *cobra.Command {
	var lf listFlags
	fields := a.unitStateFields()
	cmd := &cobra.Command{
		Use:   "list-units [--no-legend] [-l|--full] [--fields] [-o json]",
		Short: "List the current state of units in the cluster",
		Long: `Lists the state of all units in the cluster loaded onto a machine, and of
units fleetd could not place (MACHINE "-", see the reason field).

For easily parsable output, you can remove the column headers:
	fleetctl list-units --no-legend

Output the list without ellipses:
	fleetctl list-units --full

Or, choose the columns to display:
	fleetctl list-units --fields=unit,machine

Or, get the unit states as JSON:
	fleetctl list-units -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(lf.output); err != nil {
				return err
			}
			cols, err := parseFields(lf.fields, fields)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			states, err := c.UnitStates(a.ctx, client.StateFilter{})
			if err != nil {
				return fmt.Errorf("retrieving list of units from repository: %w", err)
			}
			sort.SliceStable(states, func(i, j int) bool {
				if states[i].Name != states[j].Name {
					return states[i].Name < states[j].Name
				}
				return states[i].MachineID < states[j].MachineID
			})
			if lf.output == "json" {
				return printJSON(a.rt.Stdout, nonNil(states))
			}
			return printTable(a.rt.Stdout, cols, fields, states, lf)
		},
	}
	addListFlags(cmd, &lf, "unit,machine,active,sub", fieldNames(fields), "Unit")
	return cmd
}

func (a *app) unitFields() map[string]fieldFunc[*schema.Unit] {
	target := func(u *schema.Unit, full bool) string {
		if isGlobal(u.Options) {
			return "global"
		}
		return a.machineLegend(u.MachineID, full)
	}
	return map[string]fieldFunc[*schema.Unit]{
		"unit":   func(u *schema.Unit, _ bool) string { return u.Name },
		"global": func(u *schema.Unit, _ bool) string { return strconv.FormatBool(isGlobal(u.Options)) },
		"dstate": func(u *schema.Unit, _ bool) string { return dash(u.DesiredState) },
		"target": target,
		// fleet's deprecated name of target, with fleet's warning (see listUnitFilesCommand).
		"tmachine": target,
		"state": func(u *schema.Unit, _ bool) string {
			if isGlobal(u.Options) {
				return "-"
			}
			return dash(u.CurrentState)
		},
		"hash": func(u *schema.Unit, full bool) string {
			h := u.Hash
			if h == "" {
				h = optionsHash(u.Options)
			}
			return shortHash(h, full)
		},
		"desc": func(u *schema.Unit, _ bool) string { return dash(description(u.Options)) },
	}
}

func (a *app) listUnitFilesCommand() *cobra.Command {
	var lf listFlags
	fields := a.unitFields()
	cmd := &cobra.Command{
		Use:   "list-unit-files [--no-legend] [-l|--full] [--fields] [-o json]",
		Short: "List the units that exist in the cluster.",
		Long:  "Lists all unit files that exist in the cluster (whether or not they are loaded onto a machine).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(lf.output); err != nil {
				return err
			}
			cols, err := parseFields(lf.fields, fields)
			if err != nil {
				return err
			}
			for _, col := range cols {
				if col == "tmachine" {
					fmt.Fprintln(a.rt.Stderr, `WARNING: The "tmachine" field is deprecated. Use "target" instead`)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			units, err := c.Units(a.ctx)
			if err != nil {
				return fmt.Errorf("retrieving list of units from repository: %w", err)
			}
			sort.SliceStable(units, func(i, j int) bool { return units[i].Name < units[j].Name })
			if lf.output == "json" {
				return printJSON(a.rt.Stdout, nonNil(units))
			}
			return printTable(a.rt.Stdout, cols, fields, units, lf)
		},
	}
	addListFlags(cmd, &lf, "unit,hash,dstate,state,target", fieldNames(fields), "Unit file")
	return cmd
}

// formatMetadata is fleet's k=v,k2=v2 with keys sorted.
func formatMetadata(md map[string]string) string {
	if len(md) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + md[k]
	}
	return strings.Join(pairs, ",")
}

func machineFields() map[string]fieldFunc[*schema.Machine] {
	return map[string]fieldFunc[*schema.Machine]{
		"machine":  func(m *schema.Machine, full bool) string { return dash(shortID(m.ID, full)) },
		"ip":       func(m *schema.Machine, _ bool) string { return dash(m.PrimaryIP) },
		"metadata": func(m *schema.Machine, _ bool) string { return formatMetadata(m.Metadata) },
		"name":     func(m *schema.Machine, _ bool) string { return dash(m.Name) },
		"version":  func(m *schema.Machine, _ bool) string { return dash(m.Version) },
		"update":   func(m *schema.Machine, _ bool) string { return dash(m.Update) },
		"root":     func(m *schema.Machine, _ bool) string { return dash(m.Root) },
		"etcd":     func(m *schema.Machine, _ bool) string { return dash(m.Etcd) },
		"state":    func(m *schema.Machine, _ bool) string { return dash(m.State) },
		"cpus": func(m *schema.Machine, _ bool) string {
			if m.CapacityMilliCPU == 0 {
				return "-"
			}
			return strconv.FormatFloat(float64(m.CapacityMilliCPU)/1000, 'f', -1, 64)
		},
		"memory": func(m *schema.Machine, _ bool) string {
			if m.CapacityMemory == 0 {
				return "-"
			}
			return unit.FormatBytes(m.CapacityMemory)
		},
	}
}

func (a *app) listMachinesCommand() *cobra.Command {
	var lf listFlags
	fields := machineFields()
	cmd := &cobra.Command{
		Use:   "list-machines [-l|--full] [--no-legend] [--fields] [-o json]",
		Short: "Enumerate the current hosts in the cluster",
		Long: `Lists all active machines within the cluster. Previously active machines will not appear in this list.

For easily parsable output, you can remove the column headers:
	fleetctl list-machines --no-legend

Output the list without truncation:
	fleetctl list-machines --full`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(lf.output); err != nil {
				return err
			}
			cols, err := parseFields(lf.fields, fields)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			machines, err := c.Machines(a.ctx)
			if err != nil {
				return fmt.Errorf("retrieving list of active machines: %w", err)
			}
			sort.SliceStable(machines, func(i, j int) bool { return machines[i].ID < machines[j].ID })
			if !cmd.Flags().Changed("fields") && slices.ContainsFunc(machines, func(m *schema.Machine) bool { return m.State != "" }) {
				cols = append(cols, "state") // fleet's columns, and the cordons when there are any
			}
			if lf.output == "json" {
				return printJSON(a.rt.Stdout, nonNil(machines))
			}
			return printTable(a.rt.Stdout, cols, fields, machines, lf)
		},
	}
	addListFlags(cmd, &lf, "machine,ip,metadata", fieldNames(fields), "Machine")
	return cmd
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// shortID is fleet's "<first 8>..." form of a machine ID, or the whole ID
// with full.
func shortID(id string, full bool) string {
	if !full && len(id) > 8 {
		return id[:8] + "..."
	}
	return id
}
