//go:build linux

package netbridge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Defaults for Config.
const (
	DefaultBridge = "flotilla0"
	DefaultSubnet = "10.88.0.0/24"
)

// ErrAttached is returned by Attach when the unit's process already has a veth.
var ErrAttached = errors.New("netbridge: already attached")

// ErrClosed is returned by a Network's methods after Close.
var ErrClosed = errors.New("netbridge: network closed")

// ErrPortInUse is returned by Attach when another endpoint publishes the port.
var ErrPortInUse = errors.New("netbridge: host port in use")

// Config names the node's bridge and subnet.
type Config struct {
	Bridge string // default "flotilla0"
	Subnet string // per-node CIDR, default "10.88.0.0/24"; the bridge takes .1
	// ClusterCIDR holds every node's subnet (internal/clusternet): traffic
	// to it is routed, not masqueraded. "" for a lone bridge: only the
	// node's own subnet is exempt.
	ClusterCIDR string
	// MTU of the bridge and every veth (both ends); 0 leaves the kernel's
	// default (1500). The cluster network's vxlan backend needs 50 less
	// than the underlay.
	MTU  int
	Logf func(string, ...any)
}

func (c Config) withDefaults() Config {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if c.Subnet == "" {
		c.Subnet = DefaultSubnet
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// parse checks the subnet, cluster CIDR, MTU and bridge name.
func (c Config) parse() (subnet, *net.IPNet, error) {
	sn, err := parseSubnet(c.Subnet)
	if err != nil {
		return subnet{}, nil, err
	}
	cluster := sn.net
	if c.ClusterCIDR != "" {
		_, cn, err := net.ParseCIDR(c.ClusterCIDR)
		if err != nil || cn.IP.To4() == nil {
			return subnet{}, nil, fmt.Errorf("netbridge: cluster CIDR %q: want an IPv4 CIDR", c.ClusterCIDR)
		}
		if !cn.Contains(sn.net.IP) {
			return subnet{}, nil, fmt.Errorf("netbridge: subnet %s is outside the cluster CIDR %s", sn.net, cn)
		}
		cluster = cn
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > 65535) {
		return subnet{}, nil, fmt.Errorf("netbridge: MTU %d: want 576 to 65535", c.MTU)
	}
	if len(c.Bridge) >= 16 {
		return subnet{}, nil, fmt.Errorf("netbridge: bridge name %q longer than 15 bytes", c.Bridge)
	}
	return sn, cluster, nil
}

// Network is the node's bridge network, bound to the network namespace that
// was current on the thread calling Setup. Its methods may be called from
// any goroutine.
type Network struct {
	cfg     Config
	sn      subnet
	cluster *net.IPNet // ClusterCIDR, or the node's subnet alone
	ns      netns.NsHandle
	nl      *netlink.Handle
	nft     *nftables.Conn
	bridge  int // ifindex

	mu      sync.Mutex             // serializes allocation and nft changes
	pending map[string]reservation // by IP: Attach calls in flight
	closed  bool
}

// reservation holds an address, veth name and ports for an Attach in
// flight, until its veth and DNAT rules are visible to the next scan.
type reservation struct {
	veth  string
	ports []PortMapping
}

// Endpoint is one container's attachment to the bridge.
type Endpoint struct {
	Name     string // the unit
	IP       net.IP
	HostVeth string
	Ports    []PortMapping

	PID     int
	Gateway net.IP
	Prefix  int
}

// Setup creates or refreshes the node's bridge network in the calling
// thread's network namespace, and is idempotent:
//
//   - the bridge, up, with the subnet's first address;
//   - net.ipv4.ip_forward=1, and route_localnet=1 on the bridge so the
//     node can reach published ports via 127.0.0.1;
//   - the nftables table "flotilla" (family ip): its base chains are
//     rewritten, the "published" chain keeps the DNAT rules of endpoints whose
//     veth still exists and drops the rest.
//
// No state file: addresses in use are read back from the aliases of the
// host-side veths (see Attach), so a restarted fleetd never double-allocates.
func Setup(cfg Config) (*Network, error) {
	cfg = cfg.withDefaults()
	sn, cluster, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("netbridge: current netns: %w", err)
	}
	n := &Network{cfg: cfg, sn: sn, cluster: cluster, ns: ns, pending: map[string]reservation{}}
	if n.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		ns.Close()
		return nil, fmt.Errorf("netbridge: netlink: %w", err)
	}
	if n.nft, err = nftables.New(nftables.WithNetNSFd(int(ns))); err != nil {
		n.Close()
		return nil, fmt.Errorf("netbridge: nftables: %w", err)
	}
	_, existed := n.nl.LinkByName(cfg.Bridge)
	if err := n.setup(); err != nil {
		if existed != nil {
			// Ours, made just now: leave nothing half-configured.
			n.removeFresh()
		}
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Network) setup() error {
	br, err := n.ensureBridge()
	if err != nil {
		return err
	}
	n.bridge = br.Attrs().Index
	for _, s := range []struct{ path, val string }{
		{"/proc/sys/net/ipv4/ip_forward", "1"},
		{filepath.Join("/proc/sys/net/ipv4/conf", n.cfg.Bridge, "route_localnet"), "1"},
	} {
		if err := os.WriteFile(s.path, []byte(s.val), 0o644); err != nil {
			return fmt.Errorf("netbridge: sysctl %s=%s: %w", s.path, s.val, err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.ensureTable(); err != nil {
		return err
	}
	if err := n.pruneDNAT(); err != nil {
		return err
	}
	n.cfg.Logf("netbridge: %s up as %s/%d, nft table %s", n.cfg.Bridge, n.sn.gateway(), n.sn.prefixLen(), TableName)
	return nil
}

func (n *Network) ensureBridge() (netlink.Link, error) {
	name := n.cfg.Bridge
	br, err := n.nl.LinkByName(name)
	if _, ok := err.(netlink.LinkNotFoundError); ok {
		err = n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}})
		if err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("netbridge: create bridge %s: %w", name, err)
		}
		br, err = n.nl.LinkByName(name)
	}
	if err != nil {
		return nil, fmt.Errorf("netbridge: bridge %s: %w", name, err)
	}
	if br.Type() != "bridge" {
		return nil, fmt.Errorf("netbridge: %s exists and is a %s, not a bridge", name, br.Type())
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.sn.gateway(), Mask: n.sn.net.Mask}}
	if err := n.nl.AddrReplace(br, addr); err != nil {
		return nil, fmt.Errorf("netbridge: address %s on %s: %w", addr.IPNet, name, err)
	}
	if n.cfg.MTU != 0 && br.Attrs().MTU != n.cfg.MTU {
		if err := n.nl.LinkSetMTU(br, n.cfg.MTU); err != nil {
			return nil, fmt.Errorf("netbridge: MTU %d on %s: %w", n.cfg.MTU, name, err)
		}
	}
	if err := n.nl.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("netbridge: up %s: %w", name, err)
	}
	return br, nil
}

