package fleetctl

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/unit"
)

const (
	m1 = "2c1a4b3d5e6f708192a3b4c5d6e7f801"
	m2 = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
)

func opts(t testing.TB, name, text string) []unit.Option {
	t.Helper()
	f, err := unit.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f.Options
}

const webUnit = "[Unit]\nDescription=Web server\n\n[Service]\nExecStart=/bin/web\n"

// clusterFixture: two machines, three units (one global), five states; with
// page size 2 every list crosses pages.
func clusterFixture(t testing.TB) *fakeFleet {
	f := newFakeFleet(t)
	f.lock(func() {
		f.machines = []*schema.Machine{
			{ID: m2, PrimaryIP: "10.0.0.2", Name: "beta", Version: "1.1.0", Update: "idle"},
			{ID: m1, PrimaryIP: "10.0.0.1", Metadata: map[string]string{"region": "eu", "disk": "ssd"}, Name: "alpha", Version: "1.2.0", Update: "reboot-needed", Etcd: "leader"},
			{ID: "3333333333333333333333333333333a", PrimaryIP: "10.0.0.3"},
		}
		web := opts(t, "web.service", webUnit)
		mon := opts(t, "mon.service", "[Service]\nExecStart=/bin/mon\n\n[X-Fleet]\nGlobal=true\n")
		db := opts(t, "db.service", "[Service]\nExecStart=/bin/db\n")
		f.units["web.service"] = &schema.Unit{Name: "web.service", Options: web, Hash: unit.FromOptions(web).Hash(), DesiredState: "launched", CurrentState: "launched", MachineID: m1}
		f.units["mon.service"] = &schema.Unit{Name: "mon.service", Options: mon, Hash: unit.FromOptions(mon).Hash(), DesiredState: "launched"}
		f.units["db.service"] = &schema.Unit{Name: "db.service", Options: db, Hash: unit.FromOptions(db).Hash(), DesiredState: "launched"}
		f.states = []*schema.UnitState{
			{Name: "web.service", MachineID: m1, Hash: f.units["web.service"].Hash, SystemdLoadState: "loaded", SystemdActiveState: "active", SystemdSubState: "running", PID: 4242, Health: "healthy"},
			{Name: "mon.service", MachineID: m2, SystemdLoadState: "loaded", SystemdActiveState: "active", SystemdSubState: "running"},
			{Name: "mon.service", MachineID: m1, SystemdLoadState: "loaded", SystemdActiveState: "failed", SystemdSubState: "failed", Reason: "exit code 3"},
			{Name: "db.service", SystemdLoadState: "-", SystemdActiveState: "-", SystemdSubState: "-", Reason: "not placed: no machine matches MachineMetadata=disk=nvme"},
		}
	})
	return f
}

