package statuspage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/statuspage"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// evil is a unit name and file content a browser must never run.
const evil = `<script>alert("x")</script>`

type fakeSource struct {
	machines []*schema.Machine
	units    []*schema.Unit
	states   []*schema.UnitState
	logs     map[string]string
	gotLines int
}

func (f *fakeSource) Machines(context.Context) (statuspage.Listing[*schema.Machine], error) {
	return statuspage.Listing[*schema.Machine]{Rows: f.machines}, nil
}

func (f *fakeSource) Units(context.Context) (statuspage.Listing[*schema.Unit], error) {
	return statuspage.Listing[*schema.Unit]{Rows: f.units}, nil
}

func (f *fakeSource) States(_ context.Context, name string) (statuspage.Listing[*schema.UnitState], error) {
	var out []*schema.UnitState
	for _, s := range f.states {
		if name == "" || s.Name == name {
			out = append(out, s)
		}
	}
	return statuspage.Listing[*schema.UnitState]{Rows: out}, nil
}

func (f *fakeSource) Unit(_ context.Context, name string) (*schema.Unit, error) {
	for _, u := range f.units {
		if u.Name == name {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: unit %s", statuspage.ErrNotFound, name)
}

func (f *fakeSource) Log(_ context.Context, name string, lines int) (string, error) {
	f.gotLines = lines
	l, ok := f.logs[name]
	if !ok {
		return "", fmt.Errorf("%w: unit %s is not placed on any machine, so it has no log", statuspage.ErrNotFound, name)
	}
	return l, nil
}

func cluster() *fakeSource {
	return &fakeSource{
		machines: []*schema.Machine{
			{ID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Name: "n1", PrimaryIP: "10.0.0.1", APIURL: "https://10.0.0.1:9740",
				Metadata: map[string]string{"role": "db"}, Etcd: "leader", Version: "v0.13.0", Update: "idle"},
			{ID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", Name: "n2", PrimaryIP: "10.0.0.2", Etcd: "client", Version: "v0.13.0", State: "cordoned"},
		},
		units: []*schema.Unit{
			{Name: "web.service", DesiredState: "launched", MachineID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				Options: []unit.Option{{Section: "Service", Name: "ExecStart", Value: "/bin/echo " + evil}}},
			{Name: "broken.service", DesiredState: "launched"},
			{Name: "idle.service", DesiredState: "inactive"},
			{Name: evil + ".service", DesiredState: "launched"},
		},
		states: []*schema.UnitState{
			{Name: "web.service", MachineID: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", SystemdLoadState: "loaded",
				SystemdActiveState: "active", SystemdSubState: "running", Health: "healthy"},
			{Name: "broken.service", MachineID: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", SystemdLoadState: "loaded",
				SystemdActiveState: "failed", SystemdSubState: "failed", Reason: "exit-code 3"},
		},
		logs: map[string]string{"web.service": "hello from web\n" + evil + "\n"},
	}
}

func get(t *testing.T, h http.Handler, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func mustContain(t *testing.T, where, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", where, w, body)
		}
	}
}

// TestOverviewListsMachinesAndUnits: GET / shows every machine with its
// address, metadata, etcd role, version, update and drain state, and every
// unit with its machine, state, health and failure reason, escaped.
func TestOverviewListsMachinesAndUnits(t *testing.T) {
	h := statuspage.New(cluster())
	code, hdr, body := get(t, h, "/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	mustContain(t, "GET /", body,
		`<meta name="viewport"`, `data-live="/ui/live"`, `/ui/static/live.js`,
		"n1", "10.0.0.1", "https://10.0.0.1:9740", "role=db", "leader", "v0.13.0", "idle", "cordoned", "client",
		`href="/ui/units/web.service"`, "active", "running", "healthy",
		`href="/ui/units/broken.service"`, "failed", "exit-code 3",
		"idle.service", "inactive",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;.service",
		`href="/ui/units/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E.service"`)
	if strings.Contains(body, evil) {
		t.Errorf("GET / holds the unescaped unit name %s", evil)
	}
	// The live fragment is the same tables without the page around them.
	code, _, frag := get(t, h, "/ui/live")
	if code != http.StatusOK || strings.Contains(frag, "<html") {
		t.Fatalf("GET /ui/live: %d\n%s", code, frag)
	}
	mustContain(t, "GET /ui/live", frag, `id="units"`, `id="machines"`, "exit-code 3", "role=db")
}

// TestUnitDetail: a unit's page shows its unit file and its log's tail,
// escaped; ?lines= is passed on and bounded.
func TestUnitDetail(t *testing.T) {
	src := cluster()
	h := statuspage.New(src)
	code, _, body := get(t, h, "/ui/units/web.service?lines=20")
	if code != http.StatusOK {
		t.Fatalf("%d\n%s", code, body)
	}
	mustContain(t, "unit page", body,
		"[Service]\nExecStart=/bin/echo &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;",
		"hello from web\n&lt;script&gt;", "healthy", `data-live="/ui/units/web.service/log?lines=20"`)
	if strings.Contains(body, evil) {
		t.Errorf("unit page holds %s unescaped", evil)
	}
	if src.gotLines != 20 {
		t.Errorf("log asked for %d lines, want 20", src.gotLines)
	}
	code, _, frag := get(t, h, "/ui/units/web.service/log")
	if code != http.StatusOK || !strings.HasPrefix(frag, `<pre id="log-tail">hello from web`) {
		t.Errorf("log fragment: %d %q", code, frag)
	}
	if src.gotLines != 50 {
		t.Errorf("default tail is %d lines, want 50", src.gotLines)
	}
	// A unit that runs nowhere has a page that says why it has no log.
	code, _, body = get(t, h, "/ui/units/idle.service")
	if code != http.StatusOK {
		t.Fatalf("idle unit: %d\n%s", code, body)
	}
	mustContain(t, "idle unit page", body, `id="log-error"`, "is not placed on any machine")
	for _, q := range []string{"0", "501", "x"} {
		if code, _, body := get(t, h, "/ui/units/web.service?lines="+q); code != http.StatusBadRequest || !strings.Contains(body, "want 1..500") {
			t.Errorf("lines=%s: %d\n%s", q, code, body)
		}
	}
}

// TestUnknownUnit: a unit the cluster does not know is a 404 page naming
// it (escaped) and saying how to see the submitted units.
func TestUnknownUnit(t *testing.T) {
	h := statuspage.New(cluster())
	code, _, body := get(t, h, "/ui/units/"+url.PathEscape("nope<b>.service"))
	if code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", code)
	}
	mustContain(t, "404 page", body, "unit nope&lt;b&gt;.service not found", "fleetctl list-unit-files")
	if code, _, body := get(t, h, "/ui/nothing"); code != http.StatusNotFound || !strings.Contains(body, "the status page is at /") {
		t.Errorf("GET /ui/nothing: %d\n%s", code, body)
	}
}

// TestStaticAssets: the stylesheet (with its phone-width layout) and the
// refresh script are served from the binary.
func TestStaticAssets(t *testing.T) {
	h := statuspage.New(cluster())
	code, hdr, css := get(t, h, "/ui/static/style.css")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/css") || !strings.Contains(css, "@media (max-width") {
		t.Errorf("style.css: %d %q", code, hdr.Get("Content-Type"))
	}
	code, _, js := get(t, h, "/ui/static/live.js")
	if code != http.StatusOK || !strings.Contains(js, "data-live") {
		t.Errorf("live.js: %d", code)
	}
}

// fakeAPI answers the fleet v1 paths FromAPI reads, recording the queries.
func fakeAPI(t *testing.T, queries *[]string) http.Handler {
	mux := http.NewServeMux()
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /fleet/v1/machines", func(w http.ResponseWriter, r *http.Request) {
		*queries = append(*queries, r.URL.String())
		js(w, schema.MachinePage{Machines: []*schema.Machine{{ID: "m1", Name: "n1"}}, NextPageToken: "more"})
	})
	mux.HandleFunc("GET /fleet/v1/units", func(w http.ResponseWriter, r *http.Request) {
		*queries = append(*queries, r.URL.String())
		js(w, schema.UnitPage{Units: []*schema.Unit{{Name: "a.service"}}})
	})
	mux.HandleFunc("GET /fleet/v1/state", func(w http.ResponseWriter, r *http.Request) {
		*queries = append(*queries, r.URL.String())
		js(w, schema.UnitStatePage{})
	})
	mux.HandleFunc("GET /fleet/v1/units/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		js(w, schema.Error{Error: schema.ErrorBody{Code: 404, Message: "unit " + r.PathValue("name") + " not found"}})
	})
	mux.HandleFunc("GET /fleet/v1/units/{name}/journal", func(w http.ResponseWriter, r *http.Request) {
		*queries = append(*queries, r.URL.String())
		io.WriteString(w, "line 1\nline 2\n")
	})
	return mux
}

