package clustertest

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// Switch is a network namespace holding a bridge that the host and every
// attached node's own namespace are plugged into: one segment
// 10.214.<id>.0/24, the host at .1 and node i at .(10+i). Cut takes a
// node's port on the bridge down, so that node hears nobody and nobody,
// the host included, hears it; any node may be cut, etcd's raft leader
// too. Nothing crosses the host's forwarding or firewall.
type Switch struct {
	Name   string
	id     int
	hostIf string
	ports  map[*Node]string
	spaces []string
	t      testing.TB
}

// NewSwitch creates the switch and the host's port; cleanup removes it
// and every node namespace attached.
func NewSwitch(t testing.TB) *Switch {
	t.Helper()
	id := rand.IntN(200) + 20
	s := &Switch{Name: fmt.Sprintf("flt-sw-%d", id), id: id, hostIf: fmt.Sprintf("fltsw%d", id), ports: map[*Node]string{}, t: t}
	s.delete(3) // leftovers of an earlier run
	t.Cleanup(s.Delete)
	s.do([][]string{
		{"netns", "add", s.Name},
		{"-n", s.Name, "link", "add", "br0", "type", "bridge"},
		{"-n", s.Name, "link", "set", "br0", "up"},
		{"link", "add", s.hostIf, "type", "veth", "peer", "name", "host", "netns", s.Name},
		{"-n", s.Name, "link", "set", "host", "master", "br0", "up"},
		{"addr", "add", s.HostIP() + "/24", "dev", s.hostIf},
		{"link", "set", s.hostIf, "up"},
	})
	return s
}

// HostIP is the host's address on the switch.
func (s *Switch) HostIP() string { return fmt.Sprintf("10.214.%d.1", s.id) }

func (s *Switch) do(steps [][]string) {
	s.t.Helper()
	for _, st := range steps {
		if out, err := exec.Command("ip", st...).CombinedOutput(); err != nil {
			s.t.Fatalf("ip %s: %v: %s", strings.Join(st, " "), err, out)
		}
	}
}

// Attach gives each node (not started yet) a namespace of its own plugged
// into the switch, and returns their addresses for EnableTLS.
func (s *Switch) Attach(nodes ...*Node) []string {
	s.t.Helper()
	var ips []string
	for _, n := range nodes {
		i := len(s.ports) + 1
		ns, port, ip := fmt.Sprintf("flt-%d-%s", s.id, n.Name), fmt.Sprintf("p%d", i), fmt.Sprintf("10.214.%d.%d", s.id, 10+i)
		s.spaces = append(s.spaces, ns)
		s.do([][]string{
			{"netns", "add", ns},
			{"-n", s.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"-n", s.Name, "link", "set", port, "master", "br0", "up"},
			{"-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
			{"-n", ns, "link", "set", "lo", "up"},
		})
		s.ports[n] = port
		n.Netns, n.Host = ns, ip
		ips = append(ips, ip)
	}
	return ips
}

// Cut takes n's port down: nothing reaches it or leaves it.
func (s *Switch) Cut(n *Node) { s.link(n, "down") }

// Heal brings n's port back up.
func (s *Switch) Heal(n *Node) { s.link(n, "up") }

func (s *Switch) link(n *Node, state string) {
	s.t.Helper()
	port, ok := s.ports[n]
	if !ok {
		s.t.Fatalf("%s is not attached to switch %s", n.Name, s.Name)
	}
	s.do([][]string{{"-n", s.Name, "link", "set", port, state}})
}

// Delete removes the switch, its host port and the nodes' namespaces.
func (s *Switch) Delete() { s.delete(len(s.ports)) }

func (s *Switch) delete(nodes int) {
	exec.Command("ip", "link", "del", s.hostIf).Run()
	exec.Command("ip", "netns", "del", s.Name).Run()
	for _, ns := range s.spaces {
		exec.Command("ip", "netns", "del", ns).Run()
	}
	for i := 1; i <= nodes; i++ {
		exec.Command("ip", "netns", "del", fmt.Sprintf("flt-%d-n%d", s.id, i)).Run()
	}
}
