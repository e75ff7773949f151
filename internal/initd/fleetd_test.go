package initd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/fleetd"
	"github.com/flotilla-os/flotilla/internal/node"
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
		{"lone node with units", &bootconfig.Config{Units: []bootconfig.Unit{{Name: "web.service", Contents: "[Service]\nExecStart=/bin/true\n"}}}, "", nil,
			"/usr/bin/fleetd --name n0 --data-dir /var/lib/fleetd --unit-manager unix:/run/flotilla/units.sock --submit-units /run/flotilla/config.json"},
		{"cluster network", &bootconfig.Config{Cluster: bootconfig.Cluster{Network: bootconfig.ClusterNetwork{CIDR: "10.100.0.0/20", SubnetLen: 26, Backend: "host-gw"}}}, "", nil,
			"/usr/bin/fleetd --name n0 --data-dir /var/lib/fleetd --unit-manager unix:/run/flotilla/units.sock --cluster-cidr 10.100.0.0/20 --subnet-len 26 --network-backend host-gw"},
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
	cfg := &bootconfig.Config{Metadata: map[string]string{"a": "1"}, Units: []bootconfig.Unit{{Name: "web.service"}},
		Cluster: bootconfig.Cluster{Network: bootconfig.ClusterNetwork{CIDR: "10.100.0.0/20", SubnetLen: 26, Backend: "host-gw"}}}
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
	if c.Name != "n0" || c.Metadata["a"] != "1" || c.PublicIP != "10.0.2.15" || c.Etcd.PeerURL != "https://127.0.0.1:2380" || !c.LocalTLS || c.APIListen != "" || c.SubmitUnits != node.ConfigPath ||
		c.ClusterCIDR != "10.100.0.0/20" || c.SubnetLen != 26 || c.NetworkBackend != "host-gw" {
		t.Errorf("fleetd parsed %+v", c)
	}
}

// TestWaitFleetdConnects: without READY=1, init learns fleetd is up when its
// API socket accepts a connection (no API call), and times out naming the
// socket while nothing listens.
func TestWaitFleetdConnects(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "fleetd.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	err := WaitFleetd(ctx, sock, nil)
	cancel()
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Fatalf("WaitFleetd with nothing listening = %v, want a timeout naming %s", err, sock)
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitFleetd(ctx, sock, nil); err != nil {
		t.Fatalf("WaitFleetd with a listener: %v", err)
	}
}
