//go:build linux

package netbridge

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table (family ip) that holds all of the rules.
const TableName = "flotilla"

// Chain names inside TableName.
const (
	chainPost      = "postrouting" // nat: masquerade
	chainPre       = "prerouting"  // nat: published ports, from outside
	chainOut       = "output"      // nat: published ports, from the node itself
	chainPublished = "published"   // regular chain: one DNAT rule per mapping
	chainForward   = "forward"     // filter: accept bridge traffic
	chainGuard     = "guard"       // filter at raw priority: see route_localnet
)

var loopback = &net.IPNet{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
}

func baseChains(t *nftables.Table) []*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	mk := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio, Policy: &accept}
	}
	return []*nftables.Chain{
		mk(chainGuard, nftables.ChainTypeFilter, nftables.ChainHookPrerouting, nftables.ChainPriorityRaw),
		mk(chainPre, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		mk(chainOut, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
		mk(chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter),
		mk(chainPost, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource),
	}
}

// staticRules are the rules Setup (re)writes in the base chains.
// cluster is the cluster CIDR (or sn itself on a lone node): traffic to
// it is routed to the peer's bridge with its source intact.
func staticRules(bridge string, sn, cluster *net.IPNet) map[string][][]expr.Any {
	return map[string][][]expr.Any{
		// route_localnet=1 on the bridge would let a container reach the
		// node's 127.0.0.1 services by sending to 127.x via the bridge;
		// drop that before conntrack sees it (replies de-NATed to 127.0.0.1
		// are rewritten later, at the nat hook, so they pass).
		chainGuard: {
			cat(ifname(expr.MetaKeyIIFNAME, bridge, expr.CmpOpEq), ipIn(16, loopback), verdict(expr.VerdictDrop)),
		},
		chainPre: {cat(fibLocalDst(), jump(chainPublished))},
		chainOut: {cat(fibLocalDst(), jump(chainPublished))},
		chainForward: {
			cat(ifname(expr.MetaKeyIIFNAME, bridge, expr.CmpOpEq), verdict(expr.VerdictAccept)),
			cat(ifname(expr.MetaKeyOIFNAME, bridge, expr.CmpOpEq), verdict(expr.VerdictAccept)),
		},
		chainPost: {
			// Outbound: containers leaving the cluster network through
			// any other interface. Other nodes' containers see their
			// real address.
			cat(ipIn(12, sn), ipNotIn(16, cluster), ifname(expr.MetaKeyOIFNAME, bridge, expr.CmpOpNeq), masq()),
			// Published port reached from the node's loopback: the
			// container could not answer 127.0.0.1.
			cat(ifname(expr.MetaKeyOIFNAME, bridge, expr.CmpOpEq), ipIn(12, loopback), masq()),
			// Hairpin: a container reaching a published port (its own or
			// another's) via a node address; without this the reply would
			// go straight back over the bridge with the wrong source.
			cat(ifname(expr.MetaKeyOIFNAME, bridge, expr.CmpOpEq), ipIn(12, sn), ctDNAT(), masq()),
		},
	}
}

// dnatExprs is one published-port rule: [ip daddr HostIP] l4proto P
// th dport HostPort dnat to ip:ContainerPort.
func dnatExprs(p PortMapping, ip net.IP) []expr.Any {
	var e []expr.Any
	if p.HostIP != "" {
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net.ParseIP(p.HostIP).To4()})
	}
	proto := byte(unix.IPPROTO_TCP)
	if p.Protocol == "udp" {
		proto = unix.IPPROTO_UDP
	}
	return append(e,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(p.HostPort)},
		&expr.Immediate{Register: 1, Data: ip.To4()},
		&expr.Immediate{Register: 2, Data: be16(p.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}

// A DNAT rule's UserData names its endpoint and mapping, so Detach and
// Setup find rules without decoding expressions: "VETH PROTO HOSTIP PORT".
func dnatTag(veth string, p PortMapping) []byte {
	hip := p.HostIP
	if hip == "" {
		hip = "*"
	}
	return fmt.Appendf(nil, "%s %s %s %d", veth, p.Protocol, hip, p.HostPort)
}

func parseDNATTag(b []byte) (veth string, p PortMapping, ok bool) {
	var hip string
	if _, err := fmt.Sscanf(string(b), "%s %s %s %d", &veth, &p.Protocol, &hip, &p.HostPort); err != nil {
		return "", PortMapping{}, false
	}
	if hip != "*" {
		p.HostIP = hip
	}
	return veth, p, strings.HasPrefix(veth, "flt")
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func ifname(key expr.MetaKey, name string, op expr.CmpOp) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

// ipIn matches the IPv4 address at header offset off (12 saddr, 16 daddr).
func ipIn(off uint32, n *net.IPNet) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: n.IP.To4()},
	}
}

// ipNotIn is ipIn negated.
func ipNotIn(off uint32, n *net.IPNet) []expr.Any {
	e := ipIn(off, n)
	e[2] = &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: n.IP.To4()}
	return e
}

func fibLocalDst() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(unix.RTN_LOCAL)},
	}
}

func ctDNAT() []expr.Any {
	const ipsDstNAT = 1 << 5 // IPS_DST_NAT
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func masq() []expr.Any                      { return []expr.Any{&expr.Masq{}} }
func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }
func jump(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
