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
	Logf   func(string, ...any)
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

// Network is the node's bridge network, bound to the network namespace that
// was current on the thread calling Setup. Its methods may be called from
// any goroutine.
type Network struct {
	cfg    Config
	sn     subnet
	ns     netns.NsHandle
	nl     *netlink.Handle
	nft    *nftables.Conn
	bridge int // ifindex

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
	sn, err := parseSubnet(cfg.Subnet)
	if err != nil {
		return nil, err
	}
	if len(cfg.Bridge) >= 16 {
		return nil, fmt.Errorf("netbridge: bridge name %q longer than 15 bytes", cfg.Bridge)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("netbridge: current netns: %w", err)
	}
	n := &Network{cfg: cfg, sn: sn, ns: ns, pending: map[string]reservation{}}
	if n.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		ns.Close()
		return nil, fmt.Errorf("netbridge: netlink: %w", err)
	}
	if n.nft, err = nftables.New(nftables.WithNetNSFd(int(ns))); err != nil {
		n.Close()
		return nil, fmt.Errorf("netbridge: nftables: %w", err)
	}
	if err := n.setup(); err != nil {
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
	rules := staticRules(n.cfg.Bridge, n.sn.net)
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
