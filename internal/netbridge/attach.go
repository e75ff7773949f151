//go:build linux

package netbridge

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var errNoDev = unix.ENODEV

// Attach connects the network namespace of pid (a process the caller
// created with CLONE_NEWNET) to the bridge: a veth pair whose host end,
// named by vethName(unit, pid), joins the bridge and whose other end
// appears in the container as eth0 with the lowest free address, lo and
// eth0 up, and a default route via the bridge. Ports get DNAT rules that
// apply to traffic addressed to any local address of the node (or
// HostIP), from outside, from the node itself (including 127.0.0.1) and
// from containers.
//
// The host veth's alias ("flotilla ip=… pid=… unit=…") records the
// allocation; see Setup.
func (n *Network) Attach(unit string, pid int, ports []PortMapping) (*Endpoint, error) {
	if err := checkPorts(ports); err != nil {
		return nil, err
	}
	name := vethName(unit, pid)
	cns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("netbridge: attach %s: netns of pid %d: %w", unit, pid, err)
	}
	defer cns.Close()

	ip, err := n.reserve(name, ports)
	if err != nil {
		return nil, fmt.Errorf("netbridge: attach %s (pid %d): %w", unit, pid, err)
	}
	defer n.unreserve(ip)

	ep := &Endpoint{Name: unit, IP: ip, HostVeth: name, Ports: ports, PID: pid,
		Gateway: n.sn.gateway(), Prefix: n.sn.prefixLen()}
	if err := n.plumb(ep, cns); err != nil {
		n.Detach(ep)
		return nil, fmt.Errorf("netbridge: attach %s (pid %d): %w", unit, pid, err)
	}
	n.cfg.Logf("netbridge: attached %s (pid %d) as %s/%d on %s, ports %v", unit, pid, ip, ep.Prefix, name, ports)
	return ep, nil
}

// reserve picks the lowest free address and checks the ports are free.
// Addresses in use are those on live veth aliases plus pending ones.
func (n *Network) reserve(veth string, ports []PortMapping) (net.IP, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	links, err := n.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	used := map[string]bool{}
	live := map[string]bool{}
	for _, l := range links {
		a := l.Attrs()
		live[a.Name] = true
		if ip := aliasIP(a.Alias); ip != nil {
			used[ip.String()] = true
		}
	}
	if live[veth] {
		return nil, fmt.Errorf("%w: %s exists", ErrAttached, veth)
	}
	for ip, r := range n.pending {
		if r.veth == veth {
			return nil, fmt.Errorf("%w: %s is being attached", ErrAttached, veth)
		}
		for _, p := range ports {
			for _, q := range r.ports {
				if p.overlaps(q) {
					return nil, fmt.Errorf("%w: %s is being published by %s", ErrPortInUse, p, r.veth)
				}
			}
		}
		used[ip] = true
	}
	rules, err := n.dnatRules()
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if !live[r.veth] {
			continue // stale: its container is gone; pruned below
		}
		for _, p := range ports {
			if p.overlaps(r.port) {
				return nil, fmt.Errorf("%w: %s is published by %s", ErrPortInUse, p, r.veth)
			}
		}
	}
	if err := n.pruneDNATLocked(rules, live); err != nil {
		return nil, err
	}
	ip, err := n.sn.lowestFree(used)
	if err != nil {
		return nil, err
	}
	n.pending[ip.String()] = reservation{veth, ports}
	return ip, nil
}

func (n *Network) unreserve(ip net.IP) {
	n.mu.Lock()
	delete(n.pending, ip.String())
	n.mu.Unlock()
}

// plumb creates the veth, configures the container side and adds DNAT.
func (n *Network) plumb(ep *Endpoint, cns netns.NsHandle) error {
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:        ep.HostVeth,
			Alias:       vethAlias(ep.IP, ep.Name, ep.PID),
			MasterIndex: n.bridge,
			MTU:         n.cfg.MTU,
		},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(cns)),
	}
	if err := n.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", ep.HostVeth, err)
	}
	host, err := n.nl.LinkByName(ep.HostVeth)
	if err != nil {
		return fmt.Errorf("veth %s: %w", ep.HostVeth, err)
	}
	// The kernel ignores IFLA_IFALIAS on creation; set it now. Until then
	// n.pending covers the address.
	if err := n.nl.LinkSetAlias(host, veth.Alias); err != nil {
		return fmt.Errorf("alias of %s: %w", ep.HostVeth, err)
	}
	if host.Attrs().MasterIndex != n.bridge {
		if err := n.nl.LinkSetMasterByIndex(host, n.bridge); err != nil {
			return fmt.Errorf("veth %s into %s: %w", ep.HostVeth, n.cfg.Bridge, err)
		}
	}
	// Hairpin: with br_netfilter loaded, a container's packet to its own
	// published port is DNATed at the bridge and must leave by the port it
	// came in on.
	if err := n.nl.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", ep.HostVeth, err)
	}
	if err := n.nl.LinkSetUp(host); err != nil {
		return fmt.Errorf("up %s: %w", ep.HostVeth, err)
	}
	if err := configureContainer(cns, ep); err != nil {
		return err
	}
	return n.addDNAT(ep)
}