// ensureTable creates the table and chains and rewrites the static rules in
// one nftables transaction. The published chain is left as it is.
func (n *Network) ensureTable() error {
	t := n.nft.AddTable(table())
	n.nft.AddChain(&nftables.Chain{Name: chainPublished, Table: t})
	rules := staticRules(n.cfg.Bridge, n.sn.net, n.cluster)
	for _, c := range baseChains(t) {
		c = n.nft.AddChain(c)
		n.nft.FlushChain(c)
		for _, e := range rules[c.Name] {
			n.nft.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: e})
		}
	}
	if err := n.nft.Flush(); err != nil {
		return fmt.Errorf("netbridge: nft table %s: %w", TableName, err)
	}
	return nil
}

// removeFresh deletes the bridge and nft table a failed Setup created.
func (n *Network) removeFresh() {
	if br, err := n.nl.LinkByName(n.cfg.Bridge); err == nil {
		_ = n.nl.LinkDel(br)
	}
	if _, err := n.nft.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err == nil {
		n.nft.DelTable(table())
		_ = n.nft.Flush()
	}
}

// Close releases the Network's handles. It tears nothing down: the bridge,
// veths and rules stay, since units may still be running; a new Setup picks
// them up. Use Detach per endpoint, or Teardown to remove everything.
// Call it after every Attach and Detach has returned; later calls fail
// with ErrClosed.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if n.nl != nil {
		n.nl.Close()
	}
	return n.ns.Close()
}

// Teardown removes the bridge, every veth this package created and the nft
// table from the calling thread's network namespace (for tests and
// uninstall). Running containers lose their network.
func Teardown(cfg Config) error {
	cfg = cfg.withDefaults()
	var errs []error
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("netbridge: list links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Name == cfg.Bridge || aliasIP(a.Alias) != nil {
			if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("netbridge: delete %s: %w", a.Name, err))
			}
		}
	}
	c, err := nftables.New()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("netbridge: nftables: %w", err))...)
	}
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err == nil {
		c.DelTable(table())
		if err := c.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("netbridge: delete nft table %s: %w", TableName, err))
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, os.ErrNotExist) || errors.Is(err, errNoDev)
}
