package clustertest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// lookupA asks a node's DNS for name's A records over UDP.
func lookupA(server, name string) ([]string, int, error) {
	c := &mdns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), mdns.TypeA)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, r.Rcode, nil
}

// TestDNSFailover: three fleetd nodes, each on its own loopback address
// serving DNS there. A unit runs on node B; node A's DNS answers its name
// with B's address. B is SIGKILLed; the name answers the unit's new home
// within a second of the unit being active there (the DNS TTL is 1 s).
func TestDNSFailover(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	var hosts []string
	ports := FreePorts(t, len(c.Nodes))
	dnsAddr := map[*Node]string{}
	for i, n := range c.Nodes {
		n.Host = fmt.Sprintf("127.0.0.%d", 21+i)
		hosts = append(hosts, n.Host)
		dnsAddr[n] = net.JoinHostPort(n.Host, fmt.Sprint(ports[i]))
		n.Extra = append(n.Extra, "--dns-listen", dnsAddr[n])
	}
	c.EnableTLS(hosts...)
	c.StartAll()
	c.WriteUnit("db.service", "[Service]\nExecStart=/bin/sleep 1000\n")
	c.MustFleetctl("start", "--no-block", "db.service")
	if err := WaitActive(c, []string{"db.service"}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	b := nodeOf(c, ActiveOn(st, "db.service")[0])
	var a *Node
	for _, n := range c.Nodes {
		if n != b {
			a = n
			break
		}
	}
	if err := testutil.Eventually(5*time.Second, func() error {
		got, _, err := lookupA(dnsAddr[a], "db.flotilla")
		if err != nil || len(got) != 1 || got[0] != b.Host {
			return fmt.Errorf("db.flotilla on %s's DNS: %v (%v), want %s", a.Name, got, err, b.Host)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, rcode, err := lookupA(dnsAddr[a], "nope.flotilla"); err != nil || rcode != mdns.RcodeNameError {
		t.Fatalf("nope.flotilla: rcode %d (%v), want NXDOMAIN", rcode, err)
	}
	out := c.MustFleetctl("list-services", "--no-legend", "--fields", "service,unit,address")
	if want := "db.flotilla\tdb.service\t" + b.Host; !strings.Contains(out, want) {
		t.Fatalf("list-services: %q, want a line %q", out, want)
	}

	// SIGKILL B: follow both the unit's state (through the API) and the
	// name (on A's DNS) until each shows the new home.
	killed := time.Now()
	c.Kill(b)
	var activeAt, dnsAt time.Time
	var newHost string
	deadline := killed.Add(60 * time.Second)
	lastState := time.Time{}
	for time.Now().Before(deadline) && (activeAt.IsZero() || dnsAt.IsZero()) {
		if dnsAt.IsZero() {
			if got, _, err := lookupA(dnsAddr[a], "db.flotilla"); err == nil && len(got) == 1 && got[0] != b.Host {
				dnsAt, newHost = time.Now(), got[0]
			}
		}
		if activeAt.IsZero() && time.Since(lastState) > 100*time.Millisecond {
			lastState = time.Now()
			if st, err := c.States(); err == nil {
				if on := ActiveOn(st, "db.service"); len(on) == 1 && on[0] != b.MachineID() {
					activeAt = time.Now()
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if activeAt.IsZero() || dnsAt.IsZero() {
		t.Fatalf("60 s after SIGKILL: active elsewhere at %v, DNS moved at %v", activeAt, dnsAt)
	}
	t.Logf("SIGKILL of %s: db.service active elsewhere after %s (seen through the API), db.flotilla on %s's DNS answers %s after %s",
		b.Name, activeAt.Sub(killed).Round(time.Millisecond), a.Name, newHost, dnsAt.Sub(killed).Round(time.Millisecond))
	if lag := dnsAt.Sub(activeAt); lag > time.Second {
		t.Errorf("DNS moved %s after the unit was active elsewhere, want within 1 s", lag)
	}
	st, err = c.States()
	if err != nil {
		t.Fatal(err)
	}
	if on := ActiveOn(st, "db.service"); len(on) != 1 || nodeOf(c, on[0]).Host != newHost {
		t.Errorf("DNS answers %s, the unit is active on %v", newHost, on)
	}
}
