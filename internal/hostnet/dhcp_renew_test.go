package hostnet

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// testDHCPServer is a one-client DHCPv4 server (server4) handing out
// 10.77.1.50/24 with short lease times.
type testDHCPServer struct {
	lease, t1, t2 time.Duration
	nakRenewals   bool // answer renewals with a NAK
	srv           *server4.Server
	served        chan struct{}
	stopOnce      sync.Once

	mu        sync.Mutex
	renewals  int // REQUESTs from the bound address, ciaddr set
	discovers int
	naks      int
	lastACK   time.Time
}

var (
	testServerIP = net.IPv4(10, 77, 1, 1).To4()
	testClientIP = net.IPv4(10, 77, 1, 50).To4()
)

func (s *testDHCPServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	var typ dhcpv4.MessageType
	renewal := false
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
		s.mu.Lock()
		s.discovers++
		s.mu.Unlock()
	case dhcpv4.MessageTypeRequest:
		typ = dhcpv4.MessageTypeAck
		u, _ := peer.(*net.UDPAddr)
		renewal = m.ClientIPAddr.Equal(testClientIP) && u != nil && u.IP.Equal(testClientIP)
	default:
		return
	}
	if renewal && s.nakRenewals {
		nak, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(testServerIP)), dhcpv4.WithOption(dhcpv4.OptMessage("test NAK")))
		if err == nil {
			_, err = conn.WriteTo(nak.ToBytes(), peer)
		}
		if err == nil {
			s.mu.Lock()
			s.naks++
			s.mu.Unlock()
		}
		return
	}
	resp, err := dhcpv4.NewReplyFromRequest(m,
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(testClientIP),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(testServerIP),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(testServerIP)),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(s.lease)),
		dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionRenewTimeValue, Value: dhcpv4.Duration(s.t1)}),
		dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionRebindingTimeValue, Value: dhcpv4.Duration(s.t2)}),
	)
	if err != nil {
		return
	}
	if _, err := conn.WriteTo(resp.ToBytes(), peer); err != nil {
		return
	}
	if typ == dhcpv4.MessageTypeAck {
		s.mu.Lock()
		s.lastACK = time.Now()
		if renewal {
			s.renewals++
		}
		s.mu.Unlock()
	}
}

func (s *testDHCPServer) stats() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewals, s.lastACK
}

// start configures link (10.77.1.1/24) in ns and serves on it, on a thread
// of its own in ns.
func (s *testDHCPServer) start(ns netns.NsHandle, link string) error {
	errc := make(chan error, 1)
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		runtime.LockOSThread() // never unlocked: the thread dies with the server
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		l, err := netlink.LinkByName(link)
		if err == nil {
			err = netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: testServerIP, Mask: net.CIDRMask(24, 32)}})
		}
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err == nil {
			s.srv, err = server4.NewServer(link, &net.UDPAddr{Port: dhcpv4.ServerPort}, s.handle)
		}
		errc <- err
		if err == nil {
			_ = s.srv.Serve()
		}
	}()
	return <-errc
}

func (s *testDHCPServer) stop() {
	s.stopOnce.Do(func() { _ = s.srv.Close() })
	<-s.served
}