// TestFromAPI: the API-backed source asks for one bounded page, reports
// that more rows exist, maps a 404 onto ErrNotFound with the API's
// message, and reads the journal without following it.
func TestFromAPI(t *testing.T) {
	var qs []string
	src := statuspage.FromAPI(fakeAPI(t, &qs))
	ctx := context.Background()
	ms, err := src.Machines(ctx)
	if err != nil || len(ms.Rows) != 1 || !ms.More {
		t.Errorf("Machines: %+v, %v", ms, err)
	}
	if _, err := src.States(ctx, "a.service"); err != nil {
		t.Error(err)
	}
	_, err = src.Unit(ctx, "x.service")
	if !errors.Is(err, statuspage.ErrNotFound) || !strings.Contains(err.Error(), "unit x.service not found") {
		t.Errorf("Unit: %v", err)
	}
	log, err := src.Log(ctx, "a.service", 7)
	if err != nil || log != "line 1\nline 2\n" {
		t.Errorf("Log: %q, %v", log, err)
	}
	want := []string{"/fleet/v1/machines?pageSize=1000", "/fleet/v1/state?pageSize=1000&unitName=a.service", "/fleet/v1/units/a.service/journal?lines=7"}
	if strings.Join(qs, " ") != strings.Join(want, " ") {
		t.Errorf("queries %q, want %q", qs, want)
	}
}
