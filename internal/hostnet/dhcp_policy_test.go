package hostnet

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

const sec = time.Second

func TestNewLeaseTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		name              string
		lease, t1, t2     time.Duration
		wt1, wt2, wexpiry time.Duration
	}{
		{"defaults", 4 * sec, 0, 0, 2 * sec, 3500 * time.Millisecond, 4 * sec},
		{"server's T1 T2", 4 * sec, 2 * sec, 3 * sec, 2 * sec, 3 * sec, 4 * sec},
		{"T2 past the lease", 100 * sec, 50 * sec, 200 * sec, 50 * sec, 87500 * time.Millisecond, 100 * sec},
		{"T1 after T2", 100 * sec, 90 * sec, 60 * sec, 50 * sec, 60 * sec, 100 * sec},
		{"only T2, before lease/2", 100 * sec, 0, 30 * sec, 30 * sec, 30 * sec, 100 * sec},
		{"zero lease", 0, 0, 0, sec, 1750 * time.Millisecond, 2 * sec},
		{"tiny lease", time.Millisecond, 0, 0, sec, 1750 * time.Millisecond, 2 * sec},
		{"one second, T1 = T2 = lease", sec, sec, sec, sec, sec, 2 * sec},
		{"24 h", 24 * time.Hour, 0, 0, 12 * time.Hour, 21 * time.Hour, 24 * time.Hour},
		{"largest finite", dhcpInfinite - sec, 0, 0, (dhcpInfinite - sec) / 2, (dhcpInfinite - sec) / 8 * 7, dhcpInfinite - sec},
	} {
		l := newLeaseTimes(t0, c.lease, c.t1, c.t2)
		if l.infinite || l.t1 != c.wt1 || l.t2 != c.wt2 || l.expiry != c.wexpiry {
			t.Errorf("%s: T1 %v T2 %v lease %v (infinite %v); want %v %v %v", c.name, l.t1, l.t2, l.expiry, l.infinite, c.wt1, c.wt2, c.wexpiry)
		}
	}
	if l := newLeaseTimes(t0, dhcpInfinite, 0, 0); !l.infinite || l.phase(t0.Add(1000*time.Hour)) != phaseBound || l.lifetime(t0) != 0 {
		t.Errorf("infinite lease: %+v", l)
	}
}

func TestLeaseLifetime(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLeaseTimes(t0, 4*sec, 0, 0)
	for _, c := range []struct {
		after time.Duration
		want  int
	}{
		{0, 4}, {10 * time.Millisecond, 4}, {sec, 3}, {3900 * time.Millisecond, 1}, {4 * sec, 1}, {time.Hour, 1},
	} {
		if got := l.lifetime(t0.Add(c.after)); got != c.want {
			t.Errorf("lifetime %v into a 4 s lease = %d, want %d", c.after, got, c.want)
		}
	}
}

// step is one action the simulated client took, at an offset from the start.
type step struct {
	act dhcpAction
	at  time.Duration
}

func (s step) String() string { return fmt.Sprintf("%s@%v", s.act, s.at) }

// answer is a fake server: what an exchange started at now gets ('A' ACK,
// 'N' NAK, 0 nothing), when it ends, and the lease an ACK gives.
type answer func(a dhcpAction, now time.Time, deadline time.Time) (reply byte, end time.Time, lease time.Duration)

// simulate drives p as dhcpClient.run does, on a fake clock, for dur.
func simulate(p *dhcpPolicy, t0 time.Time, dur time.Duration, srv answer) []step {
	now := t0
	var steps []step
	for range 100000 {
		a, at := p.Next(now)
		if a == dhcpIdle {
			break
		}
		if at.After(now) {
			now = at
			continue
		}
		if now.Sub(t0) > dur {
			break
		}
		steps = append(steps, step{a, now.Sub(t0)})
		if a == dhcpExpire {
			p.Lost(now)
			continue
		}
		deadline := now.Add(dhcpBootTimeout)
		if a != dhcpDiscover {
			p.Sent(a)
			deadline = p.lease.end(map[dhcpAction]leasePhase{dhcpRenew: phaseRenewing, dhcpRebind: phaseRebinding}[a])
		}
		sent := now
		reply, end, lease := srv(a, now, deadline)
		now = end
		switch {
		case reply == 'A':
			p.Bound(newLeaseTimes(sent, lease, 0, 0))
		case reply == 'N' && a != dhcpDiscover:
			p.Lost(now)
		case a == dhcpDiscover:
			p.DiscoverFailed(now)
		default:
			p.NoAnswer(now)
		}
	}
	return steps
}