// dhcpNetns runs f on a thread in a fresh client network namespace whose
// fl0 is a veth to fl1 in a fresh server namespace, where srv serves; f's
// Setup clients are stopped when it returns. link is fl0; addr is
// fl0's 10.77.1.50, or nil.
func dhcpNetns(t *testing.T, srv *testDHCPServer, f func(ctx context.Context, link netlink.Link, addr func() *netlink.Addr)) {
	t.Helper()
	testenv.NeedRoot(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the thread dies with its namespaces: never unlocked
		srvNS, err := netns.New()
		if err != nil {
			t.Errorf("server netns: %v", err)
			return
		}
		defer srvNS.Close()
		cliNS, err := netns.New() // this thread's namespace from here on
		if err != nil {
			t.Errorf("client netns: %v", err)
			return
		}
		defer cliNS.Close()
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "fl0"}, PeerName: "fl1", PeerNamespace: netlink.NsFd(int(srvNS))}); err != nil {
			t.Errorf("add veth: %v", err)
			return
		}
		link, err := netlink.LinkByName("fl0")
		if err != nil {
			t.Errorf("fl0: %v", err)
			return
		}
		if err := srv.start(srvNS, "fl1"); err != nil {
			t.Errorf("DHCP server: %v", err)
			return
		}
		defer srv.stop()
		// Both ends up before Setup: an end whose carrier the
		// kernel has not yet activated drops what it sends, and nclient4
		// would then wait 4 s to try again.
		if err := netlink.LinkSetUp(link); err != nil {
			t.Errorf("fl0 up: %v", err)
			return
		}
		srvHandle, err := netlink.NewHandleAt(srvNS)
		if err != nil {
			t.Errorf("netlink in the server namespace: %v", err)
			return
		}
		defer srvHandle.Close()
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			l0, err0 := netlink.LinkByName("fl0")
			l1, err1 := srvHandle.LinkByName("fl1")
			if err0 == nil && err1 == nil && l0.Attrs().OperState == netlink.OperUp && l1.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(end) {
				t.Errorf("veth not up after 5 s: %v %v", err0, err1)
				return
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer func() {
			cancel()
			stopDHCP()
		}()
		f(ctx, link, func() *netlink.Addr {
			as, err := netlink.AddrList(link, netlink.FAMILY_V4)
			if err != nil {
				t.Errorf("addresses: %v", err)
			}
			for _, a := range as {
				if a.IP.Equal(testClientIP) {
					return &a
				}
			}
			return nil
		})
	}()
	<-done
}

// setupDHCP runs Setup with DHCP on fl0 and checks the boot lease:
// 10.77.1.50/24 with the lease's lifetime, and the default route.
func setupDHCP(t *testing.T, ctx context.Context, srv *testDHCPServer, link netlink.Link, addr func() *netlink.Addr) bool {
	ups, err := Setup(ctx, bootconfig.Network{Interfaces: []bootconfig.Interface{{Name: "fl0", DHCP: true}}}, t.Logf)
	if err != nil || len(ups) != 1 || ups[0] != (NetUp{Iface: "fl0", Addr: "10.77.1.50/24"}) {
		t.Errorf("Setup = %+v, %v; want fl0 10.77.1.50/24", ups, err)
		return false
	}
	lft := int(srv.lease / time.Second)
	if a := addr(); a == nil || a.ValidLft < 1 || a.ValidLft > lft || a.PreferedLft != a.ValidLft {
		t.Errorf("after the boot lease: address %+v, want 10.77.1.50/24 with a lifetime of at most %d s", a, lft)
		return false
	}
	if !hasTestRoute(link) {
		t.Error("no default route via 10.77.1.1 after the boot lease")
	}
	return true
}

func hasTestRoute(link netlink.Link) bool {
	rs, _ := netlink.RouteList(link, netlink.FAMILY_V4)
	for _, r := range rs {
		if r.Gw.Equal(testServerIP) && (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") {
			return true
		}
	}
	return false
}

// waitGone waits until the address is gone, at most a lease time and 1.5 s
// after the server's last ACK, and checks it was not dropped before T2.
func waitGone(t *testing.T, srv *testDHCPServer, link netlink.Link, addr func() *netlink.Addr) {
	_, last := srv.stats()
	var gone time.Time
	for deadline := last.Add(srv.lease + 1500*time.Millisecond); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if addr() == nil {
			gone = time.Now()
			break
		}
	}
	switch {
	case gone.IsZero():
		t.Errorf("address still there %v after the last ACK (lease %v)", time.Since(last).Round(time.Millisecond), srv.lease)
	case gone.Sub(last) < srv.t2:
		t.Errorf("address dropped %v after the last ACK, before T2 (%v)", gone.Sub(last), srv.t2)
	default:
		t.Logf("address gone %v after the last ACK", gone.Sub(last).Round(time.Millisecond))
	}
	if hasTestRoute(link) {
		t.Error("default route via 10.77.1.1 outlived the lease")
	}
}

