package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestNameFailover (issue 10, point 4): a container on n1 fetches a page
// by name from a busybox httpd container on another node, over the cluster
// network; that node is SIGKILLed; the same request by name succeeds
// again, served from the unit's new home. With both backends.
func TestNameFailover(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	testenv.NeedCommand(t, "nsenter")
	for _, backend := range []string{"host-gw", "vxlan"} {
		t.Run(backend, func(t *testing.T) { nameFailover(t, backend) })
	}
}

func nameFailover(t *testing.T, backend string) {
	c, _, ref := NetCluster(t, 3, backend)
	// web runs on n2 or n3 and says which machine serves it (%m).
	c.WriteUnit("web.service", fmt.Sprintf("[Container]\nImage=%s\n"+
		"Exec=/bin/sh -c 'mkdir -p /tmp/www && echo served-by-%%m > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www'\n"+
		"[X-Fleet]\nMachineMetadata=node=n2\nMachineMetadata=node=n3\n", ref))
	c.MustFleetctl("start", "web.service")
	// The client asks for "web" before every request: the search domain of
	// its resolv.conf makes it web.flotilla, answered by n1's fleetd at the
	// bridge gateway. (busybox-static's wget resolves names through
	// glibc's NSS, which a static binary cannot load, and crashes, as it
	// does with -T: nslookup resolves and timeout bounds each request.)
	c.WriteUnit("client.service", fmt.Sprintf("[Container]\nImage=%s\n"+
		"Exec=/bin/sh -c 'while :; do ip=$(nslookup web 2>/dev/null | sed -n \"s/^Address: //p\" | tail -n 1); "+
		"timeout 1 wget -q -O - http://$ip/ 2>&1 || echo fetch-failed $ip; sleep 0.2; done'\n"+
		"[X-Fleet]\nMachineMetadata=node=n1\n", ref))
	c.MustFleetctl("start", "client.service")
	if testing.Verbose() {
		t.Cleanup(func() {
			for _, u := range []string{"client.service", "web.service"} {
				out, _, _ := c.Fleetctl("journal", "--lines", "400", u)
				t.Logf("%s:\n%s", u, out)
			}
			out, _, _ := c.Fleetctl("list-units")
			t.Logf("%s", out)
		})
	}
	first := waitJournal(t, c, "client.service", "served-by-")
	var victim *Node
	for _, n := range c.Nodes {
		if strings.Contains(first, "served-by-"+n.MachineID()) {
			victim = n
		}
	}
	if victim == nil || victim == c.Nodes[0] {
		t.Fatalf("web is served by none of n2, n3:\n%s", first)
	}
	var survivor *Node
	for _, n := range c.Nodes[1:] {
		if n != victim {
			survivor = n
		}
	}
	want := "served-by-" + survivor.MachineID()

	killed := time.Now()
	c.Kill(victim)
	var moved, served time.Duration
	err := testutil.EventuallyEvery(50*time.Millisecond, 30*time.Second, func() error {
		if moved == 0 {
			st, err := c.States()
			if err == nil && len(ActiveOn(st, "web.service")) == 1 && ActiveOn(st, "web.service")[0] == survivor.MachineID() {
				moved = time.Since(killed)
			}
		}
		out, _, err := c.Fleetctl("journal", "--lines", "5", "client.service")
		if err != nil {
			return err
		}
		if !strings.Contains(out, want) {
			return fmt.Errorf("the client has not been served by %s yet:\n%s", survivor.Name, out)
		}
		if served == 0 {
			served = time.Since(killed)
		}
		if moved == 0 {
			return fmt.Errorf("served from %s before the API shows web active there", survivor.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: SIGKILL of %s; web active on %s after %s, a request by name served from there after %s",
		backend, victim.Name, survivor.Name, moved.Round(time.Millisecond), served.Round(time.Millisecond))
	// The journal is polled every 50 ms plus a fleetctl run, the client
	// asks every 0.2 s, and a request to the dead address times out in 1 s.
	if served > moved+2500*time.Millisecond {
		t.Errorf("clients saw the move %s after the unit did (%s then %s); want within 2.5 s", served-moved, moved, served)
	}
}