func TestListUnits(t *testing.T) {
	f := clusterFixture(t)
	ep := f.srv.URL

	out, _, code := runCtl(t, ep, "list-units")
	want := "" +
		"UNIT\t\tMACHINE\t\t\tACTIVE\tSUB\n" +
		"db.service\t-\t\t\t-\t-\n" +
		"mon.service\t2c1a4b3d.../10.0.0.1\tfailed\tfailed\n" +
		"mon.service\t9f8e7d6c.../10.0.0.2\tactive\trunning\n" +
		"web.service\t2c1a4b3d.../10.0.0.1\tactive\trunning\n"
	if code != 0 || out != want {
		t.Errorf("list-units = %d\n%s\nwant\n%s", code, out, want)
	}

	out, _, _ = runCtl(t, ep, "list-units", "--no-legend", "--full", "--fields", "unit,machine,load,hash,reason,pid")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || strings.HasPrefix(lines[0], "UNIT") {
		t.Fatalf("--no-legend: %q", lines)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "db.service - - - not placed: no machine matches MachineMetadata=disk=nvme -" {
		t.Errorf("unplaced row: %q", f)
	}
	if f := strings.Fields(lines[3]); len(f) != 6 || f[1] != m1+"/10.0.0.1" || len(f[3]) != 40 || f[5] != "4242" {
		t.Errorf("full row: %q", f)
	}

	// health: Flotilla's field, "-" for a unit without a check.
	out, _, _ = runCtl(t, ep, "list-units", "--no-legend", "--fields", "unit,health")
	if want := "db.service\t-\nmon.service\t-\nmon.service\t-\nweb.service\thealthy\n"; out != want {
		t.Errorf("--fields unit,health = %q, want %q", out, want)
	}

	out, _, _ = runCtl(t, ep, "list-units", "-o", "json")
	var states []*schema.UnitState
	if err := json.Unmarshal([]byte(out), &states); err != nil || len(states) != 4 || states[3].PID != 4242 || states[3].Health != "healthy" {
		t.Errorf("-o json: %v %+v", err, states)
	}

	_, errOut, code := runCtl(t, ep, "list-units", "--fields", "unit,tmachine")
	if code != 1 || !strings.Contains(errOut, `"tmachine"`) || !strings.Contains(errOut, "active,hash,health,load,machine,pid,reason,sub,unit") {
		t.Errorf("bad field: %d %q", code, errOut)
	}
	_, errOut, code = runCtl(t, ep, "list-units", "-o", "yaml")
	if code != 1 || !strings.Contains(errOut, "yaml") {
		t.Errorf("bad output: %d %q", code, errOut)
	}
	// Four states in pages of two: the states list needs the token twice.
	if n := countRequests(f, "GET /fleet/v1/state?nextPageToken="); n == 0 {
		t.Errorf("no paged state request in %q", f.requestLog())
	}
}

func TestListUnitFiles(t *testing.T) {
	f := clusterFixture(t)
	out, _, code := runCtl(t, f.srv.URL, "list-unit-files")
	webHash := f.units["web.service"].Hash
	want := "" +
		"UNIT\t\tHASH\tDSTATE\t\tSTATE\t\tTARGET\n" +
		"db.service\t" + f.units["db.service"].Hash[:7] + "\tlaunched\t-\t\t-\n" +
		"mon.service\t" + f.units["mon.service"].Hash[:7] + "\tlaunched\t-\t\tglobal\n" +
		"web.service\t" + webHash[:7] + "\tlaunched\tlaunched\t2c1a4b3d.../10.0.0.1\n"
	if code != 0 || out != want {
		t.Errorf("list-unit-files = %d\n%s\nwant\n%s", code, out, want)
	}
	out, _, _ = runCtl(t, f.srv.URL, "list-unit-files", "--full", "--no-legend", "--fields", "unit,hash,desc,global,target")
	if !strings.Contains(out, "web.service\t"+webHash+"\tWeb server\tfalse\t"+m1+"/10.0.0.1") {
		t.Errorf("--full fields: %q", out)
	}
	out, _, _ = runCtl(t, f.srv.URL, "list-unit-files", "-o", "json")
	var units []*schema.Unit
	if err := json.Unmarshal([]byte(out), &units); err != nil || len(units) != 3 || units[2].Name != "web.service" {
		t.Errorf("-o json: %v %q", err, out)
	}
}

func TestListMachines(t *testing.T) {
	f := clusterFixture(t)
	out, _, code := runCtl(t, f.srv.URL, "list-machines")
	want := "" +
		"MACHINE\t\tIP\t\tMETADATA\n" +
		"2c1a4b3d...\t10.0.0.1\tdisk=ssd,region=eu\n" +
		"33333333...\t10.0.0.3\t-\n" +
		"9f8e7d6c...\t10.0.0.2\t-\n"
	if code != 0 || out != want {
		t.Errorf("list-machines = %d\n%s\nwant\n%s", code, out, want)
	}
	out, _, _ = runCtl(t, f.srv.URL, "list-machines", "-l", "--no-legend", "--fields", "machine,name,version,update,etcd")
	if !strings.HasPrefix(out, m1+"\talpha\t1.2.0\treboot-needed\tleader\n") || !strings.Contains(out, "\tbeta\t1.1.0\tidle\t\t-\n") {
		t.Errorf("fields: %q", out)
	}
	out, _, _ = runCtl(t, f.srv.URL, "list-machines", "--output", "json")
	var ms []*schema.Machine
	if err := json.Unmarshal([]byte(out), &ms); err != nil || len(ms) != 3 || ms[0].ID != m1 {
		t.Errorf("-o json: %v %q", err, out)
	}
	_, errOut, code := runCtl(t, f.srv.URL, "list-machines", "--fields", "")
	if code != 1 || !strings.Contains(errOut, "--fields is empty") {
		t.Errorf("empty fields: %d %q", code, errOut)
	}
}

func TestListEmptyJSON(t *testing.T) {
	f := newFakeFleet(t)
	out, _, code := runCtl(t, f.srv.URL, "list-units", "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list = %d %q", code, out)
	}
}

func countRequests(f *fakeFleet, prefix string) int {
	n := 0
	for _, r := range f.requestLog() {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}
