package clustertest

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestClusterNetwork runs three fleetd nodes, each in its own network
// namespace on one L2 segment, with each backend: every machine claims its
// own subnet of the cluster CIDR, and a container on n1 fetches a page from
// a busybox httpd container on n2 by its container address, which sees
// the client's own container address (no masquerade inside the cluster).
func TestClusterNetwork(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	testenv.NeedCommand(t, "nsenter")
	for _, backend := range []string{"host-gw", "vxlan"} {
		t.Run(backend, func(t *testing.T) { testClusterNetwork(t, backend) })
	}
}

func testClusterNetwork(t *testing.T, backend string) {
	c, l2, ref := NetCluster(t, 3, backend)

	// Three machines, three distinct subnets of the cluster CIDR.
	subs := Subnets(t, c)
	if len(subs) != 3 {
		t.Fatalf("subnets %v, want one per machine", subs)
	}
	cidr := netip.MustParsePrefix("10.88.0.0/16")
	seen := map[string]bool{}
	for s, rec := range subs {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Bits() != 24 || !cidr.Contains(p.Addr()) || seen[rec.Machine] {
			t.Fatalf("subnet %s of %s: want one /24 of %s per machine: %v", s, rec.Machine, cidr, subs)
		}
		seen[rec.Machine] = true
	}
	if backend == "vxlan" {
		out, _ := In(l2.Nodes[0].Netns, "ip", "link", "show", "flotilla0")
		if !strings.Contains(out, "mtu 1450") {
			t.Errorf("vxlan: the bridge's MTU should be the underlay's 1500 - 50:\n%s", out)
		}
	}

	c.WriteUnit("web.service", fmt.Sprintf("[Container]\nImage=%s\nExec=httpd -f -v -p 80 -h /www\n[X-Fleet]\nMachineMetadata=node=n2\n", ref))
	c.MustFleetctl("start", "web.service")
	webIP := WaitContainerIP(t, l2.Nodes[1].Netns, "web.service")

	c.WriteUnit("client.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sh -c 'until timeout 3 wget -q -O - http://%s/; do sleep 0.2; done; echo fetched; exec sleep 1000'\n[X-Fleet]\nMachineMetadata=node=n1\n", ref, webIP))
	c.MustFleetctl("start", "client.service")
	log := waitJournal(t, c, "client.service", "fetched")
	if !strings.Contains(log, "hello from flotilla") {
		t.Fatalf("client on n1 did not get web's page from %s on n2:\n%s", webIP, log)
	}
	clientIP := WaitContainerIP(t, l2.Nodes[0].Netns, "client.service")
	// httpd -v logs the peer: the client's container address, not n1's.
	waitJournal(t, c, "web.service", clientIP)
}

// NetCluster starts n fleetd members on one L2 segment with the cluster
// network on backend, each with --metadata node=nI, serving a busybox
// image (BusyboxAll) from the host; it returns the image reference.
func NetCluster(t *testing.T, n int, backend string) (*Cluster, *L2, string) {
	t.Helper()
	l2 := NewL2(t, n)
	host := ServeImages(t, l2.HostIP+":0", map[string]v1.Image{"test/busybox:1": BusyboxAll(t)})
	var md []string
	for i := range n {
		md = append(md, fmt.Sprintf("node=n%d", i+1))
	}
	c := New(t, n, 0, md...)
	c.EnableTLS(l2.IPs()...)
	l2.Place(c)
	for _, nd := range c.Nodes {
		nd.Extra = []string{"--bridge-subnet", "auto", "--network-backend", backend, "--insecure-registry", host}
	}
	c.StartAll()
	return c, l2, host + "/test/busybox:1"
}

// Subnets reads the cluster's subnet claims from etcd.
func Subnets(t *testing.T, c *Cluster) map[string]registry.SubnetRecord {
	t.Helper()
	cli, err := c.EtcdClient(c.Nodes...)
	must(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subs, _, err := registry.New(cli).Subnets(ctx)
	must(t, err)
	return subs
}

// WaitContainerIP waits for a unit's container on the node in netns and
// returns its address.
func WaitContainerIP(t *testing.T, netns, unit string) string {
	t.Helper()
	var ip string
	if err := testutil.Eventually(60*time.Second, func() error {
		if ip = ContainerIP(t, netns, unit); ip == "" {
			return fmt.Errorf("no container of %s in %s", unit, netns)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ip
}
