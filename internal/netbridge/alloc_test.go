package netbridge

import (
	"errors"
	"net"
	"testing"
)

func TestLowestFree(t *testing.T) {
	sn, err := parseSubnet("10.88.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	if got := sn.gateway().String(); got != "10.88.0.1" {
		t.Errorf("gateway = %s", got)
	}
	for _, tc := range []struct {
		used []string
		want string
	}{
		{nil, "10.88.0.2"},
		{[]string{"10.88.0.2"}, "10.88.0.3"},
		{[]string{"10.88.0.3"}, "10.88.0.2"},
		{[]string{"10.88.0.2", "10.88.0.3", "10.88.0.5"}, "10.88.0.4"},
	} {
		used := map[string]bool{}
		for _, u := range tc.used {
			used[u] = true
		}
		got, err := sn.lowestFree(used)
		if err != nil || got.String() != tc.want {
			t.Errorf("lowestFree(%v) = %v, %v; want %s", tc.used, got, err, tc.want)
		}
	}

	small, err := parseSubnet("192.168.7.8/30") // .8 net, .9 gw, .10 host, .11 bcast
	if err != nil {
		t.Fatal(err)
	}
	ip, err := small.lowestFree(nil)
	if err != nil || ip.String() != "192.168.7.10" {
		t.Fatalf("lowestFree(/30) = %v, %v", ip, err)
	}
	if _, err := small.lowestFree(map[string]bool{"192.168.7.10": true}); !errors.Is(err, ErrExhausted) {
		t.Errorf("full /30: err = %v, want ErrExhausted", err)
	}
}

func TestParseSubnet(t *testing.T) {
	for _, s := range []string{"", "10.88.0.1", "fd00::/64", "10.0.0.0/31", "10.0.0.0/4", "10.88.0.0/33"} {
		if _, err := parseSubnet(s); err == nil {
			t.Errorf("parseSubnet(%q) = nil error", s)
		}
	}
	sn, err := parseSubnet("10.88.0.77/24") // host bits are dropped
	if err != nil || sn.net.String() != "10.88.0.0/24" || sn.prefixLen() != 24 {
		t.Errorf("parseSubnet = %v, %v", sn.net, err)
	}
}

func TestAlias(t *testing.T) {
	a := vethAlias(net.IPv4(10, 88, 0, 9), "web@1.service", 4242)
	if got := aliasIP(a); got.String() != "10.88.0.9" {
		t.Errorf("aliasIP(%q) = %v", a, got)
	}
	for _, s := range []string{"", "other", "flotilla", "flotilla pid=1", "flotilla ip=bogus"} {
		if ip := aliasIP(s); ip != nil {
			t.Errorf("aliasIP(%q) = %v, want nil", s, ip)
		}
	}
}

func TestVethName(t *testing.T) {
	a, b := vethName("web.service", 100), vethName("web.service", 101)
	if a == b || len(a) > 15 || len(a) != 11 || a[:3] != "flt" {
		t.Errorf("vethName: %q, %q", a, b)
	}
	if vethName("web.service", 100) != a {
		t.Error("vethName is not deterministic")
	}
}

func TestContainerMAC(t *testing.T) {
	m := containerMAC(net.IPv4(10, 88, 0, 2))
	if m.String() != "02:66:0a:58:00:02" || m[0]&1 != 0 || m[0]&2 == 0 {
		t.Errorf("containerMAC = %s, want a locally administered unicast MAC", m)
	}
}