func ms(d float64) time.Duration { return time.Duration(d * float64(time.Second)) }

func TestDHCPPolicySchedule(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	silent := func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) { return 0, now, 0 }
	// silentUntilDeadline: the exchange waits for an answer until the phase's end.
	silentUntilDeadline := func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) {
		return 0, deadline, 0
	}
	acks := func(lease time.Duration) answer {
		return func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) {
			return 'A', now.Add(10 * time.Millisecond), lease
		}
	}
	for _, c := range []struct {
		name  string
		lease time.Duration
		dur   time.Duration
		srv   answer
		want  []step
	}{
		{
			// RFC 2131 4.4.5: retries after half the rest of the phase, no
			// sooner than 60 s, then the phase's end.
			name: "1 h lease, server gone", lease: time.Hour, dur: 3600*sec + 200*sec, srv: silent,
			want: []step{
				{dhcpRenew, 1800 * sec}, {dhcpRenew, 2475 * sec}, {dhcpRenew, ms(2812.5)}, {dhcpRenew, ms(2981.25)},
				{dhcpRenew, ms(3065.625)}, {dhcpRenew, ms(3125.625)},
				{dhcpRebind, 3150 * sec}, {dhcpRebind, 3375 * sec}, {dhcpRebind, ms(3487.5)}, {dhcpRebind, ms(3547.5)},
				{dhcpExpire, 3600 * sec},
				{dhcpDiscover, 3600 * sec}, {dhcpDiscover, 3601 * sec}, {dhcpDiscover, 3603 * sec}, {dhcpDiscover, 3607 * sec},
				{dhcpDiscover, 3615 * sec}, {dhcpDiscover, 3631 * sec}, {dhcpDiscover, 3663 * sec}, {dhcpDiscover, 3723 * sec},
				{dhcpDiscover, 3783 * sec},
			},
		},
		{
			name: "4 s lease, server gone, exchanges wait to the deadline", lease: 4 * sec, dur: 8 * sec, srv: silentUntilDeadline,
			want: []step{
				{dhcpRenew, 2 * sec}, {dhcpRebind, 3500 * time.Millisecond}, {dhcpExpire, 4 * sec}, {dhcpDiscover, 4 * sec},
			},
		},
		{
			name: "renewed at every T1", lease: 4 * sec, dur: 9 * sec, srv: acks(4 * sec),
			want: []step{{dhcpRenew, 2 * sec}, {dhcpRenew, 4 * sec}, {dhcpRenew, 6 * sec}, {dhcpRenew, 8 * sec}},
		},
		{
			name: "NAK on renew: discover at once", lease: 10 * sec, dur: 6 * sec,
			srv: func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) {
				if a == dhcpRenew {
					return 'N', now, 0
				}
				return 'A', now, 10 * sec
			},
			want: []step{{dhcpRenew, 5 * sec}, {dhcpDiscover, 5 * sec}},
		},
	} {
		var p dhcpPolicy
		p.Bound(newLeaseTimes(t0, c.lease, 0, 0))
		got := simulate(&p, t0, c.dur, c.srv)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

// TestDHCPPolicyNoSpin: whatever the lease time and the server, the client
// never takes more than a few actions a second.
func TestDHCPPolicyNoSpin(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	servers := map[string]func(lease time.Duration) answer{
		"acks at once": func(lease time.Duration) answer {
			return func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) { return 'A', now, lease }
		},
		"silent": func(time.Duration) answer {
			return func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) { return 0, now, 0 }
		},
		"NAKs renewals": func(lease time.Duration) answer {
			return func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) {
				if a == dhcpDiscover {
					return 'A', now, lease
				}
				return 'N', now, 0
			}
		},
		"NAKs everything": func(time.Duration) answer {
			return func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) { return 'N', now, 0 }
		},
		"answers late": func(lease time.Duration) answer {
			return func(a dhcpAction, now, deadline time.Time) (byte, time.Time, time.Duration) {
				return 'A', now.Add(3 * sec), lease
			}
		},
	}
	for name, mk := range servers {
		for _, lease := range []time.Duration{0, time.Millisecond, sec, 2 * sec, 3 * sec, time.Minute} {
			var p dhcpPolicy
			p.Bound(newLeaseTimes(t0, lease, 0, 0))
			steps := simulate(&p, t0, 10*time.Minute, mk(lease))
			if len(steps) == 0 {
				t.Errorf("%s, lease %v: no steps", name, lease)
			}
			for i := range steps {
				j := i
				for j < len(steps) && steps[j].at-steps[i].at < sec {
					j++
				}
				if j-i > 3 {
					t.Errorf("%s, lease %v: %d actions within a second: %v", name, lease, j-i, steps[i:j])
					break
				}
			}
		}
	}
}

