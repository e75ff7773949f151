package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/version"
)

// rawDo sends a request with exactly the given headers.
func rawDo(t *testing.T, method, u, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestFleetAPIShape: the answers fleet's clients rely on beyond the unit
// CRUD, each as fleet's api package gave it.
func TestFleetAPIShape(t *testing.T) {
	e := newEnv(t)
	e.mustPut("shape.service", schema.Unit{Options: service(), DesiredState: "inactive"}, "", http.StatusCreated)
	unitBody := js(schema.Unit{DesiredState: "loaded"})
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		header http.Header
		code   int
		msg    string // substring of the error message; "" with an error code means empty
	}{
		{"root GET", "GET", "/", "", nil, 405, ""},
		{"root POST", "POST", "/", "", nil, 405, ""},
		{"API root", "GET", "/fleet/v1", "", nil, 405, ""},
		{"API root slash", "DELETE", "/fleet/v1/", "", nil, 404, "no such endpoint"},
		{"unknown path", "GET", "/fleet/v1/nothing", "", nil, 404, "no such endpoint"},
		{"discovery", "GET", "/fleet/v1/discovery", "", nil, 200, ""},
		{"PUT without Content-Type", "PUT", unitPath("shape.service"), unitBody, http.Header{}, 415, "expected 1 Content-Type, got 0"},
		{"PUT as text", "PUT", unitPath("shape.service"), unitBody, http.Header{"Content-Type": {"text/plain"}}, 415, "only acceptable Content-Type is application/json"},
		{"PUT two types", "PUT", unitPath("shape.service"), unitBody, http.Header{"Content-Type": {"application/json", "text/plain"}}, 415, "expected 1 Content-Type, got 2"},
		{"PUT json charset", "PUT", unitPath("shape.service"), unitBody, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, 204, ""},
		{"two page tokens", "GET", "/fleet/v1/units?nextPageToken=a&nextPageToken=b", "", nil, 400, "too many values for page token"},
		{"empty page token", "GET", "/fleet/v1/units?nextPageToken=", "", nil, 400, "nextPageToken is empty"},
		{"empty page token, state", "GET", "/fleet/v1/state?nextPageToken=", "", nil, 400, "nextPageToken is empty"},
		{"empty page token, machines", "GET", "/fleet/v1/machines?nextPageToken=", "", nil, 400, "nextPageToken is empty"},
		{"MachineID+Conflicts", "PUT", unitPath("mc.service"), js(schema.Unit{Options: service("X-Fleet|MachineID=abc", "X-Fleet|Conflicts=web*"), DesiredState: "launched"}), jsonCT, 400, "unit mc.service: [X-Fleet] MachineID cannot be used with Conflicts"},
		{"Conflicts+Replaces", "PUT", unitPath("cr.service"), js(schema.Unit{Options: service("X-Fleet|Replaces=old.service", "X-Fleet|Conflicts=web*"), DesiredState: "launched"}), jsonCT, 400, "unit cr.service: [X-Fleet] Conflicts cannot be used with Replaces"},
		{"MachineID+Replaces allowed", "PUT", unitPath("mr.service"), js(schema.Unit{Options: service("X-Fleet|MachineID=abc", "X-Fleet|Replaces=old.service"), DesiredState: "inactive"}), jsonCT, 201, ""},
		{"patch bad op", "PATCH", "/fleet/v1/machines", `[{"op":"move","path":"/m1/metadata/a","value":"x"}]`, nil, 400, "invalid op: expect add, remove, or replace"},
		{"patch bad path", "PATCH", "/fleet/v1/machines", `[{"op":"add","path":"/m1/meta/a","value":"x"}]`, nil, 400, "machine metadata path invalid"},
		{"patch bad key", "PATCH", "/fleet/v1/machines", `[{"op":"add","path":"/m1/metadata/a b","value":"x"}]`, nil, 400, "machine metadata path invalid"},
		{"patch no value", "PATCH", "/fleet/v1/machines", `[{"op":"add","path":"/m1/metadata/a"}]`, nil, 400, "add and replace require a value"},
		{"patch not array", "PATCH", "/fleet/v1/machines", `{"op":"add"}`, nil, 400, "JSON array"},
		{"patch value a number", "PATCH", "/fleet/v1/machines", `[{"op":"add","path":"/m1/metadata/a","value":3}]`, nil, 400, "value must be a string"},
		{"state of nothing", "GET", "/fleet/v1/state/none.service", "", nil, 404, "unit state does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.header
			if h == nil {
				h = http.Header{}
			}
			before := e.keys()
			resp, body := rawDo(t, c.method, e.srv.URL+c.path, c.body, h)
			if got := resp.Header.Get("Server"); got != "fleetd/"+version.Version {
				t.Errorf("Server header %q", got)
			}
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.code, body)
			}
			if c.code >= 400 {
				if msg := errorMessage(t, c.code, body); (c.msg == "" && msg != "") || !strings.Contains(msg, c.msg) {
					t.Errorf("message %q, want %q", msg, c.msg)
				}
				if after := e.keys(); !slices.Equal(before, after) {
					t.Errorf("a refused request changed the registry")
				}
			}
		})
	}

	// The discovery document is a Google discovery document for fleet:v1.
	code, body := e.do("GET", "/fleet/v1/discovery", "")
	var disco struct {
		Kind      string                     `json:"kind"`
		ID        string                     `json:"id"`
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Resources map[string]json.RawMessage `json:"resources"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &disco) != nil || disco.Kind != "discovery#restDescription" || disco.ID != "fleet:v1" ||
		disco.Schemas["Unit"] == nil || disco.Resources["Units"] == nil || disco.Resources["Machines"] == nil {
		t.Errorf("discovery: %d %.200s", code, body)
	}
}

// TestPutReplacesAsFleet: a PUT with other options replaces the unit, as
// fleet's API did; our client's ?replace=false still refuses.
func TestPutReplacesAsFleet(t *testing.T) {
	e := newEnv(t)
	const name = "swap.service"
	v1, v2 := service("Unit|Description=one"), service("Unit|Description=two")
	e.mustPut(name, schema.Unit{Options: v1, DesiredState: "launched"}, "", http.StatusCreated)
	if code, body := e.put(name, schema.Unit{Options: v2, DesiredState: "launched"}, "?replace=false"); code != http.StatusConflict {
		t.Fatalf("replace=false: %d %s", code, body)
	}
	e.mustPut(name, schema.Unit{Options: v2, DesiredState: "launched"}, "", http.StatusNoContent)
	if u, _ := e.getUnit(name); u == nil || u.Hash != unit.FromOptions(v2).Hash() || u.DesiredState != "launched" {
		t.Errorf("after fleet-style PUT: %+v", u)
	}
}

// TestStateOfOneUnit: GET /fleet/v1/state/{name}, fleet's single UnitState.
func TestStateOfOneUnit(t *testing.T) {
	e := newEnv(t)
	e.mustPut("one.service", schema.Unit{Options: service(), DesiredState: "launched"}, "", http.StatusCreated)
	e.mustPut("away.service", schema.Unit{Options: service(), DesiredState: "launched"}, "", http.StatusCreated)
	lease := e.lease()
	for _, m := range []string{"m2", "m1"} {
		if err := e.reg.WriteStates(e.ctx(), m, lease, []registry.StateWrite{{Unit: "one.service", Record: &registry.StateRecord{
			Unit: "one.service", Machine: m, Applied: "launched", State: unit.State{Load: "loaded", Active: "active", Sub: "running"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.reg.Apply(e.ctx(), always, []registry.Change{registry.SetUnplaced("away.service", "no machine has region=eu")}); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *schema.UnitState {
		code, body := e.do("GET", "/fleet/v1/state/"+name, "")
		var s schema.UnitState
		if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
			t.Fatalf("state/%s: %d %s", name, code, body)
		}
		return &s
	}
	if s := get("one.service"); s.Name != "one.service" || s.MachineID != "m1" || s.SystemdActiveState != "active" {
		t.Errorf("one.service: %+v", s)
	}
	if s := get("away.service"); s.MachineID != "" || !strings.Contains(s.Reason, "region=eu") {
		t.Errorf("away.service: %+v", s)
	}
}

// TestPatchMachineMetadata: fleet's JSON-patch metadata edits show in the
// machine list over the machine's own, are kept for machines not (yet)
// registered, and "remove" takes back only what the API set.
func TestPatchMachineMetadata(t *testing.T) {
	e := newEnv(t)
	if err := e.reg.RegisterMachine(e.ctx(), &registry.MachineRecord{ID: "m-a", PublicIP: "10.0.0.1", Metadata: map[string]string{"region": "eu", "disk": "ssd"}}, e.lease()); err != nil {
		t.Fatal(err)
	}
	patch := func(ops string) {
		t.Helper()
		resp, body := rawDo(t, "PATCH", e.srv.URL+"/fleet/v1/machines", ops, http.Header{})
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("PATCH %s: %d %q %s", ops, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	meta := func(id string) map[string]string {
		t.Helper()
		code, body := e.do("GET", "/fleet/v1/machines", "")
		var p schema.MachinePage
		if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("machines: %d %s", code, body)
		}
		for _, m := range p.Machines {
			if m.ID == id {
				return m.Metadata
			}
		}
		return nil
	}
	// fleet's functional tests send the value as {"value": "..."}.
	patch(`[{"op":"add","path":"/m-a/metadata/role","Value":{"value":"web"}},{"op":"replace","path":"/m-a/metadata/region","value":"us"},` +
		`{"op":"add","path":"/m-later/metadata/role","value":"db"},{"op":"add","path":"/m-a/metadata/tmp","value":"1"},{"op":"remove","path":"/m-a/metadata/tmp"}]`)
	if got := meta("m-a"); got["role"] != "web" || got["region"] != "us" || got["disk"] != "ssd" || len(got) != 3 {
		t.Errorf("m-a metadata after PATCH: %v", got)
	}
	// The engine's snapshot sees the same.
	snap, err := e.reg.Snapshot(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Machines["m-a"].Metadata; got["role"] != "web" || got["region"] != "us" {
		t.Errorf("snapshot metadata: %v", got)
	}
	// A machine registering later gets what was set for it.
	if err := e.reg.RegisterMachine(e.ctx(), &registry.MachineRecord{ID: "m-later", PublicIP: "10.0.0.2"}, e.lease()); err != nil {
		t.Fatal(err)
	}
	if got := meta("m-later"); got["role"] != "db" {
		t.Errorf("m-later metadata: %v", got)
	}
	// Removing the API's region brings back the machine's own.
	patch(`[{"op":"remove","path":"/m-a/metadata/region"}]`)
	if got := meta("m-a"); got["region"] != "eu" || got["role"] != "web" {
		t.Errorf("m-a after remove: %v", got)
	}
}
