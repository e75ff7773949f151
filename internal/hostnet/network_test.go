package hostnet

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestPlanNetwork(t *testing.T) {
	links := []LinkInfo{
		{Name: "lo", Type: "device"},
		{Name: "eth0", MAC: "52:54:00:12:34:56", Type: "device"},
		{Name: "eth1", MAC: "52:54:00:12:34:57", Type: "device"},
		{Name: "flotilla0", MAC: "aa:bb:cc:dd:ee:ff", Type: "bridge"},
	}
	plan, err := Plan(links, bootconfig.Network{})
	if err != nil || len(plan) != 2 || !plan["eth0"].DHCP || !plan["eth1"].DHCP {
		t.Errorf("default plan = %+v, %v; want DHCP on eth0 and eth1 only", plan, err)
	}
	plan, err = Plan(links, bootconfig.Network{Interfaces: []bootconfig.Interface{
		{MAC: "52:54:00:12:34:57", Addresses: []string{"10.77.0.2/24"}},
	}})
	if err != nil || len(plan) != 1 || plan["eth1"].Addresses[0] != "10.77.0.2/24" {
		t.Errorf("by-MAC plan = %+v, %v", plan, err)
	}
	_, err = Plan(links, bootconfig.Network{Interfaces: []bootconfig.Interface{{Name: "eth9", DHCP: true}}})
	if err == nil || !strings.Contains(err.Error(), "network.interfaces[0]") || !strings.Contains(err.Error(), "eth0(52:54:00:12:34:56)") {
		t.Errorf("missing link error = %v", err)
	}
}

func TestResolvConfText(t *testing.T) {
	if got := ResolvConfText(nil); got != "" {
		t.Errorf("no servers: %q, want nothing written", got)
	}
	if got := ResolvConfText([]string{"10.0.2.3"}); !strings.Contains(got, "nameserver 10.0.2.3\n") || strings.Contains(got, "8.8.8.8") {
		t.Errorf("ResolvConfText = %q", got)
	}
}

// TestSetupNetworkStatic configures one end of a veth pair in a fresh network
// namespace: loopback up, the static address, MTU and default route.
func TestSetupNetworkStatic(t *testing.T) {
	testenv.NeedRoot(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the thread dies with its namespace: never unlocked
		ns, err := netns.New()
		if err != nil {
			t.Errorf("netns: %v", err)
			return
		}
		defer ns.Close()
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fl0"}, PeerName: "fl1"}); err != nil {
			t.Errorf("add veth: %v", err)
			return
		}
		ups, err := Setup(context.Background(), bootconfig.Network{Interfaces: []bootconfig.Interface{
			{Name: "fl0", Addresses: []string{"10.77.0.5/24"}, Gateway: "10.77.0.1", MTU: 1400},
		}}, t.Logf)
		if err != nil {
			t.Errorf("Setup: %v", err)
			return
		}
		if len(ups) != 1 || ups[0] != (NetUp{Iface: "fl0", Addr: "10.77.0.5/24"}) {
			t.Errorf("ups = %+v", ups)
		}
		l, _ := netlink.LinkByName("fl0")
		if l.Attrs().MTU != 1400 {
			t.Errorf("MTU = %d", l.Attrs().MTU)
		}
		lo, _ := netlink.LinkByName("lo")
		if lo.Attrs().Flags&1 == 0 { // net.FlagUp
			t.Error("loopback is down")
		}
		routes, _ := netlink.RouteList(l, netlink.FAMILY_V4)
		var gw bool
		for _, r := range routes {
			if r.Gw != nil && r.Gw.String() == "10.77.0.1" {
				gw = true
			}
		}
		if !gw {
			t.Errorf("no default route via 10.77.0.1: %+v", routes)
		}
	}()
	<-done
}