func TestDHCPPolicyIdleOnInfiniteLease(t *testing.T) {
	var p dhcpPolicy
	p.Bound(newLeaseTimes(time.Unix(0, 0), dhcpInfinite, 0, 0))
	if a, _ := p.Next(time.Unix(1e9, 0)); a != dhcpIdle {
		t.Errorf("infinite lease: Next = %v, want idle", a)
	}
}

func TestNextBackoff(t *testing.T) {
	var d time.Duration
	var got []string
	for range 9 {
		d = nextBackoff(d)
		got = append(got, d.String())
	}
	if s := strings.Join(got, " "); s != "1s 2s 4s 8s 16s 32s 1m0s 1m0s 1m0s" {
		t.Errorf("backoff = %s", s)
	}
}

func TestConfigOf(t *testing.T) {
	ack := func(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		m, err := dhcpv4.New(append([]dhcpv4.Modifier{
			dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
			dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 2, 2))),
		}, mods...)...)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	_, dst, _ := net.ParseCIDR("192.168.7.0/24")
	str := func(c leaseConfig) string {
		var rs []string
		for _, r := range c.routes {
			rs = append(rs, r.key())
		}
		return fmt.Sprintf("%s server %s routes [%s]", c.addr, c.server, strings.Join(rs, ", "))
	}
	full := ack(dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)))
	for _, c := range []struct {
		name      string
		ack, prev *dhcpv4.DHCPv4
		want      string
	}{
		{"mask and router", full, nil, "10.0.2.15/24 server 10.0.2.2 routes [default via 10.0.2.2]"},
		{"no mask: class default", ack(), nil, "10.0.2.15/8 server 10.0.2.2 routes []"},
		{"renewal ACK without mask or routes keeps prev's", ack(), full, "10.0.2.15/24 server 10.0.2.2 routes [default via 10.0.2.2]"},
		{"new router", ack(dhcpv4.WithRouter(net.IPv4(10, 0, 2, 1))), full, "10.0.2.15/24 server 10.0.2.2 routes [default via 10.0.2.1]"},
		{"another address ignores prev", ack(dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 16))), full, "10.0.2.16/8 server 10.0.2.2 routes []"},
		{"classless routes win over routers", ack(
			dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
			dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)),
			dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
				&dhcpv4.Route{Dest: dst, Router: net.IPv4(10, 0, 2, 3)},
				&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(10, 9, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}, Router: net.IPv4zero},
			))), nil, "10.0.2.15/24 server 10.0.2.2 routes [192.168.7.0/24 via 10.0.2.3, 10.9.0.0/16 via <nil>]"},
	} {
		if got := str(configOf(c.ack, c.prev)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
