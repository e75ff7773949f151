//go:build linux

package netbridge

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// Reconfigure moves a running Network to another subnet, cluster CIDR or
// MTU: the bridge's address and MTU and the static nft rules are
// rewritten. Where units outlive fleetd (init hosts the manager), the
// manager sets up the bridge at boot and fleetd tells it the subnet it
// claimed before any container starts. Moving to another subnet is refused
// while a container is attached: its address would lie outside it.
func (n *Network) Reconfigure(subnet, clusterCIDR string, mtu int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	next := n.cfg
	next.Subnet, next.ClusterCIDR, next.MTU = subnet, clusterCIDR, mtu
	sn, cluster, err := next.parse()
	if err != nil {
		return err
	}
	old := n.sn
	moved := old.net.String() != sn.net.String()
	if moved {
		links, err := n.nl.LinkList()
		if err != nil {
			return fmt.Errorf("netbridge: list links: %w", err)
		}
		for _, l := range links {
			if ip := aliasIP(l.Attrs().Alias); ip != nil && !sn.net.Contains(ip) {
				return fmt.Errorf("netbridge: cannot move %s to %s: a container is attached as %s (%s); stop the node's container units first", n.cfg.Bridge, sn.net, ip, l.Attrs().Name)
			}
		}
		if len(n.pending) > 0 {
			return fmt.Errorf("netbridge: cannot move %s to %s: a container is being attached", n.cfg.Bridge, sn.net)
		}
	}
	n.cfg, n.sn, n.cluster = next, sn, cluster
	if _, err := n.ensureBridge(); err != nil {
		return err
	}
	if moved {
		if br, err := n.nl.LinkByName(n.cfg.Bridge); err == nil {
			_ = n.nl.AddrDel(br, &netlink.Addr{IPNet: &net.IPNet{IP: old.gateway(), Mask: old.net.Mask}})
		}
	}
	if err := n.ensureTable(); err != nil {
		return err
	}
	n.cfg.Logf("netbridge: %s now %s/%d in cluster %s, MTU %d", n.cfg.Bridge, n.sn.gateway(), n.sn.prefixLen(), n.cluster, n.cfg.MTU)
	return nil
}
