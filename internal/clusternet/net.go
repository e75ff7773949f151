//go:build linux

package clusternet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/atomicfile"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// DefaultLeaseTTL is how long a machine's subnet outlives it: a machine
// away for longer loses its subnet. flannel keeps leases a day; a few
// hours keeps a small CIDR from filling with machines gone for good.
const DefaultLeaseTTL = 6 * time.Hour

// SubnetFile is where, in the data dir, a machine remembers its subnet so
// that it asks for the same one after a reboot.
const SubnetFile = "subnet"

// Config is one machine's part in the cluster network.
type Config struct {
	Plan     Plan
	Backend  string // host-gw or vxlan
	Machine  string // machine ID
	PublicIP string // the address peers reach this machine at
	DataDir  string // SubnetFile lives here; "" remembers nothing
	// Want is a subnet asked for (fleetd --bridge-subnet CIDR); invalid
	// for "any" (the remembered one, else the lowest free).
	Want   netip.Prefix
	Bridge string // the container bridge, whose address is not the host's own network
	// LeaseTTL of the subnet lease; DefaultLeaseTTL when 0.
	LeaseTTL time.Duration
	Logf     func(string, ...any)
}

// Net is this machine's claimed subnet and the backend that reaches the
// others'. Run keeps both current; Close leaves them in place.
type Net struct {
	cfg    Config
	reg    *registry.Registry
	h      *netlink.Handle
	Subnet netip.Prefix
	// MTU for the bridge and containers: the underlay's, less 50 for vxlan.
	MTU int

	mu    sync.Mutex
	lease registry.LeaseID
	vx    int // VXLAN device index
	pub   netip.Addr
	under int
}

// Join checks the cluster's network config against cfg, claims this
// machine's subnet on a new lease and sets up the backend's device. Any
// failure undoes what it did: the claim, the lease, the device.
func Join(ctx context.Context, reg *registry.Registry, cfg Config) (_ *Net, err error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.Backend != BackendHostGW && cfg.Backend != BackendVXLAN {
		return nil, fmt.Errorf("clusternet: --network-backend %q: want %s or %s", cfg.Backend, BackendHostGW, BackendVXLAN)
	}
	want := registry.NetworkConfig{CIDR: cfg.Plan.CIDR.String(), SubnetLen: cfg.Plan.SubnetLen, Backend: cfg.Backend}
	got, err := reg.EnsureNetworkConfig(ctx, want)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, fmt.Errorf("clusternet: this cluster's network is --cluster-cidr %s --subnet-len %d --network-backend %s (set by its first machine); this node was given %s /%d %s: give the cluster's values",
			got.CIDR, got.SubnetLen, got.Backend, want.CIDR, want.SubnetLen, want.Backend)
	}
	pub, err := netip.ParseAddr(cfg.PublicIP)
	if err != nil || !pub.Is4() {
		return nil, fmt.Errorf("clusternet: the machine's address %q (--public-ip) is not IPv4: the cluster network reaches peers at it", cfg.PublicIP)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("clusternet: netlink: %w", err)
	}
	n := &Net{cfg: cfg, reg: reg, h: h, pub: pub}
	defer func() {
		if err != nil {
			n.Leave()
		}
	}()
	host, err := HostNetworks(h, cfg.Bridge)
	if err != nil {
		return nil, err
	}
	if cfg.Plan.CIDR.Contains(pub) {
		return nil, fmt.Errorf("clusternet: --cluster-cidr %s holds this machine's own address %s: pick a cluster CIDR apart from the hosts' network", cfg.Plan.CIDR, pub)
	}
	if cfg.Want.IsValid() {
		if err := CheckSubnet(cfg.Plan, cfg.Want, host); err != nil {
			return nil, err
		}
	}
	if n.lease, err = reg.Grant(ctx, cfg.LeaseTTL); err != nil {
		return nil, err
	}
	if n.Subnet, err = n.claim(ctx, host); err != nil {
		return nil, err
	}
	var mtu int
	if n.under, mtu, err = underlay(h, pub); err != nil {
		return nil, err
	}
	n.MTU = mtu
	if cfg.Backend == BackendVXLAN {
		n.MTU = mtu - vxlanOverhead
		if n.vx, err = ensureVXLAN(h, n.Subnet, VtepMAC(cfg.Machine), pub, n.under, n.MTU); err != nil {
			return nil, err
		}
	} else if l, lerr := h.LinkByName(VXLANDevice); lerr == nil {
		_ = h.LinkDel(l) // the backend was vxlan before
	}
	if cfg.DataDir != "" {
		if err := atomicfile.WriteFile(filepath.Join(cfg.DataDir, SubnetFile), []byte(n.Subnet.String()+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("clusternet: remember subnet: %w", err)
		}
	}
	cfg.Logf("clusternet: subnet %s of %s, backend %s, MTU %d", n.Subnet, cfg.Plan.CIDR, cfg.Backend, n.MTU)
	return n, nil
}

