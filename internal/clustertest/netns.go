package clustertest

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// Netns is a network namespace joined to the host by a veth pair:
// HostIP on the host side, NsIP inside. Cut and Restore take the link down
// and up, which partitions whatever runs inside.
type Netns struct {
	Name, HostIf, HostIP, NsIP string
	t                          testing.TB
}

// NewNetns creates a namespace with a /30 link to the host; cleanup removes it.
func NewNetns(t testing.TB) *Netns {
	id := rand.IntN(200) + 20
	n := &Netns{Name: fmt.Sprintf("flt-test-%d", id), HostIf: fmt.Sprintf("flth%d", id),
		HostIP: fmt.Sprintf("10.213.%d.1", id), NsIP: fmt.Sprintf("10.213.%d.2", id), t: t}
	n.Delete() // leftovers of an earlier run
	steps := [][]string{
		{"netns", "add", n.Name},
		{"link", "add", n.HostIf, "type", "veth", "peer", "name", "eth0", "netns", n.Name},
		{"addr", "add", n.HostIP + "/30", "dev", n.HostIf},
		{"link", "set", n.HostIf, "up"},
		{"-n", n.Name, "addr", "add", n.NsIP + "/30", "dev", "eth0"},
		{"-n", n.Name, "link", "set", "eth0", "up"},
		{"-n", n.Name, "link", "set", "lo", "up"},
		// While the link is down its connected route is gone, and the
		// host would send the namespace's traffic out of its default
		// route, off this machine. A blackhole behind the connected route
		// drops it instead, as a cut cable does.
		{"route", "add", "blackhole", n.subnet(), "metric", "4000"},
	}
	t.Cleanup(n.Delete)
	for _, s := range steps {
		if out, err := n.ip(s...); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return n
}

func (n *Netns) ip(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	return string(out), err
}

// Cut takes the host end of the link down: nothing crosses.
func (n *Netns) Cut() {
	if out, err := n.ip("link", "set", n.HostIf, "down"); err != nil {
		n.t.Fatalf("cut %s: %v: %s", n.Name, err, out)
	}
}

// Restore brings the link back.
func (n *Netns) Restore() {
	if out, err := n.ip("link", "set", n.HostIf, "up"); err != nil {
		n.t.Fatalf("restore %s: %v: %s", n.Name, err, out)
	}
}

// subnet is the link's /30.
func (n *Netns) subnet() string {
	return strings.TrimSuffix(n.HostIP, ".1") + ".0/30"
}

// Delete removes the namespace, its link and the blackhole route.
func (n *Netns) Delete() {
	n.ip("link", "del", n.HostIf)
	n.ip("route", "del", "blackhole", n.subnet(), "metric", "4000")
	n.ip("netns", "del", n.Name)
}
