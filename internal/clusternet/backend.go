//go:build linux

package clusternet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VXLAN device settings, flannel's defaults: VNI 1 on Linux's own port.
const (
	VXLANDevice   = "flotilla.1"
	VXLANID       = 1
	VXLANPort     = 8472
	vxlanOverhead = 50 // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
)

// RouteProtocol marks the routes this package adds (rtnetlink's protocol
// field), so stale ones are found without a state file. 0x46 is 'F'; it
// is unassigned in /etc/iproute2/rt_protos.
const RouteProtocol netlink.RouteProtocol = 0x46

// underlay finds the link holding ip and its MTU. A node whose address is
// on no link (a lone --dev node on loopback) gets 1500 and index 0.
func underlay(h *netlink.Handle, ip netip.Addr) (index, mtu int, err error) {
	links, err := h.LinkList()
	if err != nil {
		return 0, 0, fmt.Errorf("clusternet: list links: %w", err)
	}
	for _, l := range links {
		addrs, err := h.AddrList(l, unix.AF_INET)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if got, ok := netip.AddrFromSlice(a.IP.To4()); ok && got == ip {
				return l.Attrs().Index, l.Attrs().MTU, nil
			}
		}
	}
	return 0, 1500, nil
}

// HostNetworks are the IPv4 networks on the node's links, other than the
// ones this package and the bridge own: a subnet overlapping one would be
// unreachable or hijack the host's traffic.
func HostNetworks(h *netlink.Handle, bridge string) ([]netip.Prefix, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("clusternet: list links: %w", err)
	}
	var out []netip.Prefix
	for _, l := range links {
		if n := l.Attrs().Name; n == bridge || n == VXLANDevice {
			continue
		}
		addrs, err := h.AddrList(l, unix.AF_INET)
		if err != nil {
			return nil, fmt.Errorf("clusternet: addresses of %s: %w", l.Attrs().Name, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			if !ok || ip.IsLoopback() {
				continue
			}
			ones, _ := a.Mask.Size()
			out = append(out, netip.PrefixFrom(ip, ones).Masked())
		}
	}
	return out, nil
}

// ensureVXLAN creates (or checks) the node's VXLAN device on the underlay
// link, with its MAC, MTU and the subnet's .0/32, and brings it up.
func ensureVXLAN(h *netlink.Handle, subnet netip.Prefix, mac net.HardwareAddr, src netip.Addr, under, mtu int) (int, error) {
	want := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: VXLANDevice, MTU: mtu, HardwareAddr: mac},
		VxlanId:      VXLANID,
		VtepDevIndex: under,
		Port:         VXLANPort,
		Learning:     false,
	}
	if src.IsValid() && under != 0 {
		want.SrcAddr = net.IP(src.AsSlice())
	}
	l, err := h.LinkByName(VXLANDevice)
	if err == nil {
		v, ok := l.(*netlink.Vxlan)
		if !ok || v.VxlanId != VXLANID || v.Port != VXLANPort || v.VtepDevIndex != under || !v.SrcAddr.Equal(want.SrcAddr) {
			// Another address or link after a reboot: make it anew.
			if err := h.LinkDel(l); err != nil {
				return 0, fmt.Errorf("clusternet: replace %s: %w", VXLANDevice, err)
			}
			l = nil
		}
	}
	if l == nil || err != nil {
		if err := h.LinkAdd(want); err != nil && !errors.Is(err, os.ErrExist) {
			return 0, fmt.Errorf("clusternet: create VXLAN device %s: %w", VXLANDevice, err)
		}
		if l, err = h.LinkByName(VXLANDevice); err != nil {
			return 0, fmt.Errorf("clusternet: %s: %w", VXLANDevice, err)
		}
	}
	if err := h.LinkSetHardwareAddr(l, mac); err != nil {
		return 0, fmt.Errorf("clusternet: MAC of %s: %w", VXLANDevice, err)
	}
	if err := h.LinkSetMTU(l, mtu); err != nil {
		return 0, fmt.Errorf("clusternet: MTU %d on %s: %w", mtu, VXLANDevice, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(vtepAddr(subnet).AsSlice()), Mask: net.CIDRMask(32, 32)}}
	// Only our subnet's address: drop one from a former subnet.
	if old, err := h.AddrList(l, unix.AF_INET); err == nil {
		for _, a := range old {
			if !a.IP.Equal(addr.IP) {
				_ = h.AddrDel(l, &a)
			}
		}
	}
	if err := h.AddrReplace(l, addr); err != nil {
		return 0, fmt.Errorf("clusternet: address %s on %s: %w", addr.IPNet, VXLANDevice, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return 0, fmt.Errorf("clusternet: up %s: %w", VXLANDevice, err)
	}
	return l.Attrs().Index, nil
}

