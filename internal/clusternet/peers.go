package clusternet

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// Peer is another machine's subnet and how to reach it: what a backend
// programs one route (host-gw) or one route, neighbour and FDB entry
// (vxlan) for.
type Peer struct {
	Subnet   netip.Prefix
	Machine  string
	PublicIP netip.Addr
	VtepMAC  net.HardwareAddr // vxlan only
}

// Peers is the pure decision of what to program: every subnet of the plan
// held by another machine with a usable address (and, for vxlan, a VTEP
// MAC), sorted by subnet. Records that make no sense are skipped and
// reported in skipped, so one bad record costs only its own route.
func Peers(p Plan, backend, self string, subnets map[string]registry.SubnetRecord) (peers []Peer, skipped []string) {
	for cidr, rec := range subnets {
		if rec.Machine == self {
			continue
		}
		s, err := netip.ParsePrefix(cidr)
		if err != nil || !p.Contains(s) {
			skipped = append(skipped, fmt.Sprintf("%s (%s): not a subnet of %s", cidr, rec.Machine, p))
			continue
		}
		ip, err := netip.ParseAddr(rec.PublicIP)
		if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsLoopback() || p.CIDR.Contains(ip) {
			skipped = append(skipped, fmt.Sprintf("%s (%s): address %q is not a usable underlay address", cidr, rec.Machine, rec.PublicIP))
			continue
		}
		peer := Peer{Subnet: s, Machine: rec.Machine, PublicIP: ip}
		if backend == BackendVXLAN {
			mac, err := net.ParseMAC(rec.VtepMAC)
			if err != nil || len(mac) != 6 {
				skipped = append(skipped, fmt.Sprintf("%s (%s): VTEP MAC %q", cidr, rec.Machine, rec.VtepMAC))
				continue
			}
			peer.VtepMAC = mac
		}
		peers = append(peers, peer)
	}
	slices.SortFunc(peers, func(a, b Peer) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) })
	slices.Sort(skipped)
	return peers, skipped
}

// VtepMAC is a machine's VXLAN device address: locally administered,
// from a hash of its machine ID, so it stays the same across reboots and
// peers' FDB entries stay right while the node restarts.
func VtepMAC(machine string) net.HardwareAddr {
	h := sha256.Sum256([]byte("flotilla vtep " + machine))
	return net.HardwareAddr{0x02, h[0], h[1], h[2], h[3], h[4]}
}

// vtepAddr is the address a subnet's VXLAN device holds and peers route
// to: the subnet's first address (.0), as flannel does; the bridge holds .1.
func vtepAddr(s netip.Prefix) netip.Addr { return s.Masked().Addr() }
