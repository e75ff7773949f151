package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/pki"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// Node is one fleetd process.
type Node struct {
	Name     string
	Member   bool   // etcd member (else client of the members)
	Metadata string // --metadata
	Netns    string // run inside this network namespace
	Host     string // address its ports bind to; default 127.0.0.1
	Extra    []string
	Env      []string // KEY=value added to fleetd's environment

	DataDir                       string
	PeerPort, ClientPort, APIPort int
	cmd                           *exec.Cmd
	log                           *os.File
}

// Cluster is a set of nodes sharing one etcd cluster.
type Cluster struct {
	T     testing.TB
	Bin   Binaries
	Dir   string
	Nodes []*Node
	// TLS is the cluster's mutual TLS (New enables it): fleetd serves no
	// plaintext etcd or TCP API, loopback included.
	TLS *TLS
}

// TLS is the cluster's certificate material.
type TLS struct {
	CA                       string
	Node, Client, NotTrusted pki.Pair
}

// New prepares a cluster of members (all etcd members) and clients
// (client-only nodes) with mutual TLS on loopback (EnableTLS again to add
// addresses). Metadata[i] is node i's --metadata.
func New(t testing.TB, members, clients int, metadata ...string) *Cluster {
	t.Helper()
	bin, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{T: t, Bin: bin, Dir: t.TempDir()}
	for i := range members + clients {
		n := &Node{Name: fmt.Sprintf("n%d", i+1), Member: i < members}
		if i < len(metadata) {
			n.Metadata = metadata[i]
		}
		c.Nodes = append(c.Nodes, n)
	}
	t.Cleanup(c.KillAll)
	c.EnableTLS()
	return c
}

// EnableTLS issues a CA, a node certificate for hosts (and loopback), a
// fleetctl client certificate, and one from a foreign CA, and makes every
// node use them. New calls it for loopback; call it again, before
// starting nodes, when they listen on other addresses.
func (c *Cluster) EnableTLS(hosts ...string) {
	dir := filepath.Join(c.Dir, "pki")
	must(c.T, os.MkdirAll(dir, 0o700))
	ca, err := pki.NewCA(dir, "flotilla-test-ca")
	must(c.T, err)
	var ips []net.IP
	for _, h := range append(hosts, "127.0.0.1") {
		ips = append(ips, net.ParseIP(h))
	}
	node, err := ca.Issue(dir, "node", ips, []string{"localhost"})
	must(c.T, err)
	cl, err := ca.Issue(dir, "fleetctl", nil, nil)
	must(c.T, err)
	other, err := pki.NewCA(filepath.Join(c.Dir), "foreign")
	must(c.T, err)
	bad, err := other.Issue(c.Dir, "intruder", nil, nil)
	must(c.T, err)
	c.TLS = &TLS{CA: ca.CertFile, Node: node, Client: cl, NotTrusted: bad}
}

func (n *Node) host() string {
	if n.Host == "" {
		return "127.0.0.1"
	}
	return n.Host
}

// Endpoint is the node's TCP API URL.
func (c *Cluster) Endpoint(n *Node) string {
	return "https://" + net.JoinHostPort(n.host(), fmt.Sprint(n.APIPort))
}

// EtcdURL is the node's etcd client URL (a member's).
func (c *Cluster) EtcdURL(n *Node) string {
	return "https://" + net.JoinHostPort(n.host(), fmt.Sprint(n.ClientPort))
}

// Socket is the node's root-only API socket.
func (n *Node) Socket() string { return filepath.Join(n.DataDir, "fleetd.sock") }

