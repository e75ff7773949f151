package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// DHCPv4 clients: one per DHCP link, started by Setup, running until
// its context ends or the next Setup. Each takes the boot lease,
// then keeps it as RFC 2131 says (dhcpPolicy): unicast RENEW at T1,
// broadcast REBIND at T2, the address dropped at the lease's end or on a
// NAK, then discovery again with backoff. The address carries the lease's
// lifetime, so the kernel drops it too if the client stops.

const (
	dhcpBootTimeout = 30 * time.Second // the boot's wait for a lease (link up included); also one discovery's bound
	dhcpLinkUp      = 10 * time.Second // wait for the carrier
	dhcpTimeout     = 4 * time.Second  // nclient4's first wait for an answer, doubling per try (RFC 2131 4.1)
	dhcpTries       = 5                // nclient4's tries per discovery
	dhcpRequestTry  = 3                // nclient4's tries per RENEW/REBIND (all bounded by the phase's end)
)

// dhcpRun holds the clients of the last Setup.
var dhcpRun struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{} // closed once the clients are gone and their namespace handle closed
}

// stopDHCP stops the clients the last Setup started and waits for
// them. Their addresses stay, bounded by their lifetimes.
func stopDHCP() {
	dhcpRun.mu.Lock()
	cancel, done := dhcpRun.cancel, dhcpRun.done
	dhcpRun.cancel, dhcpRun.done = nil, nil
	dhcpRun.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// dhcpFirst is a client's boot outcome.
type dhcpFirst struct {
	up  *NetUp
	dns []string
}

// runDHCP starts a client per link and waits (at most dhcpBootTimeout) for
// each one's first lease. The clients go on with ctx.
// They run in the caller's network namespace, whatever thread they get.
func runDHCP(ctx context.Context, links []netlink.Link, logf func(string, ...any)) ([]NetUp, []string) {
	ns, err := netns.Get()
	if err != nil {
		logf("flotilla: DHCP: network namespace: %v (the clients use their thread's)", err)
		ns = netns.None()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	done := make(chan struct{})
	dhcpRun.mu.Lock()
	dhcpRun.cancel, dhcpRun.done = cancel, done
	dhcpRun.mu.Unlock()

	firsts := make([]chan dhcpFirst, len(links))
	for i, l := range links {
		firsts[i] = make(chan dhcpFirst, 1)
		c := &dhcpClient{name: l.Attrs().Name, link: l, logf: logf}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, ns, firsts[i])
		}()
	}
	go func() {
		// Closed here, not when runDHCP returns: a client may not have
		// entered it yet. stopDHCP waits for this, so a stale close
		// cannot hit a reused descriptor.
		wg.Wait()
		ns.Close()
		close(done)
	}()
	var ups []NetUp
	var dns []string
	for _, ch := range firsts {
		f := <-ch
		if f.up != nil {
			ups = append(ups, *f.up)
			dns = append(dns, f.dns...)
		}
	}
	return ups, dns
}

// dhcpClient is one link's client; its methods run on its own goroutine.
type dhcpClient struct {
	name  string
	link  netlink.Link
	logf  func(string, ...any)
	pol   dhcpPolicy
	lease *nclient4.Lease // the lease held, nil without
	cur   *leaseConfig    // what it configured
}

func (c *dhcpClient) log(format string, args ...any) {
	c.logf("flotilla: DHCP on %s: "+format, append([]any{c.name}, args...)...)
}

// run is the client's life. first gets the boot outcome, exactly once.
func (c *dhcpClient) run(ctx context.Context, ns netns.NsHandle, first chan<- dhcpFirst) {
	reported := false
	report := func(f dhcpFirst) {
		if !reported {
			reported = true
			first <- f
		}
	}
	defer report(dhcpFirst{})
	if ns.IsOpen() {
		// Sockets and netlink requests are made in the current thread's
		// namespace. The thread is never unlocked: it ends with the client.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			c.log("enter network namespace: %v; no DHCP", err)
			return
		}
	}

	bctx, cancel := context.WithTimeout(ctx, dhcpBootTimeout)
	err := c.waitLinkUp(bctx)
	if err == nil {
		err = c.discover(bctx)
	}
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.discoverFailed(err)
	} else {
		f := dhcpFirst{up: &NetUp{Iface: c.name, Addr: c.cur.addr.String()}}
		for _, ip := range c.lease.ACK.DNS() {
			f.dns = append(f.dns, ip.String())
		}
		report(f)
	}
	report(dhcpFirst{})

	for {
		now := time.Now()
		act, at := c.pol.Next(now)
		if act == dhcpIdle {
			<-ctx.Done()
			return
		}
		if at.After(now) {
			t := time.NewTimer(at.Sub(now))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue // ask again: the clock may have jumped past a phase
		}
		if ctx.Err() != nil {
			return
		}
		switch act {
		case dhcpDiscover:
			if c.pol.backoff < dhcpBackoffMax {
				c.log("discovering")
			}
			dctx, cancel := context.WithTimeout(ctx, dhcpBootTimeout)
			err := c.discover(dctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				c.discoverFailed(err)
			}
		case dhcpRenew, dhcpRebind:
			c.request(ctx, act)
		case dhcpExpire:
			if c.cur != nil {
				c.log("lease on %s expired; address removed, rediscovering", c.cur.addr)
			}
			c.drop()
			c.pol.Lost(time.Now())
		}
	}
}

