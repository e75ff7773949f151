package fleetctl

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// servicesAPI serves GET /fleet/v1/services in pages of one.
func servicesAPI(t *testing.T, svcs []*schema.Service) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fleet/v1/services" {
			writeErr(w, http.StatusNotFound, "no such endpoint")
			return
		}
		p, next, err := page(r, svcs, 1)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeJSON(w, schema.ServicePage{Services: p, NextPageToken: next})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestListServices(t *testing.T) {
	url := servicesAPI(t, []*schema.Service{
		{Service: "web.flotilla", Name: "web@2.service", MachineID: m1, MachineIP: "10.0.0.1", Addr: "10.88.1.2", Health: "unhealthy",
			Ports: []schema.ServicePort{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 5353, ContainerPort: 53, Protocol: "udp"}}},
		{Service: "db.flotilla", Name: "db.service", MachineID: "9f8e7d6c5b4a39281706f5e4d3c2b1a0", MachineIP: "10.0.0.2", InDNS: true},
	})
	out, _, code := runCtl(t, url, "list-services")
	want := "" +
		"SERVICE\t\tUNIT\t\tMACHINE\t\tADDRESS\t\tPORTS\t\t\t\t\t\tHEALTH\n" +
		"db.flotilla\tdb.service\t9f8e7d6c...\t10.0.0.2\t-\t\t\t\t\t\t-\n" +
		"web.flotilla\tweb@2.service\t2c1a4b3d...\t10.0.0.1\t10.0.0.1:8080->80/tcp,10.0.0.1:5353->53/udp\tunhealthy\n"
	if code != 0 || out != want {
		t.Errorf("list-services = %d\n%q\nwant\n%q", code, out, want)
	}
	out, _, _ = runCtl(t, url, "list-services", "--no-legend", "-l", "--fields", "unit,machine,container,dns")
	if out != "db.service\t9f8e7d6c5b4a39281706f5e4d3c2b1a0\t-\t\tyes\nweb@2.service\t"+m1+"\t10.88.1.2\tno\n" {
		t.Errorf("--fields: %q", out)
	}
	out, _, _ = runCtl(t, url, "list-services", "-o", "json")
	var svcs []*schema.Service
	if err := json.Unmarshal([]byte(out), &svcs); err != nil || len(svcs) != 2 || svcs[0].Name != "db.service" {
		t.Errorf("-o json: %v %q", err, out)
	}
	_, errOut, code := runCtl(t, url, "list-services", "--fields", "unit,bogus")
	if code != 1 || !strings.Contains(errOut, `"bogus"`) {
		t.Errorf("bad field: %d %q", code, errOut)
	}
	out, _, code = runCtl(t, servicesAPI(t, nil), "list-services", "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty: %d %q", code, out)
	}
}
