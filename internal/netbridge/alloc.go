package netbridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrExhausted is returned by Attach when every address in the subnet is taken.
var ErrExhausted = errors.New("netbridge: subnet exhausted")

// subnet is the parsed per-node IPv4 subnet.
type subnet struct {
	net  *net.IPNet
	base uint32 // network address
	size uint32 // number of addresses, network and broadcast included
}

func parseSubnet(s string) (subnet, error) {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return subnet{}, fmt.Errorf("netbridge: subnet %q: %w", s, err)
	}
	if n.IP.To4() == nil {
		return subnet{}, fmt.Errorf("netbridge: subnet %q: only IPv4 is supported", s)
	}
	ones, bits := n.Mask.Size()
	if bits != 32 || ones < 8 || ones > 30 {
		return subnet{}, fmt.Errorf("netbridge: subnet %q: prefix must be /8 to /30", s)
	}
	return subnet{net: n, base: binary.BigEndian.Uint32(n.IP.To4()), size: 1 << (32 - ones)}, nil
}

func (s subnet) ip(off uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, s.base+off)
	return ip
}

// gateway is the bridge's own address: the first host address.
func (s subnet) gateway() net.IP { return s.ip(1) }

func (s subnet) prefixLen() int { ones, _ := s.net.Mask.Size(); return ones }

// lowestFree returns the lowest address in s that is not the network,
// the gateway, the broadcast address or in used (keys are IP strings).
func (s subnet) lowestFree(used map[string]bool) (net.IP, error) {
	for off := uint32(2); off < s.size-1; off++ {
		ip := s.ip(off)
		if !used[ip.String()] {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no free address", ErrExhausted, s.net)
}

// The host end of each veth carries an interface alias recording what it
// is for, so the kernel itself is the allocation state: a restarted
// process rescans it, and a veth that died with its container frees its
// address by disappearing.
const aliasPrefix = "flotilla "

func vethAlias(ip net.IP, unit string, pid int) string {
	a := fmt.Sprintf("%sip=%s pid=%d unit=%s", aliasPrefix, ip, pid, unit)
	if len(a) > 255 { // IFALIASZ-1
		a = a[:255]
	}
	return a
}

// aliasIP extracts the address from a vethAlias, or nil.
func aliasIP(alias string) net.IP {
	if !strings.HasPrefix(alias, aliasPrefix) {
		return nil
	}
	for _, f := range strings.Fields(alias[len(aliasPrefix):]) {
		if v, ok := strings.CutPrefix(f, "ip="); ok {
			return net.ParseIP(v).To4()
		}
	}
	return nil
}

// containerMAC derives eth0's MAC from its address (locally administered,
// 02:66 and the four address bytes). A reused address then keeps its MAC,
// so ARP caches on the node and in other containers that still hold the
// previous owner stay right instead of blackholing traffic for seconds.
func containerMAC(ip net.IP) net.HardwareAddr {
	return append(net.HardwareAddr{0x02, 0x66}, ip.To4()...)
}
