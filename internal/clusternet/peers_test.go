package clusternet

import (
	"reflect"
	"testing"

	"github.com/flotilla-os/flotilla/internal/registry"
)

func TestPeers(t *testing.T) {
	plan, _ := ParsePlan("10.88.0.0/16", 24)
	subs := map[string]registry.SubnetRecord{
		"10.88.0.0/24": {Machine: "self", PublicIP: "192.0.2.1", VtepMAC: "02:00:00:00:00:01"},
		"10.88.2.0/24": {Machine: "c", PublicIP: "192.0.2.3", VtepMAC: "02:00:00:00:00:03"},
		"10.88.1.0/24": {Machine: "b", PublicIP: "192.0.2.2", VtepMAC: "02:00:00:00:00:02"},
		"10.88.3.0/24": {Machine: "d", PublicIP: "127.0.0.1", VtepMAC: "02:00:00:00:00:04"},
		"10.88.4.0/24": {Machine: "e", PublicIP: "192.0.2.5"},
		"10.99.0.0/24": {Machine: "f", PublicIP: "192.0.2.6", VtepMAC: "02:00:00:00:00:06"},
		"10.88.6.0/24": {Machine: "g", PublicIP: "10.88.9.9", VtepMAC: "02:00:00:00:00:07"},
	}
	for _, tc := range []struct {
		backend  string
		machines []string
		skipped  int
	}{
		{BackendHostGW, []string{"b", "c", "e"}, 3},
		{BackendVXLAN, []string{"b", "c"}, 4},
	} {
		peers, skipped := Peers(plan, tc.backend, "self", subs)
		var got []string
		for _, p := range peers {
			got = append(got, p.Machine)
		}
		if !reflect.DeepEqual(got, tc.machines) || len(skipped) != tc.skipped {
			t.Errorf("%s: peers %v, skipped %q; want %v and %d skipped", tc.backend, got, skipped, tc.machines, tc.skipped)
		}
	}
	if a, b := VtepMAC("m1"), VtepMAC("m1"); a.String() != b.String() || a[0] != 0x02 || VtepMAC("m2").String() == a.String() {
		t.Errorf("VtepMAC: want stable, local, per machine: %s %s %s", a, b, VtepMAC("m2"))
	}
}

func FuzzPeers(f *testing.F) {
	f.Add("10.88.1.0/24", "b", "192.0.2.2", "02:00:00:00:00:02", "10.88.2.0/24", "self", "192.0.2.1", "")
	f.Fuzz(func(t *testing.T, c1, m1, ip1, mac1, c2, m2, ip2, mac2 string) {
		plan, _ := ParsePlan("10.88.0.0/16", 24)
		subs := map[string]registry.SubnetRecord{c1: {Machine: m1, PublicIP: ip1, VtepMAC: mac1}, c2: {Machine: m2, PublicIP: ip2, VtepMAC: mac2}}
		for _, backend := range []string{BackendHostGW, BackendVXLAN} {
			peers, skipped := Peers(plan, backend, "self", subs)
			if len(peers)+len(skipped) > len(subs) {
				t.Fatalf("%d peers and %d skipped from %d records", len(peers), len(skipped), len(subs))
			}
			for i, p := range peers {
				if p.Machine == "self" || !plan.Contains(p.Subnet) || !p.PublicIP.Is4() || plan.CIDR.Contains(p.PublicIP) {
					t.Fatalf("%s: bad peer %+v", backend, p)
				}
				if backend == BackendVXLAN && len(p.VtepMAC) != 6 {
					t.Fatalf("vxlan peer without a MAC: %+v", p)
				}
				if i > 0 && !peers[i-1].Subnet.Addr().Less(p.Subnet.Addr()) {
					t.Fatalf("peers not sorted: %v", peers)
				}
			}
		}
	})
}
