package clusternet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// inNetns runs fn on a thread in a new network namespace holding a
// link "under0" with 192.0.2.10/24 (MTU 1400) and 10.88.5.1/24.
func inNetns(t *testing.T, fn func()) {
	testenv.NeedRoot(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		if _, err := netns.New(); err != nil {
			t.Errorf("new netns: %v", err)
			return
		}
		// A veth: this kernel has no dummy links.
		d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "under0", MTU: 1400}, PeerName: "under1"}
		if err := netlink.LinkAdd(d); err != nil {
			t.Errorf("veth: %v", err)
			return
		}
		for _, a := range []string{"192.0.2.10/24", "10.88.5.1/24"} {
			addr, _ := netlink.ParseAddr(a)
			if err := netlink.AddrAdd(d, addr); err != nil {
				t.Errorf("addr %s: %v", a, err)
				return
			}
		}
		_ = netlink.LinkSetUp(d)
		fn()
	}()
	<-done
}

// TestJoin claims subnets on a real etcd in a namespace of its own: bad
// input fails naming the flag and leaves no claim, lease or device; a
// good join sets up vxlan with the underlay's MTU less 50, and Leave
// removes it all.
func TestJoin(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plan16, _ := ParsePlan("10.88.0.0/16", 24)
	base := Config{Plan: plan16, Backend: BackendVXLAN, Machine: "m1", PublicIP: "192.0.2.10", DataDir: t.TempDir()}
	inNetns(t, func() {
		left := func(what string) {
			t.Helper()
			subs, _, err := reg.Subnets(ctx)
			if err != nil || len(subs) != 0 {
				t.Errorf("%s: subnets left %v, %v", what, subs, err)
			}
			if _, err := netlink.LinkByName(VXLANDevice); err == nil {
				t.Errorf("%s: %s left behind", what, VXLANDevice)
			}
			leases, err := node.Client.Leases(ctx)
			if err != nil || len(leases.Leases) != 0 {
				t.Errorf("%s: leases left %v, %v", what, leases, err)
			}
		}
		for _, tc := range []struct {
			name string
			edit func(*Config)
			err  string
		}{
			{"subnet collides with host", func(c *Config) { c.Want = netip.MustParsePrefix("10.88.5.0/24") }, "--bridge-subnet 10.88.5.0/24 collides with 10.88.5.0/24 on this host"},
			{"CIDR holds the host's address", func(c *Config) { c.Plan, _ = ParsePlan("192.0.0.0/16", 24) }, "--cluster-cidr 192.0.0.0/16 holds this machine's own address 192.0.2.10"},
			{"CIDR too small", func(c *Config) { c.Plan, _ = ParsePlan("10.88.4.0/23", 24) }, "--cluster-cidr 10.88.4.0/23 has room for 2 subnets of /24"},
			{"unknown backend", func(c *Config) { c.Backend = "udp" }, "--network-backend \"udp\""},
		} {
			cfg := base
			cfg.DataDir = t.TempDir()
			tc.edit(&cfg)
			// The network config is the first machine's: start afresh.
			_, _ = node.Client.Delete(ctx, registry.Prefix, clientv3WithPrefix())
			if tc.name == "CIDR too small" { // 10.88.5.0/24 is the host's
				must(t, reg.ClaimSubnet(ctx, "10.88.4.0/24", registry.SubnetRecord{Machine: "other"}, 0))
			}
			n, err := Join(ctx, reg, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: Join = %v, %v; want an error with %q", tc.name, n, err, tc.err)
			}
			if tc.name == "CIDR too small" && !errors.Is(err, ErrFull) {
				t.Errorf("CIDR too small: %v, want ErrFull", err)
			}
			_ = reg.ReleaseSubnet(ctx, "10.88.4.0/24", "other")
			left(tc.name)
		}

		_, _ = node.Client.Delete(ctx, registry.Prefix, clientv3WithPrefix())
		n, err := Join(ctx, reg, base)
		if err != nil {
			t.Fatalf("Join: %v", err)
		}
		if n.Subnet != netip.MustParsePrefix("10.88.0.0/24") || n.MTU != 1350 {
			t.Errorf("joined %s MTU %d, want 10.88.0.0/24 (first free) and 1400 - 50", n.Subnet, n.MTU)
		}
		l, err := netlink.LinkByName(VXLANDevice)
		if err != nil || l.Attrs().MTU != 1350 || l.Attrs().HardwareAddr.String() != VtepMAC("m1").String() {
			t.Fatalf("%s: %v %v", VXLANDevice, l, err)
		}
		// A peer appears: neighbour, FDB entry and route; the peer goes: all go.
		peer := Peer{Subnet: netip.MustParsePrefix("10.88.9.0/24"), Machine: "m2", PublicIP: netip.MustParseAddr("192.0.2.11"), VtepMAC: VtepMAC("m2")}
		if err := program(n.h, BackendVXLAN, n.vx, []Peer{peer}); err != nil {
			t.Fatal(err)
		}
		routes, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
		neigh, _ := netlink.NeighList(n.vx, netlink.FAMILY_V4)
		fdb, _ := netlink.NeighList(n.vx, 7 /* AF_BRIDGE */)
		if len(routes) != 1 || routes[0].Dst.String() != "10.88.9.0/24" || !routes[0].Gw.Equal(net.ParseIP("10.88.9.0")) {
			t.Errorf("routes %v", routes)
		}
		if !hasNeigh(neigh, "10.88.9.0", VtepMAC("m2")) || !hasNeigh(fdb, "192.0.2.11", VtepMAC("m2")) {
			t.Errorf("neighbours %v, FDB %v", neigh, fdb)
		}
		if err := program(n.h, BackendVXLAN, n.vx, nil); err != nil {
			t.Fatal(err)
		}
		routes, _ = netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
		neigh, _ = netlink.NeighList(n.vx, netlink.FAMILY_V4)
		fdb, _ = netlink.NeighList(n.vx, 7)
		if len(routes) != 0 || hasNeigh(neigh, "10.88.9.0", VtepMAC("m2")) || hasNeigh(fdb, "192.0.2.11", VtepMAC("m2")) {
			t.Errorf("after the peer left: routes %v, neighbours %v, FDB %v", routes, neigh, fdb)
		}

		// A restart asks for the remembered subnet, even with a lower one free.
		n.Leave()
		must(t, reg.ClaimSubnet(ctx, "10.88.0.0/24", registry.SubnetRecord{Machine: "other"}, 0))
		n, err = Join(ctx, reg, base)
		if err != nil || n.Subnet != netip.MustParsePrefix("10.88.1.0/24") {
			t.Fatalf("second Join: %v, %v; want 10.88.1.0/24", n, err)
		}
		must(t, reg.ReleaseSubnet(ctx, "10.88.0.0/24", "other"))
		n.Leave()
		n, err = Join(ctx, reg, base)
		if err != nil || n.Subnet != netip.MustParsePrefix("10.88.1.0/24") {
			t.Fatalf("third Join: %v, %v; want the remembered 10.88.1.0/24", n, err)
		}
		n.Leave()
		left("Leave")
	})
}

