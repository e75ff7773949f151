package hostnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/node"
)

// ResolvConf is where Setup writes DNS servers (node.ResolvConf).
const ResolvConf = node.ResolvConf

// NetUp is one configured address, for the console marker
// "flotilla: network up <iface> <addr>".
type NetUp struct {
	Iface string
	Addr  string // CIDR
}

// LinkInfo is what interface selection needs to know of a link.
type LinkInfo struct {
	Name, MAC, Type string
}

// Ethernet reports whether the link is a physical (or virtio) ethernet.
func (l LinkInfo) Ethernet() bool {
	return l.Type == "device" && l.Name != "lo" && len(l.MAC) == 17
}

// Plan matches the config's interfaces to links by name or MAC; with
// none configured, every ethernet gets DHCP. A configured interface that
// matches no link is an error naming it.
func Plan(links []LinkInfo, cfg bootconfig.Network) (map[string]bootconfig.Interface, error) {
	plan := map[string]bootconfig.Interface{}
	if len(cfg.Interfaces) == 0 {
		for _, l := range links {
			if l.Ethernet() {
				plan[l.Name] = bootconfig.Interface{Name: l.Name, DHCP: true}
			}
		}
		return plan, nil
	}
	for i, ifc := range cfg.Interfaces {
		found := ""
		for _, l := range links {
			if (ifc.Name != "" && l.Name == ifc.Name) || (ifc.MAC != "" && strings.EqualFold(l.MAC, ifc.MAC)) {
				found = l.Name
				break
			}
		}
		if found == "" {
			var have []string
			for _, l := range links {
				have = append(have, l.Name+"("+l.MAC+")")
			}
			return nil, fmt.Errorf("config network.interfaces[%d] (name %q, mac %q) matches no link; links: %s", i, ifc.Name, ifc.MAC, strings.Join(have, " "))
		}
		plan[found] = ifc
	}
	return plan, nil
}

// ResolvConfText is resolv.conf for servers; "" when there are none, since
// a resolv.conf naming a server nobody configured (8.8.8.8) would hide the
// missing configuration.
func ResolvConfText(servers []string) string {
	if len(servers) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("# written by flotilla init\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return b.String()
}

// Setup brings up loopback and the configured (or default) links:
// static addresses, MTU and gateway with netlink, DHCPv4 with a client per
// link (dhcp.go) that waits up to 30 s for the boot lease and then keeps
// leases alive (renew, rebind, rediscover) until ctx ends or the next
// Setup, which stops the previous call's clients first. It writes
// ResolvConf when there are DNS servers (the config's, else the boot
// leases'). A DHCP interface without a lease is logged, not fatal: the node
// may still be reachable on another, and its client keeps trying.
func Setup(ctx context.Context, cfg bootconfig.Network, logf func(string, ...any)) ([]NetUp, error) {
	stopDHCP()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return nil, fmt.Errorf("loopback up: %w", err)
	}
	all, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var infos []LinkInfo
	byName := map[string]netlink.Link{}
	for _, l := range all {
		a := l.Attrs()
		infos = append(infos, LinkInfo{Name: a.Name, MAC: a.HardwareAddr.String(), Type: l.Type()})
		byName[a.Name] = l
	}
	plan, err := Plan(infos, cfg)
	if err != nil {
		return nil, err
	}
	var ups []NetUp
	var dhcpLinks []netlink.Link
	for name, ifc := range plan {
		l := byName[name]
		if ifc.MTU > 0 {
			if err := netlink.LinkSetMTU(l, ifc.MTU); err != nil {
				return ups, fmt.Errorf("%s: set MTU %d: %w", name, ifc.MTU, err)
			}
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return ups, fmt.Errorf("%s: link up: %w", name, err)
		}
		if ifc.DHCP {
			dhcpLinks = append(dhcpLinks, l)
			continue
		}
		u, err := configureStatic(l, ifc)
		ups = append(ups, u...)
		if err != nil {
			return ups, err
		}
	}
	dns := cfg.DNS
	if len(dhcpLinks) > 0 {
		u, ddns := runDHCP(ctx, dhcpLinks, logf)
		ups = append(ups, u...)
		if len(dns) == 0 {
			dns = ddns
		}
	}
	if text := ResolvConfText(dns); text != "" {
		if err := os.WriteFile(ResolvConf, []byte(text), 0o644); err != nil {
			return ups, fmt.Errorf("write %s: %w", ResolvConf, err)
		}
	}
	return ups, nil
}

func configureStatic(l netlink.Link, ifc bootconfig.Interface) ([]NetUp, error) {
	name := l.Attrs().Name
	var ups []NetUp
	for _, a := range ifc.Addresses {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			return ups, fmt.Errorf("%s: address %q: %w", name, a, err)
		}
		if err := netlink.AddrReplace(l, addr); err != nil {
			return ups, fmt.Errorf("%s: add address %s: %w", name, a, err)
		}
		ups = append(ups, NetUp{Iface: name, Addr: addr.IPNet.String()})
	}
	if ifc.Gateway != "" {
		gw := net.ParseIP(ifc.Gateway)
		if gw == nil {
			return ups, fmt.Errorf("%s: gateway %q is not an IP address", name, ifc.Gateway)
		}
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}); err != nil {
			return ups, fmt.Errorf("%s: default route via %s: %w", name, gw, err)
		}
	}
	return ups, nil
}
