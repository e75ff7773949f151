//go:build linux

package netbridge

import "testing"

func TestDNATTag(t *testing.T) {
	for _, p := range []PortMapping{{"", 8080, 80, "tcp"}, {"127.0.0.1", 53, 5353, "udp"}} {
		veth, got, ok := parseDNATTag(dnatTag("flt01234567", p))
		want := p
		want.ContainerPort = 0 // not in the tag
		if !ok || veth != "flt01234567" || got != want {
			t.Errorf("round trip %v: %q %v %v", p, veth, got, ok)
		}
	}
	for _, s := range []string{"", "x", "eth0 tcp * 80", "flt1 tcp *"} {
		if _, _, ok := parseDNATTag([]byte(s)); ok {
			t.Errorf("parseDNATTag(%q) ok", s)
		}
	}
}
