package fleetd

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// TestDNSFlags: the DNS flags' defaults, and bad values refused naming
// the flag and what to give.
func TestDNSFlags(t *testing.T) {
	c, err := ParseFlags([]string{"--name", "n1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.DNSDomain != "flotilla" || len(c.DNSListen) != 1 || c.DNSListen[0] != "127.0.0.1:53" || !c.DNSListenDefault || c.DNSContainerAddrs {
		t.Fatalf("defaults: domain %q listen %v default %v container %v", c.DNSDomain, c.DNSListen, c.DNSListenDefault, c.DNSContainerAddrs)
	}
	c, err = ParseFlags([]string{"--name", "n1", "--dns-listen", "127.0.0.2:5353, 10.0.0.1:53", "--dns-domain", "corp.example"}, io.Discard)
	if err != nil || len(c.DNSListen) != 2 || c.DNSListen[1] != "10.0.0.1:53" || c.DNSListenDefault || c.DNSDomain != "corp.example" {
		t.Fatalf("%+v %v", c.DNSListen, err)
	}
	if c, err = ParseFlags([]string{"--name", "n1", "--dns-listen", ""}, io.Discard); err != nil || len(c.DNSListen) != 0 {
		t.Fatalf("--dns-listen '': %v %v", c.DNSListen, err)
	}
	for _, bad := range [][]string{
		{"--dns-listen", "localhost:53"},
		{"--dns-listen", "127.0.0.1"},
		{"--dns-domain", ""},
		{"--dns-domain", "a..b"},
		{"--dns-domain", ".flotilla"},
	} {
		_, err := ParseFlags(append([]string{"--name", "n1"}, bad...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: error %v, want one naming %s", bad, err, bad[0])
		}
	}
	for subnet, want := range map[string]string{"10.88.0.0/24": "10.88.0.1", "10.88.3.0/24": "10.88.3.1", "": "", "fd00::/64": ""} {
		if got := bridgeGateway(subnet); got != want {
			t.Errorf("bridgeGateway(%q) = %q, want %q", subnet, got, want)
		}
	}
}

// TestStartDNSBusyAddress: an address another server holds is a warning
// when it is the default (fleetd starts without loopback DNS) and an
// error naming the flag when the user gave it.
func TestStartDNSBusyAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }

	cfg := Config{DNSDomain: "flotilla", DNSListen: []string{addr}, DNSListenDefault: true}
	s, onBridge, err := startDNS(cfg, false, logf)
	if err != nil || onBridge {
		t.Fatalf("default address busy: %v (bridge %v), want a warning", err, onBridge)
	}
	defer s.Close()
	if len(s.Addrs()) != 0 || len(logged) == 0 || !strings.Contains(logged[0], "--dns-listen") {
		t.Errorf("serving %v, logged %q: want nothing served and a warning naming --dns-listen", s.Addrs(), logged)
	}

	cfg.DNSListenDefault = false
	if _, _, err := startDNS(cfg, false, logf); err == nil || !strings.Contains(err.Error(), "--dns-listen") || !strings.Contains(err.Error(), addr) {
		t.Errorf("given address busy: %v, want an error naming --dns-listen and %s", err, addr)
	}

	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.LocalAddr().String()
	free.Close()
	cfg.DNSListen = []string{freeAddr}
	s, _, err = startDNS(cfg, false, logf)
	if err != nil || len(s.Addrs()) != 1 || s.Addrs()[0] != freeAddr {
		t.Fatalf("free address: %v %v", s, err)
	}
	s.Close()
}
