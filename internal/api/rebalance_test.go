package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// TestRequestMove: a rebalance move is stored only for a unit placed on
// its from machine and a to machine of the cluster; bad moves are refused
// naming what is wrong, with nothing written.
func TestRequestMove(t *testing.T) {
	e := newEnv(t)
	lease := e.lease()
	for _, id := range []string{"m-a", "m-b"} {
		if err := e.reg.RegisterMachine(e.ctx(), &registry.MachineRecord{ID: id}, lease); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.reg.Apply(e.ctx(), always, []registry.Change{
		registry.PutPlacement(&registry.Placement{Unit: "app.service", Machine: "m-a", Target: registry.TargetLaunched}),
	}); err != nil {
		t.Fatal(err)
	}
	before := e.keys()
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"unit":"app.service","from":"m-a","to":"m-x"}`, http.StatusNotFound, "machine m-x is not in the cluster"},
		{`{"unit":"app.service","from":"m-b","to":"m-a"}`, http.StatusConflict, "not placed on machine m-b"},
		{`{"unit":"other.service","from":"m-a","to":"m-b"}`, http.StatusConflict, "unit other.service is not placed"},
		{`{"unit":"app.service","from":"m-a","to":"m-a"}`, http.StatusBadRequest, "two different machines"},
		{`{"unit":"app.service"}`, http.StatusBadRequest, "needs unit, from and to"},
		{`{"unit":"app.service","from":"m-a","to":"m-b","x":1}`, http.StatusBadRequest, "unknown field"},
	} {
		code, body := e.do(http.MethodPost, "/fleet/v1/rebalance/moves", tc.body)
		if code != tc.code || !strings.Contains(errorMessage(t, code, body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	if after := e.keys(); !slices.Equal(before, after) {
		t.Errorf("refused moves changed the registry:\nbefore %v\nafter  %v", before, after)
	}
	if code, body := e.do(http.MethodPost, "/fleet/v1/rebalance/moves", `{"unit":"app.service","from":"m-a","to":"m-b"}`); code != http.StatusAccepted {
		t.Fatalf("a good move: %d %s", code, body)
	}
	moves, err := e.reg.Moves(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if m := moves["app.service"]; m == nil || m.From != "m-a" || m.To != "m-b" {
		t.Errorf("stored move %+v, want app.service m-a → m-b", m)
	}
}
