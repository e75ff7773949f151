package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestReservationLargerThanAnyMachine: a unit reserving more than any
// machine has in all is refused, naming the key it came from, and nothing
// is written; one that fits some machine (even if not free now) is stored.
func TestReservationLargerThanAnyMachine(t *testing.T) {
	e := newEnv(t)
	// No machine yet: nothing to judge by, so it is accepted.
	e.mustPut("early.service", schema.Unit{Options: service("X-Fleet|ReserveMemory=1T"), DesiredState: "inactive"}, "", http.StatusCreated)
	lease := e.lease()
	for _, m := range []*registry.MachineRecord{
		{ID: "m-small", Name: "small", Capacity: unit.Resources{Memory: 2 << 30, MilliCPU: 2000}},
		{ID: "m-big", Name: "big", Capacity: unit.Resources{Memory: 8 << 30, MilliCPU: 4000}},
	} {
		if err := e.reg.RegisterMachine(e.ctx(), m, lease); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		desc, name string
		opts       []string
		want       []string
	}{
		{"x-fleet memory", "huge.service", []string{"X-Fleet|ReserveMemory=16G"},
			[]string{"unit huge.service: [X-Fleet] ReserveMemory: reserves 16 GiB memory", "the largest is 8 GiB on big", "--capacity-memory"}},
		{"service MemoryMax", "capped.service", []string{"Container|Image=busybox", "Service|MemoryMax=9G"},
			[]string{"[Service] MemoryMax: reserves 9 GiB memory"}},
		{"x-fleet cpu", "cpu.service", []string{"X-Fleet|ReserveCPU=4.5"},
			[]string{"[X-Fleet] ReserveCPU: reserves 4.5 CPUs, more than", "the largest is 4 CPUs on big"}},
	} {
		t.Run(c.desc, func(t *testing.T) {
			before := e.keys()
			o := service(c.opts...)
			if strings.HasPrefix(c.opts[0], "Container|") {
				o = opts(c.opts...)
			}
			code, body := e.do(http.MethodPut, unitPath(c.name), js(schema.Unit{Options: o, DesiredState: "launched"}))
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, body)
			}
			msg := errorMessage(t, code, body)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if after := e.keys(); !slices.Equal(before, after) {
				t.Errorf("refused request changed the registry:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	e.mustPut("fits.service", schema.Unit{Options: service("X-Fleet|ReserveMemory=8G", "X-Fleet|ReserveCPU=4"), DesiredState: "launched"}, "", http.StatusCreated)
}
