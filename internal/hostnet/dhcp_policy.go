package hostnet

import (
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// The DHCPv4 lease policy (RFC 2131 4.4.5): when to renew, rebind, give a
// lease up and rediscover. It is pure (no sockets, no clock of its own), so
// it is tested with a fake clock; dhcp.go does the socket work.

const (
	// dhcpMinWait is the shortest wait anywhere: T1 and the first
	// rediscovery backoff are never shorter, so a zero or tiny lease time
	// cannot spin.
	dhcpMinWait = time.Second
	// dhcpMinLease is the shortest lease honoured (T1 = lease/2 >= dhcpMinWait).
	dhcpMinLease = 2 * dhcpMinWait
	// dhcpRetryWait is RFC 2131 4.4.5's floor between retransmissions
	// within RENEWING or REBINDING, unless T2 or the expiry is nearer.
	dhcpRetryWait = 60 * time.Second
	// dhcpBackoffMax caps the wait between failed discoveries.
	dhcpBackoffMax = 60 * time.Second
	// dhcpInfinite is option 51's "infinite" (0xffffffff seconds).
	dhcpInfinite = time.Duration(0xffffffff) * time.Second
)

// leasePhase is where a lease is in its life (RFC 2131 figure 5).
type leasePhase int

const (
	phaseBound     leasePhase = iota // before T1
	phaseRenewing                    // T1..T2: unicast REQUEST to the server
	phaseRebinding                   // T2..expiry: broadcast REQUEST
	phaseExpired                     // the address is no longer ours
)

func (p leasePhase) String() string {
	return [...]string{"bound", "renewing", "rebinding", "expired"}[p]
}

// leaseTimes is a lease's schedule, counted from start: when the REQUEST
// that won it was sent (RFC 2131 4.4.1).
type leaseTimes struct {
	start          time.Time
	t1, t2, expiry time.Duration
	infinite       bool
}

// newLeaseTimes applies the RFC's defaults to missing or inconsistent
// T1/T2 (T1 = lease/2, T2 = 7/8 lease, T1 <= T2 < lease) and floors the
// lease at dhcpMinLease.
func newLeaseTimes(start time.Time, lease, t1, t2 time.Duration) leaseTimes {
	if lease >= dhcpInfinite {
		return leaseTimes{start: start, infinite: true}
	}
	if lease < dhcpMinLease {
		lease = dhcpMinLease
	}
	if t2 <= 0 || t2 >= lease {
		t2 = lease / 8 * 7
	}
	if t1 <= 0 || t1 > t2 {
		t1 = min(lease/2, t2)
	}
	t1 = max(t1, dhcpMinWait)
	t2 = max(t2, t1)
	return leaseTimes{start: start, t1: t1, t2: t2, expiry: lease}
}

// leaseTimesOf reads option 51 (no lease time: one hour, renewed as any
// other), 58 and 59 from an ACK.
func leaseTimesOf(start time.Time, ack *dhcpv4.DHCPv4) leaseTimes {
	return newLeaseTimes(start, ack.IPAddressLeaseTime(time.Hour), ack.IPAddressRenewalTime(0), ack.IPAddressRebindingTime(0))
}

func (l leaseTimes) at(d time.Duration) time.Time { return l.start.Add(d) }

func (l leaseTimes) phase(now time.Time) leasePhase {
	d := now.Sub(l.start)
	switch {
	case l.infinite || d < l.t1:
		return phaseBound
	case d < l.t2:
		return phaseRenewing
	case d < l.expiry:
		return phaseRebinding
	}
	return phaseExpired
}

// end is when phase p gives way to the next one.
func (l leaseTimes) end(p leasePhase) time.Time {
	switch p {
	case phaseBound:
		return l.at(l.t1)
	case phaseRenewing:
		return l.at(l.t2)
	}
	return l.at(l.expiry)
}

// lifetime is the address's valid and preferred lifetime in whole seconds
// at now: the rest of the lease, rounded up (the kernel then drops it at
// most a second after the lease ends; the client drops it at the end), at
// least 1. 0 (forever) only for an infinite lease.
func (l leaseTimes) lifetime(now time.Time) int {
	if l.infinite {
		return 0
	}
	rest := l.at(l.expiry).Sub(now)
	s := int((rest + time.Second - 1) / time.Second)
	return max(s, 1)
}

// dhcpAction is what a DHCP client does next.
type dhcpAction int

const (
	dhcpIdle     dhcpAction = iota // nothing, ever (infinite lease)
	dhcpDiscover                   // no lease: DISCOVER/REQUEST, broadcast
	dhcpRenew                      // REQUEST unicast to the lease's server
	dhcpRebind                     // REQUEST broadcast, any server
	dhcpExpire                     // drop the address, then discover
)

func (a dhcpAction) String() string {
	return [...]string{"idle", "discover", "renew", "rebind", "expire"}[a]
}

func actionFor(p leasePhase) dhcpAction {
	switch p {
	case phaseRenewing:
		return dhcpRenew
	case phaseRebinding:
		return dhcpRebind
	case phaseExpired:
		return dhcpExpire
	}
	return dhcpIdle
}

// dhcpPolicy is one link's client state. The client asks Next what to do
// and when, does it at that time, and reports the outcome.
type dhcpPolicy struct {
	bound      bool
	lease      leaseTimes
	sent       leasePhase    // phase of the last REQUEST for this lease (bound: none yet)
	failed     time.Time     // when that REQUEST went unanswered
	backoff    time.Duration // last wait between failed discoveries
	discoverAt time.Time     // no lease: when to discover (zero: at once)
}

// Next returns the action and when to do it (at or before now: at once).
// Without a lease: discover, after the backoff. With one: renew at T1,
// rebind at T2, expire at the end; the first REQUEST of a phase goes at
// once, a retry after half the rest of the phase but no sooner than
// dhcpRetryWait, or at the phase's end if that is nearer.
func (p *dhcpPolicy) Next(now time.Time) (dhcpAction, time.Time) {
	if !p.bound {
		return dhcpDiscover, p.discoverAt
	}
	l := p.lease
	if l.infinite {
		return dhcpIdle, time.Time{}
	}
	ph := l.phase(now)
	switch {
	case ph == phaseExpired:
		return dhcpExpire, l.at(l.expiry)
	case ph == phaseBound:
		return dhcpRenew, l.at(l.t1)
	case ph != p.sent:
		return actionFor(ph), now
	}
	from := p.failed
	if from.Before(l.start) { // no outcome reported: count from now
		from = now
	}
	end := l.end(ph)
	rest := end.Sub(from)
	at := from.Add(max(rest/2, dhcpRetryWait))
	if !at.Before(end) {
		at = end
	}
	return actionFor(l.phase(at)), at
}

// Sent records a REQUEST sent for the lease (dhcpRenew or dhcpRebind).
func (p *dhcpPolicy) Sent(a dhcpAction) {
	switch a {
	case dhcpRenew:
		p.sent = phaseRenewing
	case dhcpRebind:
		p.sent = phaseRebinding
	}
}

// NoAnswer records that the last REQUEST went unanswered (or its ACK could
// not be applied) at now.
func (p *dhcpPolicy) NoAnswer(now time.Time) { p.failed = now }

// Bound records a lease won or extended by an ACK.
func (p *dhcpPolicy) Bound(l leaseTimes) {
	*p = dhcpPolicy{bound: true, lease: l}
}

// Lost records a NAK or the lease's end at now: discover at once.
func (p *dhcpPolicy) Lost(now time.Time) {
	*p = dhcpPolicy{discoverAt: now}
}

// DiscoverFailed records a discovery without a lease at now: the next one
// waits 1 s, doubling to dhcpBackoffMax.
func (p *dhcpPolicy) DiscoverFailed(now time.Time) {
	p.backoff = nextBackoff(p.backoff)
	p.discoverAt = now.Add(p.backoff)
}

func nextBackoff(d time.Duration) time.Duration {
	if d < dhcpMinWait {
		return dhcpMinWait
	}
	return min(2*d, dhcpBackoffMax)
}

// leaseRoute is one route a lease installs; a nil dst is the default route,
// a nil gw an on-link route.
type leaseRoute struct {
	dst *net.IPNet
	gw  net.IP
}

func (r leaseRoute) key() string {
	d := "default"
	if r.dst != nil {
		d = r.dst.String()
	}
	return d + " via " + r.gw.String()
}

// leaseConfig is what an ACK configures on its link.
type leaseConfig struct {
	addr   *net.IPNet
	routes []leaseRoute
	server net.IP // option 54; nil when missing
}

// configOf reads an ACK. prev is the ACK it renews, or nil: a renewal ACK
// for the same address that leaves out the mask or every routing option
// (RFC 2131 lets some servers do so) keeps prev's. Classless static routes
// (option 121) win over routers (option 3), as RFC 3442 says.
func configOf(ack, prev *dhcpv4.DHCPv4) leaseConfig {
	if prev != nil && !prev.YourIPAddr.Equal(ack.YourIPAddr) {
		prev = nil
	}
	mask := ack.SubnetMask()
	if mask == nil && prev != nil {
		mask = prev.SubnetMask()
	}
	if mask == nil {
		mask = ack.YourIPAddr.DefaultMask()
	}
	src := ack
	if prev != nil && ack.Options.Get(dhcpv4.OptionClasslessStaticRoute) == nil && ack.Options.Get(dhcpv4.OptionRouter) == nil {
		src = prev
	}
	var routes []leaseRoute
	if rs := src.ClasslessStaticRoute(); rs != nil {
		for _, rt := range rs {
			r := leaseRoute{dst: rt.Dest, gw: rt.Router}
			if r.gw.Equal(net.IPv4zero) {
				r.gw = nil
			}
			routes = append(routes, r)
		}
	} else if gw := src.Router(); len(gw) > 0 {
		routes = append(routes, leaseRoute{gw: gw[0]})
	}
	return leaseConfig{
		addr:   &net.IPNet{IP: ack.YourIPAddr.To4(), Mask: mask},
		routes: routes,
		server: ack.ServerIdentifier(),
	}
}