// TestDHCPRenewal runs Setup's DHCP client against a real server
// across a veth pair between two fresh network namespaces, with a 4 s
// lease (T1 2 s, T2 3 s): the address is never lost over three lease
// times, carries the lease's lifetime, and is renewed by unicast REQUESTs
// from itself; once the server stops, the address and its route are gone
// within about a lease time of the last ACK.
func TestDHCPRenewal(t *testing.T) {
	srv := &testDHCPServer{lease: 4 * time.Second, t1: 2 * time.Second, t2: 3 * time.Second}
	dhcpNetns(t, srv, func(ctx context.Context, link netlink.Link, addr func() *netlink.Addr) {
		if !setupDHCP(t, ctx, srv, link, addr) {
			return
		}
		// Three lease times: the kernel would have dropped an unrenewed address twice over.
		for end := time.Now().Add(3 * srv.lease); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if addr() == nil {
				renewals, _ := srv.stats()
				t.Errorf("address lost while the server answers (%d renewals seen)", renewals)
				return
			}
		}
		if a := addr(); a == nil || a.ValidLft < 1 || a.ValidLft > 4 || a.PreferedLft != a.ValidLft {
			t.Errorf("after 3 lease times: address %+v, want a refreshed lifetime of 1..4 s", a)
		}
		srv.mu.Lock()
		discovers := srv.discovers
		srv.mu.Unlock()
		if discovers != 1 {
			t.Errorf("server saw %d DISCOVERs, want only the boot one (the lease was lost and found again)", discovers)
		}
		if renewals, _ := srv.stats(); renewals < 2 {
			t.Errorf("server saw %d renewals from 10.77.1.50, want at least 2", renewals)
		} else {
			t.Logf("server saw %d renewals in %v", renewals, 3*srv.lease)
		}
		srv.stop()
		waitGone(t, srv, link, addr)
	})
}

// TestDHCPLeaseLifetime stops the client right after the boot lease, the
// server still up: the kernel itself drops the address (and so its
// route) when the lease's lifetime ends.
func TestDHCPLeaseLifetime(t *testing.T) {
	srv := &testDHCPServer{lease: 3 * time.Second, t1: time.Second, t2: 2 * time.Second}
	dhcpNetns(t, srv, func(ctx context.Context, link netlink.Link, addr func() *netlink.Addr) {
		if !setupDHCP(t, ctx, srv, link, addr) {
			return
		}
		stopDHCP()
		waitGone(t, srv, link, addr)
		if renewals, _ := srv.stats(); renewals != 0 {
			t.Errorf("server saw %d renewals from a stopped client", renewals)
		}
	})
}

// TestDHCPNak: a server that NAKs the renewal makes the client drop the
// address and rediscover at once, which gets it back.
func TestDHCPNak(t *testing.T) {
	srv := &testDHCPServer{lease: 4 * time.Second, t1: time.Second, t2: 3 * time.Second, nakRenewals: true}
	dhcpNetns(t, srv, func(ctx context.Context, link netlink.Link, addr func() *netlink.Addr) {
		if !setupDHCP(t, ctx, srv, link, addr) {
			return
		}
		updates, stop := make(chan netlink.AddrUpdate, 64), make(chan struct{})
		defer close(stop)
		if err := netlink.AddrSubscribe(updates, stop); err != nil {
			t.Errorf("address updates: %v", err)
			return
		}
		var naks, discovers int
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			srv.mu.Lock()
			naks, discovers = srv.naks, srv.discovers
			srv.mu.Unlock()
			if discovers >= 2 && addr() != nil {
				break
			}
		}
		if naks < 1 || discovers < 2 || addr() == nil {
			t.Errorf("after a NAKed renewal: %d NAKs, %d DISCOVERs, address %v; want the address again from a second DISCOVER", naks, discovers, addr())
		}
		removed := false
		for len(updates) > 0 {
			if u := <-updates; !u.NewAddr && u.LinkAddress.IP.Equal(testClientIP) {
				removed = true
			}
		}
		if !removed {
			t.Error("the NAKed address was not removed before the new lease")
		}
	})
}
