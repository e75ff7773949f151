//go:build linux

package netbridge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestMain checks the tests left the host's own namespace as they found it.
func TestMain(m *testing.M) {
	before := hostState()
	code := m.Run()
	if after := hostState(); after != before {
		fmt.Fprintf(os.Stderr, "netbridge tests changed the host network namespace:\nbefore: %s\nafter:  %s\n", before, after)
		code = 1
	}
	os.Exit(code)
}

// ownVeth matches the host-side veth names this package makes.
var ownVeth = regexp.MustCompile(`^flt[0-9a-f]{8}$`)

// hostState summarizes what these tests could wrongly leave on the host:
// our bridge and veths, ip_forward, our nft table, our named netns (all
// read-only queries). Other packages' tests run at the same time (go test
// ./... runs packages in parallel) and make their own links and netns, so
// only names of ours count.
func hostState() string {
	if os.Geteuid() != 0 {
		return ""
	}
	var b strings.Builder
	links, _ := netlink.LinkList()
	for _, l := range links {
		if name := l.Attrs().Name; name == DefaultBridge || ownVeth.MatchString(name) {
			fmt.Fprintf(&b, "%s ", name)
		}
	}
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	fmt.Fprintf(&b, "ip_forward=%s ", strings.TrimSpace(string(fwd)))
	if c, err := nftables.New(); err == nil {
		tables, _ := c.ListTables()
		for _, t := range tables {
			if t.Name == TableName {
				fmt.Fprintf(&b, "table=%s ", t.Name)
			}
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	var ours []string
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, fmt.Sprintf("fltt-%d-", os.Getpid())) {
			ours = append(ours, f)
		}
	}
	fmt.Fprintf(&b, "netns=[%s]", strings.Join(ours, " "))
	return b.String()
}

func needNetNS(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	testenv.NeedCommand(t, "sleep")
	testenv.NeedCommand(t, "nsenter")
}

// node is a "node" netns joined by a veth to an "outside" netns:
// node 192.0.2.1/24 on vout <-> 192.0.2.2/24 in outside. The outside has no
// route to the container subnet, so only masqueraded traffic gets answers.
type node struct {
	node, outside *testNS
	cfg           Config
}

const (
	nodeIP    = "192.0.2.1"
	outsideIP = "192.0.2.2"
)

func newNode(t *testing.T) *node {
	t.Helper()
	nd, out := newNS(t, "node"), newNS(t, "out")
	run(t, "ip", "-n", nd.name, "link", "add", "vout", "type", "veth", "peer", "name", "vin", "netns", out.name)
	run(t, "ip", "-n", nd.name, "addr", "add", nodeIP+"/24", "dev", "vout")
	run(t, "ip", "-n", nd.name, "link", "set", "vout", "up")
	run(t, "ip", "-n", out.name, "addr", "add", outsideIP+"/24", "dev", "vin")
	run(t, "ip", "-n", out.name, "link", "set", "vin", "up")
	return &node{node: nd, outside: out, cfg: Config{Logf: t.Logf}}
}

func (nd *node) setup(t *testing.T) *Network {
	t.Helper()
	var nw *Network
	if err := inNS(nd.node.h, func() (err error) { nw, err = Setup(nd.cfg); return err }); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { nw.Close() })
	return nw
}

// rules lists the rules of a chain of the flotilla table in the node.
func (nd *node) rules(t *testing.T, chain string) []*nftables.Rule {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(nd.node.h)))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.GetRules(table(), &nftables.Chain{Name: chain, Table: table()})
	if err != nil {
		t.Fatalf("list chain %s: %v", chain, err)
	}
	return rs
}

func (nd *node) dnatVeths(t *testing.T) []string {
	var vs []string
	for _, r := range nd.rules(t, chainPublished) {
		v, _, _ := parseDNATTag(r.UserData)
		vs = append(vs, v)
	}
	return vs
}

func (nd *node) hasLink(t *testing.T, name string) bool {
	t.Helper()
	err := exec.Command("ip", "-n", nd.node.name, "link", "show", name).Run()
	return err == nil
}

func attach(t *testing.T, nw *Network, unit string, c *container, ports ...PortMapping) *Endpoint {
	t.Helper()
	ep, err := nw.Attach(unit, c.pid, ports)
	if err != nil {
		t.Fatalf("Attach(%s): %v", unit, err)
	}
	return ep
}

