package updater

import (
	"reflect"
	"testing"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/etcdclient"
)

// TestEtcdTarget: the updater reaches etcd as fleetd serves it, over
// mutual TLS only: a lone member without a bundle uses fleetd's node-local
// certificates (issue 17: no plaintext etcd on loopback).
func TestEtcdTarget(t *testing.T) {
	local := etcdclient.TLS{CertFile: "/var/lib/fleetd/tls/node.pem", KeyFile: "/var/lib/fleetd/tls/node-key.pem", CAFile: "/var/lib/fleetd/tls/ca.pem"}
	bundle := etcdclient.TLS{CertFile: "/run/flotilla/tls/node.pem", KeyFile: "/run/flotilla/tls/node-key.pem", CAFile: "/run/flotilla/tls/ca.pem"}
	for _, tc := range []struct {
		name string
		cfg  *bootconfig.Config
		eps  []string
		tls  etcdclient.TLS
	}{
		{"lone member", &bootconfig.Config{}, []string{"https://127.0.0.1:2379"}, local},
		{"member with TLS", &bootconfig.Config{TLS: &bootconfig.TLS{}, Cluster: bootconfig.Cluster{ClientURL: "https://10.0.0.1:2379", PeerURL: "https://10.0.0.1:2380"}}, []string{"https://10.0.0.1:2379"}, bundle},
		{"client", &bootconfig.Config{TLS: &bootconfig.TLS{}, Cluster: bootconfig.Cluster{Role: "client", Endpoints: []string{"https://a:2379"}}}, []string{"https://a:2379"}, bundle},
	} {
		eps, files := etcdTarget(tc.cfg)
		if !reflect.DeepEqual(eps, tc.eps) || files != tc.tls {
			t.Errorf("%s: %v %+v, want %v %+v", tc.name, eps, files, tc.eps, tc.tls)
		}
	}
}
