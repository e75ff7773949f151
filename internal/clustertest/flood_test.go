package clustertest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestFloodKeepsNodeUp: 20,000 connections that never finish a TLS
// handshake, held by processes running as nobody against the API's TCP
// port and 20,000 more against etcd's client port, for longer than both
// handshake timeouts. fleetd stays up, its unit keeps its pid, and a
// legitimate client opening a new TLS connection per request is served
// throughout. Before the connection caps, fleetd's 20,000 descriptors ran
// out and the client could not even connect.
func TestFloodKeepsNodeUp(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	c := New(t, 1, 0)
	c.EnableTLS()
	c.StartAll()
	node := c.Nodes[0]
	c.WriteUnit("flood.service", "[Service]\nExecStart=/bin/sleep 100000\n")
	c.MustFleetctl("start", "flood.service")
	pid := unitPID(t, c, "flood.service")
	cl := c.FreshConnClient(20 * time.Second)
	url := c.Endpoint(node) + "/fleet/v1/machines"
	if err := Get(cl, url); err != nil {
		t.Fatalf("before the flood: %v", err)
	}

	api := StartFlood(t, fmt.Sprintf("127.0.0.1:%d", node.APIPort), Floods)
	etcd := StartFlood(t, fmt.Sprintf("127.0.0.1:%d", node.ClientPort), Floods)
	// The flooders run at nice 19: on a loaded CI host they may take a
	// while to open their first 20,000. Measure once they have.
	ramp := time.Now()
	for api.Connected() < Floods || etcd.Connected() < Floods {
		if time.Since(ramp) > 2*time.Minute {
			t.Fatalf("the flooders opened only %d (API) and %d (etcd) connections in %v; the test needs %d each to mean anything: API %q, etcd %q",
				api.Connected(), etcd.Connected(), time.Since(ramp).Round(time.Second), Floods, api.Status(), etcd.Status())
		}
		time.Sleep(time.Second)
	}
	t.Logf("the flood is up after %v", time.Since(ramp).Round(time.Second))
	start := time.Now()
	cpu0 := TreeCPUTime(node.PID())
	var served int
	var failures []string
	var took []time.Duration
	for time.Since(start) < 40*time.Second {
		t0 := time.Now()
		if err := Get(cl, url); err != nil {
			failures = append(failures, fmt.Sprintf("at %v: %v", t0.Sub(start).Round(time.Second), err))
		} else {
			served++
			took = append(took, time.Since(t0).Round(time.Millisecond))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("flood: API flooders %q, etcd flooders %q", api.Status(), etcd.Status())
	t.Logf("%d requests served in %v, taking %v; fleetd used %v of CPU, the flooders %v", served, time.Since(start).Round(time.Second), took,
		TreeCPUTime(node.PID())-cpu0, api.CPUTime()+etcd.CPUTime())
	if log := tailLog(c, node); strings.Contains(log, "too many open files") {
		t.Errorf("fleetd ran out of descriptors:\n%s", log)
	}
	for name, f := range map[string]*Flood{"API": api, "etcd": etcd} {
		if n := f.Connected(); n < Floods {
			t.Errorf("the %s flooders connected %d times; the test needs at least %d to mean anything", name, n, Floods)
		}
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the flood:\n%s", len(failures), len(failures)+served, strings.Join(failures, "\n"))
	}
	if len(Alive(append(Descendants(node.PID()), node.PID()))) < 3 {
		t.Fatalf("fleetd exited during the flood; its log:\n%s", tailLog(c, node))
	}
	api.Stop()
	etcd.Stop()
	if got := unitPID(t, c, "flood.service"); got != pid {
		t.Errorf("flood.service: pid %d before the flood, %d after: it was restarted", pid, got)
	}
	if err := Get(cl, url); err != nil {
		t.Errorf("after the flood: %v", err)
	}
}

// unitPID waits for unit to be active and returns its main pid.
func unitPID(t *testing.T, c *Cluster, unit string) int {
	t.Helper()
	var pid int
	err := testutil.Eventually(30*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, s := range st[unit] {
			if s.SystemdActiveState == "active" && s.PID > 0 {
				pid = s.PID
				return nil
			}
		}
		return fmt.Errorf("%s not active with a pid: %+v", unit, st[unit])
	})
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// tailLog is the end of the node's log, without the lines that repeat
// under a flood (a handshake error per connection).
func tailLog(c *Cluster, n *Node) string {
	b, _ := os.ReadFile(c.Dir + "/" + n.Name + ".log")
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, "TLS handshake error") {
			keep = append(keep, l)
		}
	}
	return string(tail([]byte(strings.Join(keep, "\n")), 4000))
}
