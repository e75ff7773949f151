package fleetd

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/clusternet"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

// BridgeSubnetAuto (--bridge-subnet auto) claims the node's subnet from
// the cluster network.
const BridgeSubnetAuto = "auto"

// checkNetwork validates the network flags at parse time, before anything
// is configured.
func (c *Config) checkNetwork() error {
	if c.NetworkBackend != clusternet.BackendHostGW && c.NetworkBackend != clusternet.BackendVXLAN {
		return fmt.Errorf("fleetd: --network-backend %q: want %s or %s", c.NetworkBackend, clusternet.BackendVXLAN, clusternet.BackendHostGW)
	}
	plan, err := clusternet.ParsePlan(c.ClusterCIDR, c.SubnetLen)
	if err != nil {
		return fmt.Errorf("fleetd: %w", err)
	}
	if c.BridgeSubnet == "" || c.BridgeSubnet == BridgeSubnetAuto {
		return nil
	}
	s, err := netip.ParsePrefix(c.BridgeSubnet)
	if err != nil || !s.Addr().Is4() || s.Masked() != s || s.Bits() > 29 {
		return fmt.Errorf("fleetd: --bridge-subnet %q: want 'auto', '' (no bridge) or an IPv4 network of at most /29 such as 10.88.7.0/24", c.BridgeSubnet)
	}
	if plan.CIDR.Overlaps(s) && !plan.Contains(s) {
		return fmt.Errorf("fleetd: --bridge-subnet %s overlaps --cluster-cidr %s but is not one of its /%d subnets: give one of them, 'auto', or a subnet outside the cluster CIDR for a lone bridge", s, plan.CIDR, plan.SubnetLen)
	}
	return nil
}

// wantsBridge: this node's containers run on a bridge fleetd settles the
// subnet of: its own native manager's, or the hosted manager's (init's),
// which fleetd tells the subnet (tellHost).
func (c Config) wantsBridge() bool {
	if c.BridgeSubnet == "" || os.Geteuid() != 0 {
		return false
	}
	if _, hosted := c.remoteSocket(); hosted {
		return true
	}
	return c.UnitManager == "native" && !c.NoContainers
}

// tellHost gives the hosted manager (init's) the bridge subnet settled by
// joinNetwork, before the agent starts any unit. A host that cannot take
// it (no bridge, or an older init) leaves the node off the cluster
// network: its claim and routes are undone, and containers stay on the
// bridge the host set up.
func tellHost(ctx context.Context, cfg Config, um units, cnet *clusternet.Net, logf func(string, ...any)) *clusternet.Net {
	rc, ok := um.mgr.(*remote.Client)
	if !ok || !um.hosted || !cfg.wantsBridge() || cfg.BridgeSubnet == BridgeSubnetAuto {
		return cnet
	}
	err := rc.SetNetwork(ctx, remote.NetworkRequest{Subnet: cfg.BridgeSubnet, ClusterCIDR: cfg.clusterCIDR, MTU: cfg.bridgeMTU})
	if err == nil {
		return cnet
	}
	logf("fleetd: the unit manager's host did not take bridge subnet %s: %v; this node's containers stay off the cluster network", cfg.BridgeSubnet, err)
	if cnet != nil {
		cnet.Leave()
	}
	return nil
}

// joinNetwork settles the node's bridge subnet before any container can
// start: a lone bridge's subnet is checked against the host's networks;
// otherwise the node joins the cluster network and its bridge gets the
// claimed subnet, the cluster CIDR and the backend's MTU. It returns nil
// with no cluster network.
func joinNetwork(ctx context.Context, cfg *Config, reg *registry.Registry, id string, logf func(string, ...any)) (*clusternet.Net, error) {
	if !cfg.wantsBridge() {
		return nil, nil
	}
	plan, err := clusternet.ParsePlan(cfg.ClusterCIDR, cfg.SubnetLen)
	if err != nil {
		return nil, fmt.Errorf("fleetd: %w", err)
	}
	var want netip.Prefix
	if cfg.BridgeSubnet != BridgeSubnetAuto {
		want = netip.MustParsePrefix(cfg.BridgeSubnet) // checked by ParseFlags
	}
	if want.IsValid() && !plan.Contains(want) {
		if err := checkLoneSubnet(cfg, want); err != nil {
			return nil, err
		}
		logf("fleetd: --bridge-subnet %s is outside --cluster-cidr %s: a lone bridge, off the cluster network (other machines' containers cannot reach it)", want, plan.CIDR)
		return nil, nil
	}
	n, err := clusternet.Join(ctx, reg, clusternet.Config{Plan: plan, Backend: cfg.NetworkBackend, Machine: id,
		PublicIP: cfg.publicIP(), DataDir: cfg.DataDir, Want: want, Bridge: cfg.Bridge, Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("fleetd: cluster network: %w", err)
	}
	cfg.BridgeSubnet, cfg.clusterCIDR, cfg.bridgeMTU = n.Subnet.String(), plan.CIDR.String(), n.MTU
	return n, nil
}

// checkLoneSubnet refuses a lone bridge's subnet that collides with an
// address on the host's own links.
func checkLoneSubnet(cfg *Config, s netip.Prefix) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("fleetd: netlink: %w", err)
	}
	defer h.Close()
	host, err := clusternet.HostNetworks(h, cfg.Bridge)
	if err != nil {
		return fmt.Errorf("fleetd: %w", err)
	}
	for _, n := range host {
		if n.Overlaps(s) {
			return fmt.Errorf("fleetd: --bridge-subnet %s collides with %s on this host: give another subnet", s, n)
		}
	}
	return nil
}
