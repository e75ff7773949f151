package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/dns"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// listServices lists every endpoint (GET /fleet/v1/services), sorted by
// service, unit and machine; ?unitName= (repeatable) and ?machineID=
// filter as for /fleet/v1/state.
func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	eps, _, err := s.cfg.Registry.Endpoints(r.Context())
	if err != nil {
		writeRegistryError(w, "", err)
		return
	}
	q := r.URL.Query()
	units, machine := q["unitName"], q.Get("machineID")
	domain := s.cfg.DNSDomain
	if domain == "" {
		domain = dns.DefaultDomain
	}
	all := make([]*schema.Service, 0, len(eps))
	for _, e := range eps {
		if (len(units) > 0 && !contains(units, e.Unit)) || (machine != "" && e.Machine != machine) {
			continue
		}
		all = append(all, serviceOf(e, domain))
	}
	sort.Slice(all, func(i, j int) bool { return serviceKey(all[i]) < serviceKey(all[j]) })
	lo, hi, next, err := page(r, len(all), func(i int) string { return serviceKey(all[i]) })
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, schema.ServicePage{Services: all[lo:hi], NextPageToken: next})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func serviceKey(s *schema.Service) string {
	return s.Service + "\x00" + s.Name + "\x00" + s.MachineID
}

// serviceOf is the API's view of an endpoint; its service is the name DNS
// answers for the unit's group ("" for a unit DNS does not name).
func serviceOf(e *registry.Endpoint, domain string) *schema.Service {
	svc := &schema.Service{Name: e.Unit, MachineID: e.Machine, MachineIP: e.MachineAddr, Addr: e.Addr,
		Health: e.Health, InDNS: dns.Serves(e.Health)}
	if n, err := unit.ParseName(e.Unit); err == nil && n.Suffix() == "service" {
		svc.Service = strings.ToLower(n.Prefix()) + "." + strings.TrimSuffix(domain, ".")
	} else {
		svc.InDNS = false
	}
	for _, p := range e.Ports {
		svc.Ports = append(svc.Ports, schema.ServicePort{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	return svc
}
