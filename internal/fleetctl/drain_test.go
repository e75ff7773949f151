package fleetctl

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// drainFake answers list-machines and the drain endpoints: a drain
// reports left units that shrink by one each status poll.
type drainFake struct {
	mu    sync.Mutex
	left  []string
	state string
	posts []string
}

func (d *drainFake) serve(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /fleet/v1/machines", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		reply(w, schema.MachinePage{Machines: []*schema.Machine{{ID: "aaaa1111"}, {ID: "aaaa2222"}, {ID: "bbbb3333", State: d.state}}})
	})
	status := func(w http.ResponseWriter) {
		out := schema.MachineDrain{Machine: "bbbb3333", State: d.state, Left: d.left}
		if d.state == "draining" && len(d.left) == 0 {
			out.State = "drained"
		}
		reply(w, out)
	}
	mux.HandleFunc("POST /fleet/v1/machines/{id}/{verb}", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.posts = append(d.posts, r.PathValue("verb")+" "+r.PathValue("id"))
		switch r.PathValue("verb") {
		case "cordon":
			d.state = "cordoned"
		case "drain":
			d.state = "draining"
		case "uncordon":
			d.state = ""
		}
		status(w)
	})
	mux.HandleFunc("GET /fleet/v1/machines/{id}/drain", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.left) > 0 && d.left[0] != "stuck.service" {
			d.left = d.left[1:]
		}
		status(w)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestDrainCommands(t *testing.T) {
	d := &drainFake{left: []string{"a.service", "b.service"}}
	srv := d.serve(t)

	// A unique prefix resolves; an ambiguous or unknown one sends nothing.
	if _, errOut, code := runCtl(t, srv.URL, "cordon", "aaaa"); code != 1 || !strings.Contains(errOut, "machine aaaa matches 2 machines (aaaa1111, aaaa2222)") {
		t.Errorf("ambiguous prefix: %d %q", code, errOut)
	}
	if _, errOut, code := runCtl(t, srv.URL, "drain", "zzzz"); code != 1 || !strings.Contains(errOut, "machine zzzz is not in the cluster: nothing changed") {
		t.Errorf("unknown machine: %d %q", code, errOut)
	}
	if _, errOut, code := runCtl(t, srv.URL, "drain"); code != 1 || !strings.Contains(errOut, "drain takes one MACHINE") {
		t.Errorf("no machine: %d %q", code, errOut)
	}
	if len(d.posts) != 0 {
		t.Fatalf("refused commands still sent %v", d.posts)
	}

	out, _, code := runCtl(t, srv.URL, "cordon", "bbbb")
	if code != 0 || !strings.Contains(out, "Machine bbbb3333 cordoned: no new units are placed there") {
		t.Errorf("cordon: %d %q", code, out)
	}
	if out, _, _ := runCtl(t, srv.URL, "list-machines", "--no-legend"); !strings.Contains(out, "cordoned") {
		t.Errorf("list-machines does not show the cordon by default:\n%s", out)
	}
	if out, _, _ := runCtl(t, srv.URL, "list-machines", "--no-legend", "--fields", "machine"); strings.Contains(out, "cordoned") {
		t.Errorf("list-machines --fields machine shows the state:\n%s", out)
	}
	out, _, code = runCtl(t, srv.URL, "drain", "bbbb3333")
	if code != 0 || !strings.Contains(out, "draining: 2 units left: a.service, b.service") || !strings.Contains(out, "Machine bbbb3333 drained in") {
		t.Errorf("drain: %d %q", code, out)
	}

	d.left = []string{"stuck.service"}
	_, errOut, code := runCtl(t, srv.URL, "drain", "--timeout", "50ms", "bbbb3333")
	if code != 1 || !strings.Contains(errOut, "machine bbbb3333 not drained after 50ms: 1 unit left: stuck.service (the drain goes on") {
		t.Errorf("drain --timeout: %d %q", code, errOut)
	}
	// A machine that is down may still be uncordoned by its full ID.
	if out, _, code := runCtl(t, srv.URL, "uncordon", "gone1234"); code != 0 || !strings.Contains(out, "gone1234 active (uncordoned)") {
		t.Errorf("uncordon of a machine not listed: %d %q", code, out)
	}
	if out, _, code := runCtl(t, srv.URL, "drain", "--no-block", "bbbb3333"); code != 0 || !strings.Contains(out, "Machine bbbb3333 draining: 1 unit left: stuck.service") {
		t.Errorf("drain --no-block: %d %q", code, out)
	}
	want := []string{"cordon bbbb3333", "drain bbbb3333", "drain bbbb3333", "uncordon gone1234", "drain bbbb3333"}
	if strings.Join(d.posts, ",") != strings.Join(want, ",") {
		t.Errorf("requests %v, want %v", d.posts, want)
	}
}