// program makes the kernel match peers: one route per peer (via its
// address for host-gw, via its VTEP over the device for vxlan) plus, for
// vxlan, a permanent neighbour (VTEP address → MAC) and FDB entry (MAC →
// peer address). What is ours and not wanted goes. Errors for one peer
// do not stop the others.
func program(h *netlink.Handle, backend string, vx int, peers []Peer) error {
	var errs []error
	want := map[netip.Prefix]bool{}
	for _, p := range peers {
		want[p.Subnet] = true
		dst := &net.IPNet{IP: net.IP(p.Subnet.Addr().AsSlice()), Mask: net.CIDRMask(p.Subnet.Bits(), 32)}
		r := &netlink.Route{Dst: dst, Protocol: RouteProtocol}
		if backend == BackendVXLAN {
			vt := net.IP(vtepAddr(p.Subnet).AsSlice())
			if err := h.NeighSet(&netlink.Neigh{LinkIndex: vx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
				Type: unix.RTN_UNICAST, IP: vt, HardwareAddr: p.VtepMAC}); err != nil {
				errs = append(errs, fmt.Errorf("neighbour %s of %s: %w", vt, p.Machine, err))
				continue
			}
			if err := h.NeighSet(&netlink.Neigh{LinkIndex: vx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
				Flags: netlink.NTF_SELF, IP: net.IP(p.PublicIP.AsSlice()), HardwareAddr: p.VtepMAC}); err != nil {
				errs = append(errs, fmt.Errorf("FDB entry %s of %s: %w", p.VtepMAC, p.Machine, err))
				continue
			}
			r.LinkIndex, r.Gw, r.Flags = vx, vt, int(netlink.FLAG_ONLINK)
		} else {
			r.Gw = net.IP(p.PublicIP.AsSlice())
		}
		if err := h.RouteReplace(r); err != nil {
			hint := ""
			if backend == BackendHostGW {
				hint = " (host-gw needs every machine on one L2 segment; use --network-backend vxlan otherwise)"
			}
			errs = append(errs, fmt.Errorf("route %s via %s (%s): %w%s", p.Subnet, r.Gw, p.Machine, err, hint))
		}
	}
	routes, err := h.RouteListFiltered(unix.AF_INET, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		errs = append(errs, fmt.Errorf("list routes: %w", err))
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		ip, _ := netip.AddrFromSlice(r.Dst.IP.To4())
		if !want[netip.PrefixFrom(ip, ones)] {
			if err := h.RouteDel(&r); err != nil {
				errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
			}
		}
	}
	if backend == BackendVXLAN && vx != 0 {
		errs = append(errs, pruneNeigh(h, vx, peers)...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("clusternet: %w", errors.Join(errs...))
	}
	return nil
}

// pruneNeigh deletes neighbour and FDB entries on the VXLAN device that no
// peer wants (a machine gone, or a new address after its reboot).
func pruneNeigh(h *netlink.Handle, vx int, peers []Peer) []error {
	vteps, fdb := map[string]bool{}, map[string]bool{}
	for _, p := range peers {
		vteps[vtepAddr(p.Subnet).String()] = true
		fdb[p.VtepMAC.String()+" "+p.PublicIP.String()] = true
	}
	var errs []error
	if ns, err := h.NeighList(vx, unix.AF_INET); err == nil {
		for _, n := range ns {
			if n.State&netlink.NUD_PERMANENT != 0 && !vteps[n.IP.String()] {
				if err := h.NeighDel(&n); err != nil {
					errs = append(errs, fmt.Errorf("delete neighbour %s: %w", n.IP, err))
				}
			}
		}
	}
	if ns, err := h.NeighList(vx, unix.AF_BRIDGE); err == nil {
		for _, n := range ns {
			if n.IP == nil || n.State&netlink.NUD_PERMANENT == 0 {
				continue
			}
			if !fdb[n.HardwareAddr.String()+" "+n.IP.String()] {
				if err := h.NeighDel(&n); err != nil {
					errs = append(errs, fmt.Errorf("delete FDB entry %s: %w", n.HardwareAddr, err))
				}
			}
		}
	}
	return errs
}

// removeAll deletes the VXLAN device (its neighbours and FDB entries go
// with it) and every route this package added.
func removeAll(h *netlink.Handle) error {
	var errs []error
	if l, err := h.LinkByName(VXLANDevice); err == nil {
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("clusternet: delete %s: %w", VXLANDevice, err))
		}
	}
	routes, err := h.RouteListFiltered(unix.AF_INET, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("clusternet: list routes: %w", err))...)
	}
	for _, r := range routes {
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("clusternet: delete route %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}