// claim picks and claims a subnet, retrying when another machine wins a
// race for the same one. The first wish is cfg.Want, else the remembered
// subnet; an explicit Want taken by another machine is an error.
func (n *Net) claim(ctx context.Context, host []netip.Prefix) (netip.Prefix, error) {
	want := n.cfg.Want
	if !want.IsValid() {
		want = n.remembered()
	}
	rec := n.record()
	for range 64 {
		subs, _, err := n.reg.Subnets(ctx)
		if err != nil {
			return netip.Prefix{}, err
		}
		held := map[netip.Prefix]string{}
		for c, r := range subs {
			if p, err := netip.ParsePrefix(c); err == nil {
				held[p] = r.Machine
			}
		}
		if n.cfg.Want.IsValid() {
			if m, ok := held[n.cfg.Want]; ok && m != n.cfg.Machine {
				return netip.Prefix{}, fmt.Errorf("clusternet: --bridge-subnet %s is held by machine %s: give another subnet, or 'auto'", n.cfg.Want, m)
			}
		}
		s, err := Choose(n.cfg.Plan, n.cfg.Machine, want, held, host)
		if err != nil {
			return netip.Prefix{}, err
		}
		err = n.reg.ClaimSubnet(ctx, s.String(), rec, n.lease)
		if errors.Is(err, registry.ErrSubnetTaken) {
			continue // lost a race: read again
		}
		if err != nil {
			return netip.Prefix{}, err
		}
		return s, nil
	}
	return netip.Prefix{}, fmt.Errorf("clusternet: no subnet claimed after 64 races with other machines")
}

func (n *Net) remembered() netip.Prefix {
	if n.cfg.DataDir == "" {
		return netip.Prefix{}
	}
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, SubnetFile))
	if err != nil {
		return netip.Prefix{}
	}
	p, _ := netip.ParsePrefix(strings.TrimSpace(string(b)))
	return p
}

func (n *Net) record() registry.SubnetRecord {
	rec := registry.SubnetRecord{Machine: n.cfg.Machine, PublicIP: n.cfg.PublicIP}
	if n.cfg.Backend == BackendVXLAN {
		rec.VtepMAC = VtepMAC(n.cfg.Machine).String()
	}
	return rec
}

// Leave undoes Join: it releases the claim and its lease and removes the
// VXLAN device and the routes. Join calls it on failure; a caller whose
// next step fails (the bridge) calls it too, so nothing is left
// half-configured.
func (n *Net) Leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n.Subnet.IsValid() {
		_ = n.reg.ReleaseSubnet(ctx, n.Subnet.String(), n.cfg.Machine)
	}
	if n.lease != 0 {
		_ = n.reg.Revoke(ctx, n.lease)
	}
	if n.h != nil {
		_ = removeAll(n.h)
		n.h.Close()
	}
}

// Run keeps the subnet's lease alive and the routes (and VXLAN entries)
// matching the registry, by watch, until ctx is done. A renewal costs etcd
// no revision, so an idle cluster writes nothing.
func (n *Net) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { n.keepAlive(ctx) })
	wg.Go(func() { n.follow(ctx) })
	wg.Wait()
}

// keepAlive renews the subnet lease every tenth of its TTL; a lease found
// gone (the machine was cut off for longer than the TTL) is replaced and
// the subnet claimed again.
func (n *Net) keepAlive(ctx context.Context) {
	every := n.cfg.LeaseTTL / 10
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		lease := n.lease
		n.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.reg.RenewOnce(rctx, lease)
		if errors.Is(err, registry.ErrLeaseNotFound) {
			err = n.reclaim(rctx)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			n.cfg.Logf("clusternet: subnet lease: %v", err)
		}
	}
}

func (n *Net) reclaim(ctx context.Context) error {
	lease, err := n.reg.Grant(ctx, n.cfg.LeaseTTL)
	if err != nil {
		return err
	}
	if err := n.reg.ClaimSubnet(ctx, n.Subnet.String(), n.record(), lease); err != nil {
		_ = n.reg.Revoke(ctx, lease)
		return fmt.Errorf("re-claim %s after its lease expired: %w; this machine's containers now share a subnet with another machine: restart fleetd with 'auto'", n.Subnet, err)
	}
	n.mu.Lock()
	n.lease = lease
	n.mu.Unlock()
	n.cfg.Logf("clusternet: subnet %s claimed again on a new lease", n.Subnet)
	return nil
}

// follow reads the subnets, programs them, and watches for changes;
// after a watch failure it reads again within a second.
func (n *Net) follow(ctx context.Context) {
	for ctx.Err() == nil {
		subs, rev, err := n.reg.Subnets(ctx)
		if err == nil {
			n.apply(subs)
			err = n.reg.WatchSubnets(ctx, rev+1, func(evs []registry.SubnetEvent) {
				for _, e := range evs {
					if e.Record == nil {
						delete(subs, e.CIDR)
					} else {
						subs[e.CIDR] = *e.Record
					}
				}
				n.apply(subs)
			})
		}
		if ctx.Err() != nil {
			return
		}
		n.cfg.Logf("clusternet: %v", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (n *Net) apply(subs map[string]registry.SubnetRecord) {
	peers, skipped := Peers(n.cfg.Plan, n.cfg.Backend, n.cfg.Machine, subs)
	for _, s := range skipped {
		n.cfg.Logf("clusternet: skipping subnet %s", s)
	}
	if err := program(n.h, n.cfg.Backend, n.vx, peers); err != nil {
		n.cfg.Logf("%v", err)
	}
}

// Close releases the netlink handle. Routes, the device and the claim
// stay: containers keep their addresses while fleetd restarts, and the
// lease frees the subnet if it never comes back.
func (n *Net) Close() error {
	n.h.Close()
	return nil
}

// Teardown removes the VXLAN device and every route this package added in
// the calling thread's network namespace (tests and uninstall).
func Teardown() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("clusternet: netlink: %w", err)
	}
	defer h.Close()
	return removeAll(h)
}
