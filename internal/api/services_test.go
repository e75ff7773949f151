package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// TestServices: GET /fleet/v1/services lists every endpoint in etcd with
// its DNS name, page by page, filtered as the state listing is.
func TestServices(t *testing.T) {
	e := newEnv(t)
	lease := e.lease()
	eps := []registry.EndpointWrite{
		{Unit: "web@2.service", Endpoint: &registry.Endpoint{Unit: "web@2.service", Machine: "m-b", MachineAddr: "10.0.0.2", Addr: "10.88.2.5", Health: "unhealthy",
			Ports: []registry.Port{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}},
		{Unit: "web@1.service", Endpoint: &registry.Endpoint{Unit: "web@1.service", Machine: "m-a", MachineAddr: "10.0.0.1", Health: "healthy"}},
		{Unit: "db.service", Endpoint: &registry.Endpoint{Unit: "db.service", Machine: "m-a", MachineAddr: "10.0.0.1"}},
		{Unit: "tick.timer", Endpoint: &registry.Endpoint{Unit: "tick.timer", Machine: "m-a", MachineAddr: "10.0.0.1"}},
	}
	for _, w := range eps {
		if err := e.reg.WriteEndpoints(e.ctx(), w.Endpoint.Machine, lease, []registry.EndpointWrite{w}); err != nil {
			t.Fatal(err)
		}
	}
	var got []*schema.Service
	tok, pages := "", 0
	for range 10 {
		q := "?pageSize=3"
		if tok != "" {
			q += "&nextPageToken=" + tok
		}
		code, body := e.do(http.MethodGet, "/fleet/v1/services"+q, "")
		var p schema.ServicePage
		if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("services%s: %d %s", q, code, body)
		}
		pages++
		got = append(got, p.Services...)
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	if pages != 2 || len(got) != 4 {
		t.Fatalf("%d pages, %d services", pages, len(got))
	}
	want := []struct {
		svc, unit string
		inDNS     bool
	}{{"", "tick.timer", false}, {"db.flotilla", "db.service", true}, {"web.flotilla", "web@1.service", true}, {"web.flotilla", "web@2.service", false}}
	for i, w := range want {
		if g := got[i]; g.Service != w.svc || g.Name != w.unit || g.InDNS != w.inDNS {
			t.Errorf("service %d: %+v, want %+v", i, g, w)
		}
	}
	if g := got[3]; g.MachineID != "m-b" || g.MachineIP != "10.0.0.2" || g.Addr != "10.88.2.5" || g.Health != "unhealthy" ||
		len(g.Ports) != 1 || g.Ports[0] != (schema.ServicePort{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}) {
		t.Errorf("web@2: %+v", g)
	}
	code, body := e.do(http.MethodGet, "/fleet/v1/services?machineID=m-b", "")
	var p schema.ServicePage
	if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || len(p.Services) != 1 || p.Services[0].Name != "web@2.service" {
		t.Errorf("machineID filter: %d %s", code, body)
	}
	code, body = e.do(http.MethodGet, "/fleet/v1/services?unitName=db.service&unitName=tick.timer", "")
	if p = (schema.ServicePage{}); code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil || len(p.Services) != 2 {
		t.Errorf("unitName filter: %d %s", code, body)
	}
}