func TestBridge(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)

	c1, c2 := startContainer(t), startContainer(t)
	web := PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}
	ep1 := attach(t, nw, "web.service", c1, web)
	ep2 := attach(t, nw, "db.service", c2)
	if ep1.IP.Equal(ep2.IP) {
		t.Fatalf("both containers got %s", ep1.IP)
	}
	_, sn, _ := net.ParseCIDR(DefaultSubnet)
	for _, ep := range []*Endpoint{ep1, ep2} {
		if !sn.Contains(ep.IP) || ep.IP.Equal(ep.Gateway) {
			t.Errorf("%s got %s, not a host address in %s", ep.Name, ep.IP, sn)
		}
		if out := run(t, "nsenter", "-t", fmt.Sprint(ep.PID), "-n", "ip", "-o", "link", "show", "eth0"); !strings.Contains(out, containerMAC(ep.IP).String()) {
			t.Errorf("%s: eth0 MAC is not derived from %s:\n%s", ep.Name, ep.IP, out)
		}
		if !nd.hasLink(t, ep.HostVeth) {
			t.Errorf("%s: host veth %s missing in node", ep.Name, ep.HostVeth)
		}
	}
	if ep1.IP.String() != "10.88.0.2" || ep2.IP.String() != "10.88.0.3" {
		t.Errorf("IPs %s, %s; want the lowest free: 10.88.0.2, 10.88.0.3", ep1.IP, ep2.IP)
	}
	if out := run(t, "ip", "-n", nd.node.name, "-o", "link", "show", "master", DefaultBridge); !strings.Contains(out, ep1.HostVeth) || !strings.Contains(out, ep2.HostVeth) {
		t.Errorf("veths not in %s:\n%s", DefaultBridge, out)
	}

	serve(t, c1.h, "c1", ":80")
	serve(t, c2.h, "c2", ":9000")
	serve(t, nd.outside.h, "outside", outsideIP+":9100")
	serve(t, nd.outside.h, "outside8080", outsideIP+":8080")

	for _, tc := range []struct {
		name            string
		from            *testNS
		fromC           *container
		addr            string
		label, wantSeen string // wantSeen "" = don't care
	}{
		{"container to container over the bridge", nil, c1, ep2.IP.String() + ":9000", "c2", ep1.IP.String()},
		{"outbound NAT: outside sees the node address", nil, c1, outsideIP + ":9100", "outside", nodeIP},
		{"published, from the node via its own address", nd.node, nil, nodeIP + ":8080", "c1", ""},
		{"published, from the node via 127.0.0.1", nd.node, nil, "127.0.0.1:8080", "c1", ""},
		{"published, from the node via the bridge address", nd.node, nil, "10.88.0.1:8080", "c1", ""},
		{"published, from outside keeps the client address", nd.outside, nil, nodeIP + ":8080", "c1", outsideIP},
		{"published, hairpin from another container", nil, c2, nodeIP + ":8080", "c1", ""},
		{"published, hairpin from the same container", nil, c1, nodeIP + ":8080", "c1", ""},
		{"non-local destination on a published port is not DNATed", nil, c2, outsideIP + ":8080", "outside8080", nodeIP},
	} {
		var label, seen string
		var err error
		if tc.from != nil {
			label, seen, err = ask(tc.from.h, tc.addr)
		} else {
			label, seen, err = ask(tc.fromC.h, tc.addr)
		}
		if err != nil {
			t.Errorf("%s: dial %s: %v", tc.name, tc.addr, err)
			continue
		}
		if label != tc.label || (tc.wantSeen != "" && seen != tc.wantSeen) {
			t.Errorf("%s: %s answered by %s seeing %s; want %s seeing %q", tc.name, tc.addr, label, seen, tc.label, tc.wantSeen)
		}
	}

	// The same host port can't be published twice; the unit can't attach twice.
	c3 := startContainer(t)
	if _, err := nw.Attach("other.service", c3.pid, []PortMapping{{HostIP: nodeIP, HostPort: 8080, ContainerPort: 1, Protocol: "tcp"}}); !errors.Is(err, ErrPortInUse) {
		t.Errorf("Attach with a taken port: err = %v, want ErrPortInUse", err)
	}
	if _, err := nw.Attach("web.service", c1.pid, nil); !errors.Is(err, ErrAttached) {
		t.Errorf("second Attach of the same unit and pid: err = %v, want ErrAttached", err)
	}

	// Detach: veth, DNAT rules and address go; twice is fine.
	if err := nw.Detach(ep1); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := nw.Detach(ep1); err != nil {
		t.Errorf("second Detach: %v", err)
	}
	if nd.hasLink(t, ep1.HostVeth) {
		t.Errorf("veth %s still there after Detach", ep1.HostVeth)
	}
	if vs := nd.dnatVeths(t); slices.Contains(vs, ep1.HostVeth) {
		t.Errorf("DNAT rules of %s still there after Detach: %v", ep1.HostVeth, vs)
	}
	if _, _, err := ask(nd.node.h, nodeIP+":8080"); err == nil {
		t.Errorf("published port still answers after Detach")
	}
	ep3 := attach(t, nw, "other.service", c3, web)
	if !ep3.IP.Equal(ep1.IP) {
		t.Errorf("re-Attach got %s, want the freed %s", ep3.IP, ep1.IP)
	}
	serve(t, c3.h, "c3", ":80")
	if label, _, err := ask(nd.node.h, nodeIP+":8080"); err != nil || label != "c3" {
		t.Errorf("published port after re-Attach: %q, %v; want c3", label, err)
	}
}