func hasNeigh(ns []netlink.Neigh, ip string, mac net.HardwareAddr) bool {
	for _, n := range ns {
		if n.IP.Equal(net.ParseIP(ip)) && n.HardwareAddr.String() == mac.String() {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func clientv3WithPrefix() clientv3.OpOption { return clientv3.WithPrefix() }

// TestRunReclaims: Run renews the subnet lease; when the lease is gone
// anyway (revoked here, as an expiry after a long cut-off would), it
// claims the same subnet again on a new lease. A machine given another
// cluster network than the cluster's is refused, naming the flags.
func TestRunReclaims(t *testing.T) {
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plan, _ := ParsePlan("10.88.0.0/16", 24)
	cfg := Config{Plan: plan, Backend: BackendHostGW, Machine: "m1", PublicIP: "192.0.2.10", LeaseTTL: 3 * time.Second, Logf: t.Logf}
	inNetns(t, func() {
		n, err := Join(ctx, reg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Leave()
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { n.Run(rctx); close(done) }()
		defer func() { rcancel(); <-done }()

		// Renewals keep a 3 s lease alive well past 3 s.
		time.Sleep(4 * time.Second)
		subs, _, err := reg.Subnets(ctx)
		if err != nil || subs["10.88.0.0/24"].Machine != "m1" {
			t.Fatalf("after 4 s: %v, %v; want m1's claim kept alive", subs, err)
		}
		n.mu.Lock()
		lease := n.lease
		n.mu.Unlock()
		must(t, reg.Revoke(ctx, lease))
		deadline := time.Now().Add(5 * time.Second)
		for {
			subs, _, err = reg.Subnets(ctx)
			must(t, err)
			if subs["10.88.0.0/24"].Machine == "m1" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("subnet not claimed again 5 s after its lease was revoked")
			}
			time.Sleep(100 * time.Millisecond)
		}

		other := cfg
		other.Machine, other.Backend = "m2", BackendVXLAN
		if _, err := Join(ctx, reg, other); err == nil || !strings.Contains(err.Error(), "--network-backend host-gw (set by its first machine)") {
			t.Errorf("Join with another backend: %v, want a refusal naming the cluster's", err)
		}
	})
}
