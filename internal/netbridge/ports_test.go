package netbridge

import (
	"net"
	"reflect"
	"strings"
	"testing"
)

func TestParsePublishPort(t *testing.T) {
	tcp := func(ip string, h, c uint16) PortMapping { return PortMapping{ip, h, c, "tcp"} }
	udp := func(ip string, h, c uint16) PortMapping { return PortMapping{ip, h, c, "udp"} }
	for _, tc := range []struct {
		in   string
		want []PortMapping
		err  string // substring of the error; "" = success
	}{
		{in: "8080:80", want: []PortMapping{tcp("", 8080, 80)}},
		{in: "80", want: []PortMapping{tcp("", 80, 80)}},
		{in: "127.0.0.1:8080:80", want: []PortMapping{tcp("127.0.0.1", 8080, 80)}},
		{in: "127.0.0.1::80", want: []PortMapping{tcp("127.0.0.1", 80, 80)}},
		{in: "0.0.0.0:8080:80", want: []PortMapping{tcp("", 8080, 80)}},
		{in: "::80", err: "host address"},
		{in: "8080:80/udp", want: []PortMapping{udp("", 8080, 80)}},
		{in: "8080:80/tcp", want: []PortMapping{tcp("", 8080, 80)}},
		{in: "53:53/tcp,udp", want: []PortMapping{tcp("", 53, 53), udp("", 53, 53)}},
		{in: "8080-8081:80-81", want: []PortMapping{tcp("", 8080, 80), tcp("", 8081, 81)}},
		{in: "9000-9001", want: []PortMapping{tcp("", 9000, 9000), tcp("", 9001, 9001)}},
		{in: "10.0.0.1:5000-5001:6000-6001/udp", want: []PortMapping{udp("10.0.0.1", 5000, 6000), udp("10.0.0.1", 5001, 6001)}},
		{in: "65535", want: []PortMapping{tcp("", 65535, 65535)}},

		{in: "", err: "empty value"},
		{in: "0", err: "want 1-65535"},
		{in: "65536", err: "want 1-65535"},
		{in: "8080:0", err: "container port"},
		{in: "http", err: "not a number"},
		{in: "+80", err: "not a number"},
		{in: ":80", err: "empty host port"},
		{in: "8080:", err: "empty container port"},
		{in: "8080:80/sctp", err: `protocol "sctp"`},
		{in: "8080:80/", err: `protocol ""`},
		{in: "80/tcp,tcp", err: "listed twice"},
		{in: "1/tcp,udp,udp", err: "listed twice"},
		{in: "1/udp,tcp,udp", err: "listed twice"},
		{in: "localhost:8080:80", err: "want an IPv4 address"},
		{in: "[::1]:8080:80", err: "IPv6"},
		{in: "::1:8080:80", err: "too many"},
		{in: "8080-8082:80-81", err: "differ in length"},
		{in: "8080-8081:80", err: "differ in length"},
		{in: "81-80", err: "backwards"},
		{in: "1-2000", err: "at most"},
		{in: "80-", err: "empty container port"},
	} {
		got, err := ParsePublishPort(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePublishPort(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			} else if !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParsePublishPort(%q) error %q does not name the value", tc.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePublishPort(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParsePublishPort(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:8080:80", "8080:80/udp", "80", "1-3:4-6/tcp,udp", "::80", "[::1]:1:2", "0.0.0.0::9", "1/tcp,udp,udp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePublishPort(s)
		if err != nil {
			if !strings.Contains(err.Error(), "PublishPort") {
				t.Fatalf("error %q does not say what it parsed", err)
			}
			return
		}
		if len(got) == 0 || len(got) > 2*maxRange {
			t.Fatalf("%q: %d mappings", s, len(got))
		}
		if err := checkPorts(got); err != nil {
			t.Fatalf("%q parsed to mappings Attach rejects: %v", s, err)
		}
		for _, p := range got {
			if p.HostIP != "" && net.ParseIP(p.HostIP).To4() == nil {
				t.Fatalf("%q: host IP %q", s, p.HostIP)
			}
		}
	})
}

func TestCheckPorts(t *testing.T) {
	ok := [][]PortMapping{
		nil,
		{{"", 80, 80, "tcp"}, {"", 80, 80, "udp"}},
		{{"127.0.0.1", 80, 80, "tcp"}, {"10.0.0.1", 80, 81, "tcp"}},
	}
	for _, ps := range ok {
		if err := checkPorts(ps); err != nil {
			t.Errorf("checkPorts(%v) = %v", ps, err)
		}
	}
	bad := [][]PortMapping{
		{{"", 80, 80, "sctp"}},
		{{"", 0, 80, "tcp"}},
		{{"", 80, 0, "tcp"}},
		{{"::1", 80, 80, "tcp"}},
		{{"", 80, 80, "tcp"}, {"127.0.0.1", 80, 81, "tcp"}},
		{{"10.0.0.1", 80, 80, "tcp"}, {"10.0.0.1", 80, 81, "tcp"}},
	}
	for _, ps := range bad {
		if err := checkPorts(ps); err == nil {
			t.Errorf("checkPorts(%v) = nil, want error", ps)
		}
	}
}