func configureContainer(cns netns.NsHandle, ep *Endpoint) error {
	h, err := netlink.NewHandleAt(cns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in container: %w", err)
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	eth, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("container eth0: %w", err)
	}
	if err := h.LinkSetHardwareAddr(eth, containerMAC(ep.IP)); err != nil {
		return fmt.Errorf("container eth0 MAC: %w", err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ep.IP, Mask: net.CIDRMask(ep.Prefix, 32)}}
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("container eth0 address %s: %w", addr.IPNet, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("container eth0 up: %w", err)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: ep.Gateway}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("container default route via %s: %w", ep.Gateway, err)
	}
	return nil
}

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("container %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("container %s up: %w", name, err)
	}
	return nil
}

// Detach removes the endpoint's veth (the container end goes with it),
// which frees its address, and its DNAT rules. Detaching twice, or after
// the container exited, is fine.
func (n *Network) Detach(ep *Endpoint) error {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return ErrClosed
	}
	var errs []error
	if l, err := n.nl.LinkByName(ep.HostVeth); err == nil {
		if err := n.nl.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("netbridge: detach %s: delete %s: %w", ep.Name, ep.HostVeth, err))
		}
	} else if !isNotFound(err) {
		errs = append(errs, fmt.Errorf("netbridge: detach %s: %s: %w", ep.Name, ep.HostVeth, err))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.deleteDNAT(func(veth string) bool { return veth == ep.HostVeth }); err != nil {
		errs = append(errs, fmt.Errorf("netbridge: detach %s: %w", ep.Name, err))
	}
	if len(errs) == 0 {
		n.cfg.Logf("netbridge: detached %s (%s, %s)", ep.Name, ep.HostVeth, ep.IP)
	}
	return errors.Join(errs...)
}

type dnatRule struct {
	rule *nftables.Rule
	veth string
	port PortMapping
}

func (n *Network) publishedChain() *nftables.Chain {
	return &nftables.Chain{Name: chainPublished, Table: table()}
}

func (n *Network) dnatRules() ([]dnatRule, error) {
	rules, err := n.nft.GetRules(table(), n.publishedChain())
	if err != nil {
		return nil, fmt.Errorf("list nft chain %s: %w", chainPublished, err)
	}
	var out []dnatRule
	for _, r := range rules {
		if veth, p, ok := parseDNATTag(r.UserData); ok {
			out = append(out, dnatRule{rule: r, veth: veth, port: p})
		}
	}
	return out, nil
}

func (n *Network) addDNAT(ep *Endpoint) error {
	if len(ep.Ports) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	t, c := table(), n.publishedChain()
	for _, p := range ep.Ports {
		n.nft.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: dnatExprs(p, ep.IP), UserData: dnatTag(ep.HostVeth, p)})
	}
	if err := n.nft.Flush(); err != nil {
		return fmt.Errorf("nft DNAT rules for %v: %w", ep.Ports, err)
	}
	return nil
}

// deleteDNAT deletes the published rules whose veth matches, in one
// transaction. n.mu must be held.
func (n *Network) deleteDNAT(match func(veth string) bool) error {
	rules, err := n.dnatRules()
	if err != nil {
		return err
	}
	return n.delRules(rules, match)
}

func (n *Network) delRules(rules []dnatRule, match func(veth string) bool) error {
	dirty := false
	for _, r := range rules {
		if match(r.veth) {
			if err := n.nft.DelRule(r.rule); err != nil {
				return err
			}
			dirty = true
		}
	}
	if !dirty {
		return nil
	}
	if err := n.nft.Flush(); err != nil {
		return fmt.Errorf("delete nft DNAT rules: %w", err)
	}
	return nil
}

// pruneDNAT drops published rules whose veth is gone (its container died
// while nobody called Detach). n.mu must be held.
func (n *Network) pruneDNAT() error {
	links, err := n.nl.LinkList()
	if err != nil {
		return fmt.Errorf("netbridge: list links: %w", err)
	}
	live := map[string]bool{}
	for _, l := range links {
		live[l.Attrs().Name] = true
	}
	rules, err := n.dnatRules()
	if err != nil {
		return fmt.Errorf("netbridge: %w", err)
	}
	return n.pruneDNATLocked(rules, live)
}

func (n *Network) pruneDNATLocked(rules []dnatRule, live map[string]bool) error {
	return n.delRules(rules, func(veth string) bool {
		if !live[veth] {
			n.cfg.Logf("netbridge: dropping DNAT rules of vanished %s", veth)
			return true
		}
		return false
	})
}
