package imagebuild

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/pki"
)

// The cluster network of an N-node build: node K has ClusterIP(K) on its
// second NIC (MAC NodeMAC(K, 1)); its first NIC (NodeMAC(K, 0)) takes DHCP,
// which under QEMU's user network is 10.0.2.15 with host forwards.
const (
	ClusterSubnet = "10.77.0.0/24"
	APIPort       = node.APIPort
	maxMembers    = 3
)

// ClusterIP is node k's (1-based) address on the cluster network.
func ClusterIP(k int) string { return fmt.Sprintf("10.77.0.%d", k) }

// NodeMAC is the MAC address of node k's NIC nic (0: DHCP uplink, 1: cluster).
func NodeMAC(k, nic int) string { return fmt.Sprintf("52:54:00:%02x:00:%02x", 0x10+nic, k) }

// NodeName is node k's hostname and etcd member name.
func NodeName(k int) string { return fmt.Sprintf("node-%d", k) }

// nodeConfigs returns the first-boot config of each node: index 0 is the
// one-node config of DIR/disk.img, 1..n the nodes of an n-node cluster.
// Certificates come from the CA in DIR/pki; the client bundle goes to
// DIR/client.
func nodeConfigs(out string, n int, update *bootconfig.Update) ([]*bootconfig.Config, error) {
	ca, err := pki.LoadOrCreateCA(filepath.Join(out, "pki"), "flotilla cluster CA")
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		return nil, err
	}
	clientDir := filepath.Join(out, "client")
	client, err := ca.IssueOnce(filepath.Join(out, "pki"), "client", []net.IP{net.ParseIP("127.0.0.1")}, []string{"fleetctl"})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(clientDir, 0o755); err != nil {
		return nil, err
	}
	for src, dst := range map[string]string{ca.CertFile: "ca.pem", client.CertFile: "client.pem", client.KeyFile: "client-key.pem"} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(clientDir, dst), b, 0o600); err != nil {
			return nil, err
		}
	}
	bundle := func(name string, ips ...string) (*bootconfig.TLS, error) {
		all := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.2.15")}
		for _, ip := range ips {
			all = append(all, net.ParseIP(ip))
		}
		p, err := ca.IssueOnce(filepath.Join(out, "pki"), name, all, []string{name, "localhost"})
		if err != nil {
			return nil, err
		}
		cert, err := os.ReadFile(p.CertFile)
		if err != nil {
			return nil, err
		}
		key, err := os.ReadFile(p.KeyFile)
		if err != nil {
			return nil, err
		}
		return &bootconfig.TLS{CA: string(caPEM), Cert: string(cert), Key: string(key)}, nil
	}

	single, err := bundle("flotilla")
	if err != nil {
		return nil, err
	}
	configs := []*bootconfig.Config{{
		Version:  1,
		Hostname: "flotilla",
		Cluster: bootconfig.Cluster{Role: "member", Name: "flotilla",
			PeerURL: node.EtcdPeerURL, ClientURL: node.EtcdClientURL,
			InitialCluster: "flotilla=" + node.EtcdPeerURL},
		TLS:    single,
		Update: update,
	}}
	if n <= 1 {
		return configs, nil
	}
	members := min(n, maxMembers)
	var initial, endpoints []string
	for k := 1; k <= members; k++ {
		initial = append(initial, fmt.Sprintf("%s=https://%s:2380", NodeName(k), ClusterIP(k)))
		endpoints = append(endpoints, fmt.Sprintf("https://%s:2379", ClusterIP(k)))
	}
	for k := 1; k <= n; k++ {
		tlsb, err := bundle(NodeName(k), ClusterIP(k))
		if err != nil {
			return nil, err
		}
		c := &bootconfig.Config{
			Version:  1,
			Hostname: NodeName(k),
			Network: bootconfig.Network{Interfaces: []bootconfig.Interface{
				{MAC: NodeMAC(k, 0), DHCP: true},
				{MAC: NodeMAC(k, 1), Addresses: []string{ClusterIP(k) + "/24"}},
			}},
			Metadata: map[string]string{"node": fmt.Sprint(k)},
			TLS:      tlsb,
			Update:   update,
		}
		if k <= members {
			c.Cluster = bootconfig.Cluster{Role: "member", Name: NodeName(k),
				PeerURL:        fmt.Sprintf("https://%s:2380", ClusterIP(k)),
				ClientURL:      fmt.Sprintf("https://%s:2379", ClusterIP(k)),
				InitialCluster: strings.Join(initial, ",")}
		} else {
			c.Cluster = bootconfig.Cluster{Role: "client", Endpoints: endpoints}
		}
		configs = append(configs, c)
	}
	return configs, nil
}