// TestRestart: a new Setup over a live node recovers the addresses in use
// from the veths, and drops the DNAT rules of containers that died unseen.
func TestRestart(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)
	c1, c2 := startContainer(t), startContainer(t)
	ep1 := attach(t, nw, "a.service", c1, PortMapping{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"})
	ep2 := attach(t, nw, "b.service", c2, PortMapping{HostPort: 8082, ContainerPort: 80, Protocol: "udp"})
	nw.Close()

	c1.kill() // dies while nobody watches: its veth goes, its rule stays
	waitGone(t, nd, ep1.HostVeth)
	if vs := nd.dnatVeths(t); !slices.Contains(vs, ep1.HostVeth) {
		t.Fatalf("expected the dead container's rule to linger before Setup: %v", vs)
	}

	nw2 := nd.setup(t)
	if vs := nd.dnatVeths(t); !slices.Equal(vs, []string{ep2.HostVeth}) {
		t.Errorf("after restart, DNAT rules for %v; want only %s", vs, ep2.HostVeth)
	}
	c3, c4 := startContainer(t), startContainer(t)
	ep3 := attach(t, nw2, "c.service", c3)
	ep4 := attach(t, nw2, "d.service", c4)
	if !ep3.IP.Equal(ep1.IP) || ep4.IP.Equal(ep2.IP) || ep4.IP.String() != "10.88.0.4" {
		t.Errorf("after restart got %s, %s; want %s (freed by the dead container) and 10.88.0.4 (%s still in use)", ep3.IP, ep4.IP, ep1.IP, ep2.IP)
	}
	// A published port freed by a dead container can be taken again.
	c5 := startContainer(t)
	if _, err := nw2.Attach("e.service", c5.pid, []PortMapping{{HostPort: 8081, ContainerPort: 80, Protocol: "tcp"}}); err != nil {
		t.Errorf("port of a dead container: %v", err)
	}
}

func waitGone(t *testing.T, nd *node, veth string) {
	t.Helper()
	for i := 0; i < 100 && nd.hasLink(t, veth); i++ {
		exec.Command("sleep", "0.05").Run()
	}
	if nd.hasLink(t, veth) {
		t.Fatalf("veth %s outlived its container", veth)
	}
}

func TestConcurrentAttach(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)
	const n = 12
	cs := make([]*container, n)
	for i := range cs {
		cs[i] = startContainer(t)
	}
	eps := make([]*Endpoint, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Go(func() {
			eps[i], errs[i] = nw.Attach(fmt.Sprintf("u%d.service", i), cs[i].pid,
				[]PortMapping{{HostPort: uint16(9000 + i), ContainerPort: 80, Protocol: "tcp"}})
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, ep := range eps {
		if errs[i] != nil {
			t.Fatalf("Attach %d: %v", i, errs[i])
		}
		if seen[ep.IP.String()] {
			t.Errorf("%s handed out twice", ep.IP)
		}
		seen[ep.IP.String()] = true
	}
	for i := 2; i < 2+n; i++ {
		if ip := fmt.Sprintf("10.88.0.%d", i); !seen[ip] {
			t.Errorf("%s not handed out: allocation is not lowest-free", ip)
		}
	}
	if got := len(nd.dnatVeths(t)); got != n {
		t.Errorf("%d DNAT rules, want %d", got, n)
	}
}

func TestSetupIdempotentAndTeardown(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nd.cfg = Config{Bridge: "flt-test0", Subnet: "172.30.5.0/28", Logf: t.Logf}
	nd.setup(t)
	count := func() map[string]int {
		m := map[string]int{}
		for _, c := range baseChains(table()) {
			m[c.Name] = len(nd.rules(t, c.Name))
		}
		return m
	}
	first := count()
	nd.setup(t)
	if second := count(); fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("rules after second Setup %v, after first %v", second, first)
	}
	addrs := run(t, "ip", "-n", nd.node.name, "-4", "-o", "addr", "show", "dev", "flt-test0")
	if strings.Count(addrs, "inet ") != 1 || !strings.Contains(addrs, "172.30.5.1/28") {
		t.Errorf("bridge addresses after two Setups:\n%s", addrs)
	}
	for _, s := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/flt-test0/route_localnet"} {
		if v := strings.TrimSpace(run(t, "ip", "netns", "exec", nd.node.name, "cat", "/proc/sys/"+s)); v != "1" {
			t.Errorf("%s = %s in the node, want 1", s, v)
		}
	}

	c := startContainer(t)
	var nw *Network
	inNS(nd.node.h, func() (err error) { nw, err = Setup(nd.cfg); return err })
	defer nw.Close()
	ep := attach(t, nw, "x.service", c)

	if err := inNS(nd.node.h, func() error { return Teardown(nd.cfg) }); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if nd.hasLink(t, "flt-test0") || nd.hasLink(t, ep.HostVeth) {
		t.Errorf("bridge or veth left after Teardown:\n%s", run(t, "ip", "-n", nd.node.name, "link"))
	}
	conn, _ := nftables.New(nftables.WithNetNSFd(int(nd.node.h)))
	if _, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err == nil {
		t.Errorf("nft table %s left after Teardown", TableName)
	}
	if err := inNS(nd.node.h, func() error { return Teardown(nd.cfg) }); err != nil {
		t.Errorf("second Teardown: %v", err)
	}
}
