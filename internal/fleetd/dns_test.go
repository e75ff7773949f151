package fleetd

import (
	"io"
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
