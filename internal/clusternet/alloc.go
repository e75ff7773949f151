package clusternet

import (
	"errors"
	"fmt"
	"net/netip"
)

// Defaults for Config.
const (
	DefaultCIDR      = "10.88.0.0/16"
	DefaultSubnetLen = 24
	BackendHostGW    = "host-gw"
	BackendVXLAN     = "vxlan"
	DefaultBackend   = BackendVXLAN
)

// ErrFull: every subnet of the cluster CIDR is held or collides with the
// host's own networks.
var ErrFull = errors.New("clusternet: no free subnet")

// Plan is the cluster network's shape: a CIDR cut into subnets of one
// prefix length, one per machine.
type Plan struct {
	CIDR      netip.Prefix
	SubnetLen int
}

// ParsePlan checks a cluster CIDR and subnet length as the flags give them.
// A subnet must hold the bridge's address and at least two containers, and
// the CIDR at least two subnets.
func ParsePlan(cidr string, subnetLen int) (Plan, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return Plan{}, fmt.Errorf("clusternet: --cluster-cidr %q: want an IPv4 CIDR such as %s", cidr, DefaultCIDR)
	}
	if p.Masked() != p {
		return Plan{}, fmt.Errorf("clusternet: --cluster-cidr %s has host bits set: did you mean %s?", cidr, p.Masked())
	}
	if subnetLen > 29 {
		return Plan{}, fmt.Errorf("clusternet: --subnet-len %d: at most 29 (a subnet holds the bridge's address and its containers)", subnetLen)
	}
	if subnetLen <= p.Bits() {
		return Plan{}, fmt.Errorf("clusternet: --subnet-len %d: must be longer than --cluster-cidr %s's /%d, so the CIDR splits into one subnet per machine", subnetLen, p, p.Bits())
	}
	return Plan{CIDR: p, SubnetLen: subnetLen}, nil
}

// Count is how many subnets the plan has room for.
func (p Plan) Count() int {
	n := p.SubnetLen - p.CIDR.Bits()
	if n >= 31 {
		return 1 << 30
	}
	return 1 << n
}

// Subnet is the i-th subnet of the plan.
func (p Plan) Subnet(i int) netip.Prefix {
	a := p.CIDR.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i) << (32 - p.SubnetLen)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), p.SubnetLen)
}

// Contains reports whether s is one of the plan's subnets.
func (p Plan) Contains(s netip.Prefix) bool {
	return s.Bits() == p.SubnetLen && s.Masked() == s && p.CIDR.Contains(s.Addr())
}

func (p Plan) String() string { return fmt.Sprintf("%s in /%d subnets", p.CIDR, p.SubnetLen) }

// Choose picks machine's subnet, purely from what is known:
//
//   - want, if it is valid, free or machine's, and clear of the host's
//     networks (the subnet the machine had before a reboot, or one asked for);
//   - else a subnet held already by machine (its claim survived);
//   - else the lowest free subnet clear of the host's networks.
//
// held maps claimed subnets to their machines; host are the networks on
// the node's own interfaces.
func Choose(p Plan, machine string, want netip.Prefix, held map[netip.Prefix]string, host []netip.Prefix) (netip.Prefix, error) {
	usable := func(s netip.Prefix) bool {
		if m, ok := held[s]; ok && m != machine {
			return false
		}
		return !overlapsAny(s, host)
	}
	if want.IsValid() && p.Contains(want) && usable(want) {
		return want, nil
	}
	var mine []netip.Prefix
	for s, m := range held {
		if m == machine && p.Contains(s) && !overlapsAny(s, host) {
			mine = append(mine, s)
		}
	}
	if len(mine) > 0 { // the lowest, so the choice never depends on map order
		low := mine[0]
		for _, s := range mine[1:] {
			if s.Addr().Less(low.Addr()) {
				low = s
			}
		}
		return low, nil
	}
	n := p.Count()
	for i := range n {
		if s := p.Subnet(i); usable(s) {
			if _, ok := held[s]; !ok {
				return s, nil
			}
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: --cluster-cidr %s has room for %d subnets of /%d (--subnet-len), %d held by machines and the rest colliding with this host's networks; give a larger --cluster-cidr or a longer --subnet-len", ErrFull, p.CIDR, n, p.SubnetLen, len(held))
}

// CheckSubnet refuses an explicit subnet (--bridge-subnet) that is not one
// of the plan's or collides with the host's own networks.
func CheckSubnet(p Plan, s netip.Prefix, host []netip.Prefix) error {
	if !p.Contains(s) {
		return fmt.Errorf("clusternet: --bridge-subnet %s is not a /%d subnet of --cluster-cidr %s: give one that is, or 'auto' to be given one", s, p.SubnetLen, p.CIDR)
	}
	for _, h := range host {
		if s.Overlaps(h) {
			return fmt.Errorf("clusternet: --bridge-subnet %s collides with %s on this host: give another subnet, or 'auto'", s, h)
		}
	}
	return nil
}

func overlapsAny(s netip.Prefix, nets []netip.Prefix) bool {
	for _, n := range nets {
		if s.Overlaps(n) {
			return true
		}
	}
	return false
}
