package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/rollout"
)

// TestRolloutAPI: bad rollouts are refused with a message naming what is
// wrong, and change no key; a good one replaces the template and each
// placed instance's file and records one item per instance.
func TestRolloutAPI(t *testing.T) {
	e := newEnv(t)
	e.mustPut("web@.service", schema.Unit{Options: service(), DesiredState: "inactive"}, "", http.StatusCreated)
	e.mustPut("web@1.service", schema.Unit{DesiredState: "launched"}, "", http.StatusCreated)
	e.mustPut("web@2.service", schema.Unit{DesiredState: "launched"}, "", http.StatusCreated)
	for _, n := range []string{"web@1.service", "web@2.service"} {
		u, _, err := e.reg.Unit(e.ctx(), n)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.reg.Apply(e.ctx(), always, []registry.Change{registry.PutPlacement(&registry.Placement{Unit: n, Machine: localMachine, Target: "launched", Hash: u.Hash, Options: u.Options})})
		if err != nil {
			t.Fatal(err)
		}
	}
	newFile := service("Service|Environment=REV=2")
	body := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	zero := 0
	before := e.keys()
	for _, tc := range []struct {
		name string
		req  schema.RolloutRequest
		code int
		want string
	}{
		{"unknown unit", schema.RolloutRequest{Units: []*schema.Unit{{Name: "nope.service", Options: newFile}}}, http.StatusNotFound, "unit nope.service not found"},
		{"max-unavailable 0", schema.RolloutRequest{Units: []*schema.Unit{{Name: "web@.service", Options: newFile}}, MaxUnavailable: &zero}, http.StatusBadRequest, "maxUnavailable 0"},
		{"unknown hash", schema.RolloutRequest{Rollback: "web@1.service", To: "deadbeef00"}, http.StatusNotFound, "no kept revision deadbeef00"},
		{"nothing earlier", schema.RolloutRequest{Rollback: "web@1.service"}, http.StatusConflict, "no earlier revision"},
		{"same file", schema.RolloutRequest{Units: []*schema.Unit{{Name: "web@.service", Options: service()}}}, http.StatusConflict, "nothing to roll out"},
		{"bad file", schema.RolloutRequest{Units: []*schema.Unit{{Name: "web@.service", Options: opts("Service|Type=bogus", "Service|ExecStart=/bin/true")}}}, http.StatusBadRequest, "Type"},
		{"bad duration", schema.RolloutRequest{Units: []*schema.Unit{{Name: "web@.service", Options: newFile}}, MinHealthy: "soon"}, http.StatusBadRequest, "minHealthy"},
	} {
		code, got := e.do(http.MethodPost, "/fleet/v1/rollouts", body(tc.req))
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %d %s; want %d saying %q", tc.name, code, got, tc.code, tc.want)
		}
	}
	if after := e.keys(); !slices.Equal(before, after) {
		t.Fatalf("bad rollouts changed the registry:\nbefore %v\nafter  %v", before, after)
	}

	code, got := e.do(http.MethodPost, "/fleet/v1/rollouts", body(schema.RolloutRequest{Units: []*schema.Unit{{Name: "web@.service", Options: newFile}}}))
	if code != http.StatusCreated {
		t.Fatalf("rollout: %d %s", code, got)
	}
	var ro schema.Rollout
	if err := json.Unmarshal([]byte(got), &ro); err != nil {
		t.Fatal(err)
	}
	if len(ro.Units) != 3 || len(ro.Items) != 2 || ro.State != rollout.Running || ro.MaxUnavailable != 1 {
		t.Fatalf("rollout %+v: want 3 units (template + 2 instances), 2 items, running, 1 at a time", ro)
	}
	code, got = e.do(http.MethodPost, "/fleet/v1/rollouts", body(schema.RolloutRequest{Units: []*schema.Unit{{Name: "web@.service", Options: service("Service|Environment=REV=3")}}}))
	if code != http.StatusConflict || !strings.Contains(got, "already in progress") {
		t.Errorf("second rollout while one runs: %d %s", code, got)
	}
	for _, step := range []struct{ verb, state string }{{"pause", rollout.Paused}, {"resume", rollout.Running}, {"abort", rollout.Aborting}} {
		code, got := e.do(http.MethodPost, "/fleet/v1/rollouts/web@.service/"+step.verb, "")
		if code != http.StatusOK || !strings.Contains(got, `"state":"`+step.state+`"`) {
			t.Errorf("%s: %d %s; want state %s", step.verb, code, got, step.state)
		}
	}
	if code, got := e.do(http.MethodGet, "/fleet/v1/units/web@1.service/revisions", ""); code != http.StatusOK || strings.Count(got, `"hash"`) != 2 {
		t.Errorf("revisions of web@1.service: %d %s; want 2", code, got)
	}
}
