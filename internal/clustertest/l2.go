package clustertest

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/testutil"
)

// L2 is one Ethernet segment for nodes in network namespaces: a bridge in
// a hub namespace of its own (so the host's netfilter never sees the
// bridged frames), one namespace per node with eth0 on the segment, and a
// veth from the host, so the test process reaches every node. Addresses
// are 10.214.<id>.<i+1>/24 for the nodes and .254 for the host.
type L2 struct {
	Hub, HostIf, HostIP string
	Nodes               []L2Node
	t                   testing.TB
	prefix              string
}

// L2Node is one node's namespace on the segment.
type L2Node struct {
	Netns, IP string
}

// NewL2 creates the segment with n node namespaces; cleanup removes it all.
func NewL2(t testing.TB, n int) *L2 {
	t.Helper()
	id := rand.IntN(200) + 20
	l := &L2{Hub: fmt.Sprintf("flt-l2-%d", id), HostIf: fmt.Sprintf("fltl2h%d", id), t: t,
		prefix: fmt.Sprintf("10.214.%d.", id)}
	l.HostIP = l.prefix + "254"
	for i := range n {
		l.Nodes = append(l.Nodes, L2Node{Netns: fmt.Sprintf("%s-n%d", l.Hub, i+1), IP: fmt.Sprintf("%s%d", l.prefix, i+1)})
	}
	l.Delete() // leftovers of an earlier run
	t.Cleanup(l.Delete)
	steps := [][]string{
		{"netns", "add", l.Hub},
		{"-n", l.Hub, "link", "add", "br0", "type", "bridge"},
		{"-n", l.Hub, "link", "set", "br0", "up"},
		{"-n", l.Hub, "link", "set", "lo", "up"},
		{"link", "add", l.HostIf, "type", "veth", "peer", "name", "host", "netns", l.Hub},
		{"-n", l.Hub, "link", "set", "host", "master", "br0", "up"},
		{"addr", "add", l.HostIP + "/24", "dev", l.HostIf},
		{"link", "set", l.HostIf, "up"},
	}
	for i, nd := range l.Nodes {
		port := fmt.Sprintf("n%d", i+1)
		steps = append(steps,
			[]string{"netns", "add", nd.Netns},
			[]string{"-n", l.Hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", nd.Netns},
			[]string{"-n", l.Hub, "link", "set", port, "master", "br0", "up"},
			[]string{"-n", nd.Netns, "addr", "add", nd.IP + "/24", "dev", "eth0"},
			[]string{"-n", nd.Netns, "link", "set", "eth0", "up"},
			[]string{"-n", nd.Netns, "link", "set", "lo", "up"},
			// The host's registry and anything else off the segment.
			[]string{"-n", nd.Netns, "route", "add", "default", "via", l.HostIP},
		)
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return l
}

// Delete removes the namespaces (their links go with them) and the host's veth.
func (l *L2) Delete() {
	_ = exec.Command("ip", "link", "del", l.HostIf).Run()
	for _, nd := range l.Nodes {
		_ = exec.Command("ip", "netns", "del", nd.Netns).Run()
	}
	_ = exec.Command("ip", "netns", "del", l.Hub).Run()
}

// IPs are the nodes' addresses, for EnableTLS.
func (l *L2) IPs() []string {
	var out []string
	for _, nd := range l.Nodes {
		out = append(out, nd.IP)
	}
	return out
}

// Place puts the cluster's nodes, in order, on the segment (one namespace
// each); call before StartAll.
func (l *L2) Place(c *Cluster) {
	for i, n := range c.Nodes {
		n.Netns, n.Host = l.Nodes[i].Netns, l.Nodes[i].IP
	}
}

// In runs a command in a namespace (nsenter --net, as fleetd is started)
// and returns its combined output.
func In(netns string, name string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + netns, name}, args...)...).CombinedOutput()
	return string(out), err
}

var aliasRE = regexp.MustCompile(`alias flotilla ip=(\S+) pid=\d+ unit=(\S+)`)

// ContainerIP is the bridge address of a unit's container on the node in
// netns, read from the host-side veth's alias netbridge writes ("" if the
// unit has no container there).
func ContainerIP(t testing.TB, netns, unit string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", netns, "-d", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s link: %v: %s", netns, err, out)
	}
	for _, m := range aliasRE.FindAllStringSubmatch(string(out), -1) {
		if m[2] == unit {
			return m[1]
		}
	}
	return ""
}

// NetCluster starts n fleetd members on one L2 segment with the cluster
// network on backend, each with --metadata node=nI, serving a busybox
// image (BusyboxAll) and any others (repo → image) from the host; it
// returns the busybox image's reference (the others are at the same host).
func NetCluster(t testing.TB, n int, backend string, images ...map[string]v1.Image) (*Cluster, *L2, string) {
	t.Helper()
	l2 := NewL2(t, n)
	imgs := map[string]v1.Image{"test/busybox:1": BusyboxAll(t)}
	for _, m := range images {
		for k, v := range m {
			imgs[k] = v
		}
	}
	host := ServeImages(t, l2.HostIP+":0", imgs)
	var md []string
	for i := range n {
		md = append(md, fmt.Sprintf("node=n%d", i+1))
	}
	c := New(t, n, 0, md...)
	c.EnableTLS(l2.IPs()...)
	l2.Place(c)
	for _, nd := range c.Nodes {
		nd.Extra = []string{"--bridge-subnet", "auto", "--network-backend", backend, "--insecure-registry", host}
	}
	c.StartAll()
	return c, l2, host + "/test/busybox:1"
}

// WaitContainerIP waits for a unit's container on the node in netns and
// returns its address.
func WaitContainerIP(t testing.TB, netns, unit string) string {
	t.Helper()
	var ip string
	if err := testutil.Eventually(60*time.Second, func() error {
		if ip = ContainerIP(t, netns, unit); ip == "" {
			return fmt.Errorf("no container of %s in %s", unit, netns)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ip
}
