package fleetd

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"

	"github.com/flotilla-os/flotilla/internal/clusternet"
	"github.com/flotilla-os/flotilla/internal/registry"
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

// wantsBridge: this fleetd's own unit manager runs containers on a bridge.
func (c Config) wantsBridge() bool {
	_, hosted := c.remoteSocket()
	return c.BridgeSubnet != "" && !hosted && c.UnitManager == "native" && !c.NoContainers && os.Geteuid() == 0
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
	h, err := netlink.NewHandle()
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
