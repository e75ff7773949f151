package clustertest

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
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

	// An idle cluster network writes nothing: the subnet leases are
	// renewed (no revision), routes follow by watch.
	rev := func() int64 {
		cli, err := c.EtcdClient(c.Nodes...)
		must(t, err)
		defer cli.Close()
		resp, err := cli.Get(context.Background(), "health")
		must(t, err)
		return resp.Header.Revision
	}
	r0 := rev()
	time.Sleep(3 * time.Second)
	if r1 := rev(); r1 != r0 {
		t.Errorf("etcd revision went from %d to %d in 3 idle seconds", r0, r1)
	}

	// Routes follow the registry by watch: a subnet claimed elsewhere is
	// routed on n1 within a second, and gone within a second of its release.
	cli, err := c.EtcdClient(c.Nodes...)
	must(t, err)
	defer cli.Close()
	reg := registry.New(cli)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lease, err := reg.Grant(ctx, time.Hour)
	must(t, err)
	ghost := registry.SubnetRecord{Machine: "ghost", PublicIP: l2.HostIP, VtepMAC: "02:00:00:00:00:99"}
	start := time.Now()
	must(t, reg.ClaimSubnet(ctx, "10.88.200.0/24", ghost, lease))
	waitRoute(t, l2.Nodes[0].Netns, "10.88.200.0/24", true, time.Second)
	t.Logf("%s: a new peer routed on n1 %v after its claim", backend, time.Since(start))
	if backend == "vxlan" {
		out, _ := In(l2.Nodes[0].Netns, "bridge", "fdb", "show", "dev", "flotilla.1")
		if !strings.Contains(out, "02:00:00:00:00:99 dst "+l2.HostIP) {
			t.Errorf("no FDB entry for the new peer on n1:\n%s", out)
		}
	}
	must(t, reg.ReleaseSubnet(ctx, "10.88.200.0/24", "ghost"))
	waitRoute(t, l2.Nodes[0].Netns, "10.88.200.0/24", false, time.Second)

	// A machine keeps its subnet across a restart (the data dir remembers
	// it; its claim is still there), and the peers route it as before.
	n2 := c.Nodes[1]
	before := subnetOf(subs, n2.MachineID())
	c.Kill(n2)
	c.Start(n2)
	c.WaitMachines(3, 60*time.Second)
	if after := subnetOf(Subnets(t, c), n2.MachineID()); after != before || before == "" {
		t.Fatalf("n2's subnet was %q before its restart, %q after", before, after)
	}
	waitRoute(t, l2.Nodes[0].Netns, before, true, 5*time.Second)
}

func subnetOf(subs map[string]registry.SubnetRecord, machine string) string {
	for s, r := range subs {
		if r.Machine == machine {
			return s
		}
	}
	return ""
}

// waitRoute waits up to d for a route to dst in netns to appear (or go).
func waitRoute(t *testing.T, netns, dst string, present bool, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, err := In(netns, "ip", "route", "show", dst)
		if err != nil {
			t.Fatalf("ip route in %s: %v: %s", netns, err, out)
		}
		if strings.Contains(out, dst) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("route to %s in %s: present=%v after %v, want %v:\n%s", dst, netns, !present, d, present, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