// discoverFailed backs off; once at the longest wait, it says so once and
// then stays quiet until a lease comes (a link on a network without DHCP
// would fill the console otherwise).
func (c *dhcpClient) discoverFailed(err error) {
	was := c.pol.backoff
	c.pol.DiscoverFailed(time.Now())
	switch {
	case c.pol.backoff < dhcpBackoffMax:
		c.log("no lease: %v; retrying in %s", err, c.pol.backoff)
	case was < dhcpBackoffMax:
		c.log("no lease: %v; retrying every %s, quietly", err, c.pol.backoff)
	}
}

// waitLinkUp waits for the link's carrier, setting it up again as u-root's
// dhclient did.
func (c *dhcpClient) waitLinkUp(ctx context.Context) error {
	deadline := time.Now().Add(dhcpLinkUp)
	for {
		l, err := netlink.LinkByIndex(c.link.Attrs().Index)
		if err != nil {
			return fmt.Errorf("link: %w", err)
		}
		if o := l.Attrs().OperState; o == netlink.OperUp || o == netlink.OperUnknown {
			c.link = l
			return nil
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("link up: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link still down after %s", dhcpLinkUp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// discover runs DISCOVER-OFFER-REQUEST-ACK on a raw socket (the link may
// have no address) and applies the lease.
func (c *dhcpClient) discover(ctx context.Context) error {
	client, err := nclient4.New(c.name, nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(dhcpTries))
	if err != nil {
		return err
	}
	defer client.Close()
	opts := dhcpv4.WithRequestedOptions(
		dhcpv4.OptionClasslessStaticRoute, dhcpv4.OptionIPAddressLeaseTime,
		dhcpv4.OptionRenewTimeValue, dhcpv4.OptionRebindingTimeValue)
	offer, err := client.DiscoverOffer(ctx, opts)
	if err != nil {
		return err
	}
	sent := time.Now() // the lease counts from the REQUEST (RFC 2131 4.4.1)
	lease, err := client.RequestFromOffer(ctx, offer, opts)
	if err != nil {
		return err
	}
	cfg := configOf(lease.ACK, nil)
	lt := leaseTimesOf(sent, lease.ACK)
	if err := c.apply(cfg, lt); err != nil {
		return err
	}
	c.lease = lease
	c.pol.Bound(lt)
	c.log("lease %s from %s for %s", cfg.addr, cfg.server, describeLease(lt))
	return nil
}

func describeLease(lt leaseTimes) string {
	if lt.infinite {
		return "ever"
	}
	return fmt.Sprintf("%s (renew at %s, rebind at %s)", lt.expiry, lt.t1, lt.t2)
}

// request sends a RENEW (unicast to the lease's server) or a REBIND
// (broadcast) from the leased address, waiting at most until the phase
// ends, and handles the answer.
func (c *dhcpClient) request(ctx context.Context, act dhcpAction) {
	lt := c.pol.lease
	ph := phaseRenewing
	if act == dhcpRebind {
		ph = phaseRebinding
	}
	dst := nclient4.DefaultServers
	if act == dhcpRenew && c.cur.server != nil {
		dst = &net.UDPAddr{IP: c.cur.server, Port: nclient4.ServerPort}
		c.log("renewing %s with %s", c.cur.addr.IP, dst.IP)
	} else {
		c.log("%s %s (broadcast)", map[dhcpAction]string{dhcpRenew: "renewing", dhcpRebind: "rebinding"}[act], c.cur.addr.IP)
	}
	c.pol.Sent(act)
	rctx, cancel := context.WithDeadline(ctx, lt.end(ph))
	defer cancel()
	sent := time.Now()
	lease, err := c.exchange(rctx, dst)
	if ctx.Err() != nil {
		return
	}
	var nak *nclient4.ErrNak
	switch {
	case errors.As(err, &nak):
		c.log("NAK (%q); dropping %s, rediscovering", nak.Nak.Message(), c.cur.addr)
		c.drop()
		c.pol.Lost(time.Now())
		return
	case err == nil:
		cfg := configOf(lease.ACK, c.lease.ACK)
		nlt := leaseTimesOf(sent, lease.ACK)
		if err = c.apply(cfg, nlt); err == nil {
			c.lease = lease
			c.pol.Bound(nlt)
			verb := "renewed"
			if act == dhcpRebind {
				verb = "rebound"
			}
			c.log("%s %s from %s for %s", verb, cfg.addr, cfg.server, describeLease(nlt))
			return
		}
	}
	now := time.Now()
	c.pol.NoAnswer(now)
	next, at := c.pol.Next(now)
	c.log("%s failed: %v; next: %s in %s", act, err, next, max(at.Sub(now), 0).Round(time.Millisecond))
}

// exchange sends a REQUEST for the lease from a UDP socket bound to the
// leased address (RFC 2131 4.3.2 RENEWING/REBINDING: ciaddr set, no server
// identifier) to dst: the lease's server (RENEW) or broadcast (REBIND, or a
// lease without a server identifier), and reads the ACK or NAK.
func (c *dhcpClient) exchange(ctx context.Context, dst *net.UDPAddr) (*nclient4.Lease, error) {
	client, err := nclient4.New(c.name,
		nclient4.WithUnicast(&net.UDPAddr{IP: c.cur.addr.IP, Port: nclient4.ClientPort}),
		nclient4.WithServerAddr(dst),
		nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(dhcpRequestTry))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if !dst.IP.Equal(net.IPv4bcast) {
		return client.Renew(ctx, c.lease) // checks the answer's server identifier
	}
	req, err := dhcpv4.NewRenewFromAck(c.lease.ACK, dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))
	if err != nil {
		return nil, err
	}
	resp, err := client.SendAndRead(ctx, dst, req, nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak))
	if err != nil {
		return nil, err
	}
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return nil, &nclient4.ErrNak{Offer: c.lease.Offer, Nak: resp}
	}
	// Any server may answer a broadcast: renew with this one next.
	return &nclient4.Lease{Offer: resp, ACK: resp, CreationTime: time.Now()}, nil
}

// apply configures cfg with the lease's lifetime: a changed address
// replaces the old one, routes the lease no longer names are removed.
func (c *dhcpClient) apply(cfg leaseConfig, lt leaseTimes) error {
	if c.cur != nil && c.cur.addr.String() != cfg.addr.String() {
		c.drop()
	}
	lft := lt.lifetime(time.Now())
	if err := netlink.AddrReplace(c.link, &netlink.Addr{IPNet: cfg.addr, ValidLft: lft, PreferedLft: lft}); err != nil {
		return fmt.Errorf("add %s: %w", cfg.addr, err)
	}
	keep := map[string]bool{}
	for _, r := range cfg.routes {
		keep[r.key()] = true
	}
	if c.cur != nil {
		for _, r := range c.cur.routes {
			if !keep[r.key()] {
				_ = netlink.RouteDel(c.route(r))
			}
		}
	}
	c.cur = &cfg
	for _, r := range cfg.routes {
		if err := netlink.RouteReplace(c.route(r)); err != nil {
			return fmt.Errorf("route %s: %w", r.key(), err)
		}
	}
	return nil
}

func (c *dhcpClient) route(r leaseRoute) *netlink.Route {
	nr := &netlink.Route{LinkIndex: c.link.Attrs().Index, Dst: r.dst, Gw: r.gw}
	if r.gw == nil {
		nr.Scope = netlink.SCOPE_LINK
	}
	return nr
}

// drop removes the lease's routes and address (the kernel may have dropped
// the address already) and forgets the lease.
func (c *dhcpClient) drop() {
	if c.cur != nil {
		for _, r := range c.cur.routes {
			_ = netlink.RouteDel(c.route(r))
		}
		_ = netlink.AddrDel(c.link, &netlink.Addr{IPNet: c.cur.addr})
	}
	c.cur, c.lease = nil, nil
}
