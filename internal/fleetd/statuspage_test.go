package fleetd

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
)

// TestStatusPageBesideAPI: GET / and /ui/ are the status page, which
// reads through the API; every other request, POST / included, reaches
// the API handler unchanged.
func TestStatusPageBesideAPI(t *testing.T) {
	var apiSaw []string
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiSaw = append(apiSaw, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /fleet/v1/machines":
			_ = json.NewEncoder(w).Encode(schema.MachinePage{Machines: []*schema.Machine{{ID: "m1", Name: "node-one"}}})
		case "GET /fleet/v1/units":
			_ = json.NewEncoder(w).Encode(schema.UnitPage{Units: []*schema.Unit{{Name: "web.service", DesiredState: "launched"}}})
		case "GET /fleet/v1/state":
			_ = json.NewEncoder(w).Encode(schema.UnitStatePage{})
		default:
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, `{"api":true}`)
		}
	})
	h := withStatusPage(apiHandler)
	do := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("")))
		return rec.Code, rec.Body.String()
	}
	code, body := do("GET", "/")
	if code != http.StatusOK || !strings.Contains(body, "node-one") || !strings.Contains(body, "web.service") {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	apiSaw = nil
	for _, r := range []string{
		"POST /", "PUT /", "GET /health", "GET /metrics", "GET /fleet/v1", "GET /fleet/v1/", "GET /fleet/v1/discovery",
		"GET /fleet/v1/units/web.service", "PUT /fleet/v1/units/web.service", "DELETE /fleet/v1/units/web.service",
		"GET /fleet/v1/units/web.service/journal", "PATCH /fleet/v1/machines", "GET /fleet/v1/rollouts", "GET /nothing",
	} {
		method, path, _ := strings.Cut(r, " ")
		if code, body := do(method, path); code != http.StatusTeapot || body != `{"api":true}` {
			t.Errorf("%s: %d %q: not the API's answer", r, code, body)
		}
	}
	if len(apiSaw) != 14 {
		t.Errorf("the API saw %d requests, want 14: %q", len(apiSaw), apiSaw)
	}
	if code, body := do("GET", "/ui/units/web.service/log"); code != http.StatusOK || !strings.Contains(body, "log-error") {
		t.Errorf("GET /ui/units/web.service/log: %d %q", code, body)
	}
}
