//go:build linux

package netbridge

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

func TestPublishedHostIPAndUDP(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)
	c := startContainer(t)
	attach(t, nw, "dns.service", c,
		PortMapping{HostIP: "127.0.0.1", HostPort: 8443, ContainerPort: 9000, Protocol: "tcp"},
		PortMapping{HostPort: 5353, ContainerPort: 53, Protocol: "udp"})
	serve(t, c.h, "c", ":9000")
	serveUDP(t, c.h, "c-udp", ":53")

	if label, _, err := ask(nd.node.h, "127.0.0.1:8443"); err != nil || label != "c" {
		t.Errorf("127.0.0.1:8443 from the node: %q, %v; want c", label, err)
	}
	if label, _, err := ask(nd.node.h, nodeIP+":8443"); err == nil {
		t.Errorf("port published on 127.0.0.1 answered on %s by %q", nodeIP, label)
	}
	if label, seen, err := askUDP(nd.outside.h, nodeIP+":5353"); err != nil || label != "c-udp" || seen != outsideIP {
		t.Errorf("udp %s:5353 from outside: %q seeing %q, %v; want c-udp seeing %s", nodeIP, label, seen, err, outsideIP)
	}
}

// TestLocalnetGuard: route_localnet=1 on the bridge must not let a container
// reach the node's loopback services. The container is hostile: it routes
// 127/8 to the bridge itself. Removing the guard rule shows the test would
// notice.
func TestLocalnetGuard(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)
	c := startContainer(t)
	attach(t, nw, "evil.service", c)
	serve(t, nd.node.h, "node-loopback", "127.0.0.1:7777")
	pid := fmt.Sprint(c.pid)
	run(t, "nsenter", "-t", pid, "-n", "sh", "-c",
		"echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet && ip addr flush dev lo && ip link set lo down && ip route add 127.0.0.0/8 via 10.88.0.1")

	if label, _, err := ask(c.h, "127.0.0.1:7777"); err == nil {
		t.Errorf("container reached the node's 127.0.0.1:7777 (%s)", label)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(nd.node.h)))
	if err != nil {
		t.Fatal(err)
	}
	conn.FlushChain(&nftables.Chain{Name: chainGuard, Table: table()})
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ask(c.h, "127.0.0.1:7777"); err != nil {
		t.Skipf("without the guard the hostile container still can't reach 127.0.0.1 (%v): the check above proves nothing on this kernel", err)
	}
}

func TestDetachDeadContainer(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	nw := nd.setup(t)
	c := startContainer(t)
	ep := attach(t, nw, "gone.service", c, PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"})
	c.kill()
	waitGone(t, nd, ep.HostVeth)
	if err := nw.Detach(ep); err != nil {
		t.Errorf("Detach after the container died: %v", err)
	}
	if vs := nd.dnatVeths(t); slices.Contains(vs, ep.HostVeth) {
		t.Errorf("DNAT rules left: %v", vs)
	}
	if err := nw.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := nw.Detach(ep); !errors.Is(err, ErrClosed) {
		t.Errorf("Detach after Close: %v, want ErrClosed", err)
	}
	c2 := startContainer(t)
	if _, err := nw.Attach("late.service", c2.pid, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
}

func TestSetupErrors(t *testing.T) {
	needNetNS(t)
	nd := newNode(t)
	run(t, "ip", "-n", nd.node.name, "link", "add", "flotilla0", "type", "veth", "peer", "name", "fltpeer")
	err := inNS(nd.node.h, func() error { _, err := Setup(Config{}); return err })
	if err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Errorf("Setup over a veth named flotilla0: %v, want 'not a bridge'", err)
	}
	for _, cfg := range []Config{{Subnet: "fd00::/64"}, {Bridge: "a-very-long-bridge-name"}} {
		if err := inNS(nd.node.h, func() error { _, err := Setup(cfg); return err }); err == nil {
			t.Errorf("Setup(%+v): no error", cfg)
		}
	}
	nd.cfg.Bridge = "flt-ok0"
	nw := nd.setup(t)
	if _, err := nw.Attach("x.service", 1<<30, nil); err == nil || !strings.Contains(err.Error(), "x.service") {
		t.Errorf("Attach to a missing pid: %v", err)
	}
	if _, err := nw.Attach("x.service", 1, []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "sctp"}}); err == nil {
		t.Error("Attach with a bad protocol: no error")
	}
}

func TestLoopbackUp(t *testing.T) {
	needNetNS(t)
	c := startContainer(t)
	if err := LoopbackUp(c.pid); err != nil {
		t.Fatal(err)
	}
	serve(t, c.h, "self", "127.0.0.1:5000")
	if label, _, err := ask(c.h, "127.0.0.1:5000"); err != nil || label != "self" {
		t.Errorf("loopback in a Network=none container: %q, %v", label, err)
	}
}

func serveUDP(t *testing.T, h netns.NsHandle, label, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := inNS(h, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(fmt.Appendf(nil, "%s %s", label, from.(*net.UDPAddr).IP), from)
		}
	}()
}

func askUDP(h netns.NsHandle, addr string) (label, seen string, err error) {
	var c net.Conn
	if err := inNS(h, func() (err error) { c, err = net.Dial("udp4", addr); return err }); err != nil {
		return "", "", err
	}
	defer c.Close()
	buf := make([]byte, 64)
	for try := 0; try < 3; try++ {
		c.Write([]byte("?"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if err == nil {
			label, seen, _ = strings.Cut(string(buf[:n]), " ")
			return label, seen, nil
		}
	}
	return "", "", fmt.Errorf("no udp answer from %s", addr)
}