// EtcdClient is an etcd client of the given members (the cluster's
// certificate authenticates it); the caller closes it.
func (c *Cluster) EtcdClient(members ...*Node) (*clientv3.Client, error) {
	var eps []string
	for _, m := range members {
		eps = append(eps, c.EtcdURL(m))
	}
	ti := transport.TLSInfo{CertFile: c.TLS.Client.CertFile, KeyFile: c.TLS.Client.KeyFile, TrustedCAFile: c.TLS.CA}
	tc, err := ti.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("clustertest: etcd client TLS: %w", err)
	}
	return clientv3.New(clientv3.Config{Endpoints: eps, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

func (c *Cluster) allocate() {
	var todo []*Node
	for _, n := range c.Nodes {
		if n.APIPort == 0 {
			todo = append(todo, n)
		}
	}
	// One call for every port: ports from separate calls can repeat, since
	// each call frees its ports before the next (CI once gave two members
	// the same peer port).
	ports := FreePorts(c.T, 3*len(todo))
	for i, n := range todo {
		n.PeerPort, n.ClientPort, n.APIPort = ports[3*i], ports[3*i+1], ports[3*i+2]
		n.DataDir = filepath.Join(c.Dir, n.Name)
	}
}

func (c *Cluster) args(n *Node) []string {
	const s = "https"
	var initial, endpoints []string
	for _, m := range c.Nodes {
		if m.Member {
			initial = append(initial, fmt.Sprintf("%s=%s://%s", m.Name, s, net.JoinHostPort(m.host(), fmt.Sprint(m.PeerPort))))
			endpoints = append(endpoints, fmt.Sprintf("%s://%s", s, net.JoinHostPort(m.host(), fmt.Sprint(m.ClientPort))))
		}
	}
	a := []string{"--name", n.Name, "--data-dir", n.DataDir, "--ttl", "5s",
		"--api-listen", net.JoinHostPort(n.host(), fmt.Sprint(n.APIPort)),
		"--api-socket", n.Socket(),
		// No container bridge unless a test asks: tests never change the host's network.
		"--bridge-subnet", ""}
	if n.Metadata != "" {
		a = append(a, "--metadata", n.Metadata)
	}
	if n.Member {
		a = append(a,
			"--etcd-peer-url", fmt.Sprintf("%s://%s", s, net.JoinHostPort(n.host(), fmt.Sprint(n.PeerPort))),
			"--etcd-client-url", fmt.Sprintf("%s://%s", s, net.JoinHostPort(n.host(), fmt.Sprint(n.ClientPort))),
			"--etcd-initial-cluster", strings.Join(initial, ","))
	} else {
		a = append(a, "--etcd-endpoints", strings.Join(endpoints, ","))
	}
	a = append(a, "--tls-cert", c.TLS.Node.CertFile, "--tls-key", c.TLS.Node.KeyFile, "--tls-ca", c.TLS.CA)
	return append(a, n.Extra...)
}

// StartAll starts every node, then waits until all are listed as machines.
func (c *Cluster) StartAll() {
	c.allocate()
	for _, n := range c.Nodes {
		c.Start(n)
	}
	c.WaitMachines(len(c.Nodes), 90*time.Second)
}

// Start starts (or restarts, with its data) one node.
func (c *Cluster) Start(n *Node) {
	c.T.Helper()
	c.allocate()
	must(c.T, os.MkdirAll(n.DataDir, 0o700))
	logf, err := os.OpenFile(filepath.Join(c.Dir, n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(c.T, err)
	var cmd *exec.Cmd
	if n.Netns != "" {
		// nsenter, not "ip netns exec": that one also remounts /sys, which
		// would hide the host's cgroup hierarchies from fleetd.
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.Netns, c.Bin.Fleetd}, c.args(n)...)...)
	} else {
		cmd = exec.Command(c.Bin.Fleetd, c.args(n)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(n.Env) > 0 {
		cmd.Env = append(os.Environ(), n.Env...)
	}
	must(c.T, cmd.Start())
	n.cmd, n.log = cmd, logf
}

// Kill SIGKILLs a node and reaps it.
func (c *Cluster) Kill(n *Node) {
	if n.cmd == nil {
		return
	}
	if err := n.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		_ = n.cmd.Wait()
		c.T.Logf("%s had already exited: %v", n.Name, n.cmd.ProcessState)
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
	n.cmd = nil
	n.log.Close()
}

// Stop sends SIGTERM and waits up to 20 s.
func (c *Cluster) Stop(n *Node) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		c.Kill(n)
	}
	n.cmd = nil
	n.log.Close()
}

// Running reports whether the node's process is up.
func (n *Node) Running() bool { return n.cmd != nil }

// KillAll kills every node (test cleanup); logs of a failed test are printed.
func (c *Cluster) KillAll() {
	for _, n := range c.Nodes {
		c.Kill(n)
	}
	if c.T.Failed() {
		for _, n := range c.Nodes {
			b, _ := os.ReadFile(filepath.Join(c.Dir, n.Name+".log"))
			c.T.Logf("---- log of %s (last 4 KiB) ----\n%s", n.Name, tail(b, 4096))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// MachineID reads a node's machine ID from its data directory.
func (n *Node) MachineID() string {
	b, _ := os.ReadFile(filepath.Join(n.DataDir, "machine-id"))
	return strings.TrimSpace(string(b))
}

// Client returns an API client for a running node (the first by default).
func (c *Cluster) Client(n ...*Node) *client.Client {
	target := c.firstRunning()
	if len(n) > 0 {
		target = n[0]
	}
	opts := client.Options{Timeout: 5 * time.Second, CAFile: c.TLS.CA, CertFile: c.TLS.Client.CertFile, KeyFile: c.TLS.Client.KeyFile}
	cl, err := client.New(c.Endpoint(target), opts)
	must(c.T, err)
	return cl
}

// firstRunning picks a running node to talk to, preferring one on the
// host's own network (a node in a netns may be cut off by the test).
func (c *Cluster) firstRunning() *Node {
	for _, n := range c.Nodes {
		if n.Running() && n.Netns == "" {
			return n
		}
	}
	for _, n := range c.Nodes {
		if n.Running() {
			return n
		}
	}
	c.T.Fatal("no node is running")
	return nil
}

// Fleetctl runs the fleetctl binary against a running node.
func (c *Cluster) Fleetctl(args ...string) (stdout, stderr string, err error) {
	n := c.firstRunning()
	full := append([]string{"--endpoint", c.Endpoint(n),
		"--ca-file", c.TLS.CA, "--cert-file", c.TLS.Client.CertFile, "--key-file", c.TLS.Client.KeyFile}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin.Fleetctl, full...)
	cmd.Dir = c.Dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// MustFleetctl runs fleetctl and fails the test on error.
func (c *Cluster) MustFleetctl(args ...string) string {
	c.T.Helper()
	out, errOut, err := c.Fleetctl(args...)
	if err != nil {
		c.T.Fatalf("fleetctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// WriteUnit writes a unit file into the cluster dir and returns its path.
func (c *Cluster) WriteUnit(name, contents string) string {
	p := filepath.Join(c.Dir, name)
	must(c.T, os.WriteFile(p, []byte(contents), 0o644))
	return p
}

// WaitMachines waits until exactly n machines are listed.
func (c *Cluster) WaitMachines(n int, timeout time.Duration) []*schema.Machine {
	c.T.Helper()
	var ms []*schema.Machine
	err := testutil.Eventually(timeout, func() error {
		var err error
		ms, err = c.Client().Machines(context.Background())
		if err != nil {
			return err
		}
		if len(ms) != n {
			return fmt.Errorf("%d machines listed, want %d", len(ms), n)
		}
		return nil
	})
	if err != nil {
		c.T.Fatal(err)
	}
	return ms
}

// States returns active unit states keyed by unit, listing machines.
func (c *Cluster) States() (map[string][]*schema.UnitState, error) {
	sts, err := c.Client().UnitStates(context.Background(), client.StateFilter{})
	if err != nil {
		return nil, err
	}
	out := map[string][]*schema.UnitState{}
	for _, s := range sts {
		out[s.Name] = append(out[s.Name], s)
	}
	return out, nil
}

// ActiveOn returns the machines on which unit reports active/running.
func ActiveOn(states map[string][]*schema.UnitState, unit string) []string {
	var ms []string
	for _, s := range states[unit] {
		if s.SystemdActiveState == "active" && s.MachineID != "" {
			ms = append(ms, s.MachineID)
		}
	}
	return ms
}

// FreePorts returns n free TCP ports on loopback.
func FreePorts(t testing.TB, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
