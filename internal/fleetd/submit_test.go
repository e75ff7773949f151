package fleetd

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/client"
)

// fakeAPI answers the two calls submitUnits makes, over real HTTP.
type fakeAPI struct {
	mu    sync.Mutex
	units map[string]*schema.Unit
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := strings.TrimPrefix(r.URL.Path, "/fleet/v1/units/")
	switch r.Method {
	case http.MethodGet:
		u := f.units[name]
		if u == nil {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 404, "message": "unit does not exist"}})
			return
		}
		json.NewEncoder(w).Encode(u)
	case http.MethodPut:
		var u schema.Unit
		json.NewDecoder(r.Body).Decode(&u)
		f.units[name] = &u
		w.WriteHeader(http.StatusCreated)
	}
}

func TestSubmitUnitsRules(t *testing.T) {
	api := &fakeAPI{units: map[string]*schema.Unit{"old.service": {Name: "old.service", DesiredState: "inactive"}}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	units := []bootconfig.Unit{
		{Name: "web.service", Contents: "[Service]\nExecStart=/bin/sleep 1000\n"},
		{Name: "old.service", Contents: "[Service]\nExecStart=/bin/true\n"},
		{Name: "later.service", Contents: "[Service]\nExecStart=/bin/true\n", Start: &no},
	}
	done, err := submitUnits(context.Background(), c, units)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(done, []string{"web.service", "later.service"}) {
		t.Errorf("submitted %q", done)
	}
	if u := api.units["web.service"]; u == nil || u.DesiredState != "launched" || len(u.Options) != 1 || u.Options[0].Value != "/bin/sleep 1000" {
		t.Errorf("web.service = %+v", u)
	}
	if api.units["later.service"].DesiredState != "inactive" || api.units["old.service"].DesiredState != "inactive" {
		t.Errorf("later/old = %+v %+v", api.units["later.service"], api.units["old.service"])
	}
}
