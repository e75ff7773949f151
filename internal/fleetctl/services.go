package fleetctl

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// serviceFields are list-services' columns.
func serviceFields() map[string]fieldFunc[*schema.Service] {
	return map[string]fieldFunc[*schema.Service]{
		"service":   func(s *schema.Service, _ bool) string { return dash(s.Service) },
		"unit":      func(s *schema.Service, _ bool) string { return dash(s.Name) },
		"machine":   func(s *schema.Service, full bool) string { return dash(shortID(s.MachineID, full)) },
		"address":   func(s *schema.Service, _ bool) string { return dash(s.MachineIP) },
		"container": func(s *schema.Service, _ bool) string { return dash(s.Addr) },
		"ports":     func(s *schema.Service, _ bool) string { return formatPorts(s) },
		"health": func(s *schema.Service, _ bool) string {
			if s.Health == "" {
				return "-"
			}
			return s.Health
		},
		"dns": func(s *schema.Service, _ bool) string {
			if s.InDNS {
				return "yes"
			}
			return "no"
		},
	}
}

// formatPorts is Podman's ps form: "192.0.2.1:8080->80/tcp", comma-separated.
func formatPorts(s *schema.Service) string {
	if len(s.Ports) == 0 {
		return "-"
	}
	out := make([]string, len(s.Ports))
	for i, p := range s.Ports {
		out[i] = fmt.Sprintf("%s->%d/%s", net.JoinHostPort(s.MachineIP, strconv.Itoa(int(p.HostPort))), p.ContainerPort, p.Protocol)
	}
	return strings.Join(out, ",")
}

func (a *app) listServicesCommand() *cobra.Command {
	var lf listFlags
	fields := serviceFields()
	cmd := &cobra.Command{
		Use:   "list-services [-l|--full] [--no-legend] [--fields] [-o json]",
		Short: "Enumerate the endpoints of active units and the names DNS gives them",
		Long: `Lists every endpoint of an active unit: the DNS name that answers for it, the machine it
runs on, that machine's address, its published ports and its health. An endpoint whose
health is starting or unhealthy is listed but left out of DNS (field "dns").

For easily parsable output, you can remove the column headers:
	fleetctl list-services --no-legend

Show the containers' own addresses too:
	fleetctl list-services --fields service,unit,machine,address,container,ports,health`,
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
			svcs, err := c.Services(a.ctx)
			if err != nil {
				return fmt.Errorf("retrieving list of services: %w", err)
			}
			sort.SliceStable(svcs, func(i, j int) bool {
				if svcs[i].Service != svcs[j].Service {
					return svcs[i].Service < svcs[j].Service
				}
				if svcs[i].Name != svcs[j].Name {
					return svcs[i].Name < svcs[j].Name
				}
				return svcs[i].MachineID < svcs[j].MachineID
			})
			if lf.output == "json" {
				return printJSON(a.rt.Stdout, nonNil(svcs))
			}
			return printTable(a.rt.Stdout, cols, fields, svcs, lf)
		},
	}
	addListFlags(cmd, &lf, "service,unit,machine,address,ports,health", fieldNames(fields), "Service")
	return cmd
}
