package fleetd

import (
	"io"
	"strings"
	"testing"
)

// TestParseFlagsNetwork: bad cluster network flags are refused at parse
// time, naming the flag and what to give instead.
func TestParseFlagsNetwork(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string // "" for accepted
	}{
		{nil, ""},
		{[]string{"--bridge-subnet", ""}, ""},
		{[]string{"--bridge-subnet", "10.88.7.0/24"}, ""},
		{[]string{"--bridge-subnet", "10.89.0.0/24"}, ""}, // a lone bridge
		{[]string{"--network-backend", "host-gw", "--cluster-cidr", "10.100.0.0/20", "--subnet-len", "26"}, ""},
		{[]string{"--network-backend", "flannel"}, "--network-backend \"flannel\": want vxlan or host-gw"},
		{[]string{"--cluster-cidr", "10.88.0.0/24"}, "--subnet-len 24: must be longer than --cluster-cidr 10.88.0.0/24"},
		{[]string{"--cluster-cidr", "10.88.0.1/16"}, "--cluster-cidr 10.88.0.1/16 has host bits set"},
		{[]string{"--subnet-len", "31"}, "--subnet-len 31: at most 29"},
		{[]string{"--bridge-subnet", "10.88.7.0/25"}, "--bridge-subnet 10.88.7.0/25 overlaps --cluster-cidr 10.88.0.0/16 but is not one of its /24 subnets"},
		{[]string{"--bridge-subnet", "10.88.7.1/24"}, "--bridge-subnet \"10.88.7.1/24\": want 'auto', '' (no bridge) or an IPv4 network"},
		{[]string{"--bridge-subnet", "bridge"}, "--bridge-subnet \"bridge\""},
	} {
		_, err := ParseFlags(append([]string{"--name", "n1"}, tc.args...), io.Discard)
		if tc.err == "" && err != nil {
			t.Errorf("%q: %v, want accepted", tc.args, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.err)
		}
	}
}
