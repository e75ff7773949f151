package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// TestCordonDrain: cordon, drain and uncordon store the mark and answer the
// machine's state; an unknown machine is a 404 naming it, with nothing
// written.
func TestCordonDrain(t *testing.T) {
	e := newEnv(t)
	lease := e.lease()
	for _, id := range []string{"m-a", "m-b"} {
		if err := e.reg.RegisterMachine(e.ctx(), &registry.MachineRecord{ID: id}, lease); err != nil {
			t.Fatal(err)
		}
	}
	call := func(method, verb, id string, want int) schema.MachineDrain {
		t.Helper()
		code, body := e.do(method, "/fleet/v1/machines/"+id+"/"+verb, "")
		if code != want {
			t.Fatalf("%s %s %s: %d %s, want %d", method, verb, id, code, body, want)
		}
		var d schema.MachineDrain
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &d); err != nil {
				t.Fatal(err)
			}
		} else if msg := errorMessage(t, code, body); !strings.Contains(msg, "machine "+id+" is not in the cluster") {
			t.Fatalf("%s %s: message %q does not name the machine", verb, id, msg)
		}
		return d
	}
	stateOf := func(id string) string {
		t.Helper()
		code, body := e.do(http.MethodGet, "/fleet/v1/machines", "")
		var p schema.MachinePage
		if code != http.StatusOK || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("machines: %d %s", code, body)
		}
		for _, m := range p.Machines {
			if m.ID == id {
				return m.State
			}
		}
		t.Fatalf("machine %s not listed", id)
		return ""
	}

	before := e.keys()
	for _, verb := range []string{"cordon", "drain", "uncordon"} {
		call(http.MethodPost, verb, "m-nope", http.StatusNotFound)
	}
	call(http.MethodGet, "drain", "m-nope", http.StatusNotFound)
	if after := e.keys(); !slices.Equal(before, after) {
		t.Fatalf("a refused request changed the registry: %v -> %v", before, after)
	}

	if d := call(http.MethodPost, "cordon", "m-a", http.StatusOK); d.State != registry.MachineCordoned {
		t.Errorf("cordon: state %q", d.State)
	}
	if s := stateOf("m-a"); s != registry.MachineCordoned {
		t.Errorf("listed state %q after cordon", s)
	}
	if s := stateOf("m-b"); s != "" {
		t.Errorf("m-b listed as %q", s)
	}
	// Nothing placed there: the drain is over as soon as it starts.
	if d := call(http.MethodPost, "drain", "m-a", http.StatusOK); d.State != registry.MachineDrained {
		t.Errorf("drain of an empty machine: state %q", d.State)
	}
	// A cordon does not undo a drain.
	if d := call(http.MethodPost, "cordon", "m-a", http.StatusOK); d.State != registry.MachineDrained {
		t.Errorf("cordon after drain: state %q", d.State)
	}
	if d := call(http.MethodPost, "uncordon", "m-a", http.StatusOK); d.State != "" {
		t.Errorf("uncordon: state %q", d.State)
	}
	if s := stateOf("m-a"); s != "" {
		t.Errorf("listed state %q after uncordon", s)
	}
}
