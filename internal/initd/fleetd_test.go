package initd

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
	"github.com/flotilla-os/flotilla/internal/fleetd"
)

func TestFleetdArgs(t *testing.T) {
	tls := &TLSFiles{CA: "/run/flotilla/tls/ca.pem", Cert: "/run/flotilla/tls/node.pem", Key: "/run/flotilla/tls/node-key.pem"}
	member := &bootconfig.Config{
		Metadata: map[string]string{"zone": "b", "role": "web"},
		Cluster: bootconfig.Cluster{Role: "member", PeerURL: "https://10.77.0.1:2380", ClientURL: "https://10.77.0.1:2379",
			InitialCluster: "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380"},
		Network: bootconfig.Network{Interfaces: []bootconfig.Interface{{Name: "eth0", Addresses: []string{"10.77.0.1/24"}}}},
	}
	for _, tc := range []struct {
		name string
		cfg  *bootconfig.Config
		ip   string
		tls  *TLSFiles
		want string
	}{
		// No plaintext etcd or TCP API (issue 17): fleetd's lone-node
		// defaults, https with node-local certificates, and the socket.
		{"lone node", nil, "", nil,
			"/usr/bin/fleetd --name n0 --data-dir /var/lib/fleetd --unit-manager unix:/run/flotilla/units.sock"},
		{"lone node with TLS", nil, "", tls,
			"/usr/bin/fleetd --name n0 --data-dir /var/lib/fleetd --api-listen 0.0.0.0:7700 --unit-manager unix:/run/flotilla/units.sock --tls-cert /run/flotilla/tls/node.pem --tls-key /run/flotilla/tls/node-key.pem --tls-ca /run/flotilla/tls/ca.pem --etcd-peer-url https://127.0.0.1:2380 --etcd-client-url https://127.0.0.1:2379"},
		{"member with TLS", member, FirstStaticIP(member), tls,
			"/usr/bin/fleetd --name n0 --data-dir /var/lib/fleetd --api-listen 0.0.0.0:7700 --unit-manager unix:/run/flotilla/units.sock --metadata role=web,zone=b --tls-cert /run/flotilla/tls/node.pem --tls-key /run/flotilla/tls/node-key.pem --tls-ca /run/flotilla/tls/ca.pem --etcd-peer-url https://10.77.0.1:2380 --etcd-client-url https://10.77.0.1:2379 --etcd-initial-cluster n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380 --public-ip 10.77.0.1"},
		{"client", &bootconfig.Config{Cluster: bootconfig.Cluster{Role: "client", Endpoints: []string{"https://a:2379", "https://b:2379"}}}, "10.0.2.15", tls,
			"/usr/bin/fleetd --name n0 --data-dir /var/lib/fleetd --api-listen 0.0.0.0:7700 --unit-manager unix:/run/flotilla/units.sock --tls-cert /run/flotilla/tls/node.pem --tls-key /run/flotilla/tls/node-key.pem --tls-ca /run/flotilla/tls/ca.pem --etcd-endpoints https://a:2379,https://b:2379 --public-ip 10.0.2.15"},
	} {
		got := strings.Join(FleetdArgs(tc.cfg, "n0", "/var", tc.ip, tc.tls), " ")
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestFleetdArgsParse: what init passes, fleetd's own flag parser accepts
// (all but --unit-manager unix:, which fleetd gains with the remote
// manager), and it makes no plaintext etcd: without TLS, fleetd's lone
// member gets https with node-local certificates.
func TestFleetdArgsParse(t *testing.T) {
	cfg := &bootconfig.Config{Metadata: map[string]string{"a": "1"}}
	args := FleetdArgs(cfg, "n0", t.TempDir(), "10.0.2.15", nil)
	for i := range args {
		if strings.HasPrefix(args[i], "http://") || strings.Contains(args[i], "=http://") {
			t.Errorf("init passes plaintext etcd %s to fleetd", args[i])
		}
	}
	var keep []string
	for i := 1; i < len(args); i += 2 {
		if args[i] == "--unit-manager" && strings.HasPrefix(args[i+1], "unix:") {
			if _, err := fleetd.ParseFlags(args[i:i+2], new(strings.Builder)); err == nil {
				continue // fleetd knows it now: keep it in the full parse below
			}
			t.Logf("fleetd does not take --unit-manager %s yet; leaving it out", args[i+1])
			continue
		}
		keep = append(keep, args[i], args[i+1])
	}
	c, err := fleetd.ParseFlags(keep, new(strings.Builder))
	if err != nil {
		t.Fatalf("fleetd.ParseFlags(%q): %v", keep, err)
	}
	if c.Name != "n0" || c.Metadata["a"] != "1" || c.PublicIP != "10.0.2.15" || c.Etcd.PeerURL != "https://127.0.0.1:2380" || !c.LocalTLS || c.APIListen != "" {
		t.Errorf("fleetd parsed %+v", c)
	}
}

// fakeAPI answers the two calls SubmitUnits makes, over real HTTP.
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

func TestSubmitUnits(t *testing.T) {
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
	done, err := SubmitUnits(context.Background(), c, units)
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
