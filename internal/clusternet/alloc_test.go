package clusternet

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestParsePlan(t *testing.T) {
	for _, tc := range []struct {
		cidr    string
		len     int
		count   int
		wantErr string
	}{
		{"10.88.0.0/16", 24, 256, ""},
		{"10.88.0.0/22", 24, 4, ""},
		{"10.0.0.0/8", 29, 1 << 21, ""},
		{"10.88.0.0/24", 24, 0, "--subnet-len 24: must be longer than --cluster-cidr"},
		{"10.88.0.0/16", 30, 0, "--subnet-len 30: at most 29"},
		{"10.88.0.1/16", 24, 0, "host bits set: did you mean 10.88.0.0/16"},
		{"fd00::/64", 80, 0, "want an IPv4 CIDR"},
		{"nonsense", 24, 0, "--cluster-cidr \"nonsense\""},
	} {
		p, err := ParsePlan(tc.cidr, tc.len)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePlan(%s, %d) = %v, want error with %q", tc.cidr, tc.len, err, tc.wantErr)
			}
			continue
		}
		if err != nil || p.Count() != tc.count {
			t.Errorf("ParsePlan(%s, %d) = %v (%d subnets), %v; want %d subnets", tc.cidr, tc.len, p, p.Count(), err, tc.count)
		}
	}
}

func TestChoose(t *testing.T) {
	plan, _ := ParsePlan("10.88.0.0/22", 24) // four subnets
	for _, tc := range []struct {
		name    string
		want    string
		held    map[string]string
		host    []string
		got     string
		wantErr error
	}{
		{name: "first free", got: "10.88.0.0/24"},
		{name: "skips held", held: map[string]string{"10.88.0.0/24": "b", "10.88.1.0/24": "c"}, got: "10.88.2.0/24"},
		{name: "remembered, free", want: "10.88.3.0/24", got: "10.88.3.0/24"},
		{name: "remembered, still ours", want: "10.88.1.0/24", held: map[string]string{"10.88.1.0/24": "a"}, got: "10.88.1.0/24"},
		{name: "remembered, taken meanwhile", want: "10.88.1.0/24", held: map[string]string{"10.88.1.0/24": "b"}, got: "10.88.0.0/24"},
		{name: "remembered, now another plan", want: "10.99.0.0/24", got: "10.88.0.0/24"},
		{name: "remembered, wrong length", want: "10.88.2.0/25", got: "10.88.0.0/24"},
		{name: "claim survived, no memory", held: map[string]string{"10.88.2.0/24": "a", "10.88.0.0/24": "b"}, got: "10.88.2.0/24"},
		{name: "two claims: lowest", held: map[string]string{"10.88.3.0/24": "a", "10.88.2.0/24": "a"}, got: "10.88.2.0/24"},
		{name: "host network skipped", host: []string{"10.88.0.0/23"}, got: "10.88.2.0/24"},
		{name: "host /8 covers all", host: []string{"10.0.0.0/8"}, wantErr: ErrFull},
		{name: "remembered collides with host", want: "10.88.1.0/24", host: []string{"10.88.1.128/25"}, got: "10.88.0.0/24"},
		{name: "full", held: map[string]string{"10.88.0.0/24": "b", "10.88.1.0/24": "c", "10.88.2.0/24": "d", "10.88.3.0/24": "e"}, wantErr: ErrFull},
		{name: "full but one is ours", held: map[string]string{"10.88.0.0/24": "b", "10.88.1.0/24": "c", "10.88.2.0/24": "d", "10.88.3.0/24": "a"}, got: "10.88.3.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := map[netip.Prefix]string{}
			for k, v := range tc.held {
				held[pfx(k)] = v
			}
			var host []netip.Prefix
			for _, h := range tc.host {
				host = append(host, pfx(h))
			}
			var want netip.Prefix
			if tc.want != "" {
				want = pfx(tc.want)
			}
			got, err := Choose(plan, "a", want, held, host)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "--cluster-cidr 10.88.0.0/22") {
					t.Fatalf("Choose = %v, %v; want %v naming the flag", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != pfx(tc.got) {
				t.Fatalf("Choose = %v, %v; want %s", got, err, tc.got)
			}
		})
	}
}

func TestCheckSubnet(t *testing.T) {
	plan, _ := ParsePlan("10.88.0.0/16", 24)
	host := []netip.Prefix{pfx("10.88.5.0/24")}
	for s, wantErr := range map[string]string{
		"10.88.7.0/24": "",
		"10.88.5.0/24": "collides with 10.88.5.0/24",
		"10.89.0.0/24": "is not a /24 subnet of --cluster-cidr",
		"10.88.7.0/25": "is not a /24 subnet",
	} {
		err := CheckSubnet(plan, pfx(s), host)
		if (wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("CheckSubnet(%s) = %v, want %q", s, err, wantErr)
		}
	}
}

func FuzzChoose(f *testing.F) {
	f.Add("10.88.0.0/16", 24, "10.88.3.0/24", "10.88.0.0/24", "10.88.1.0/25")
	f.Add("10.0.0.0/30", 29, "", "", "")
	f.Fuzz(func(t *testing.T, cidr string, bits int, want, held, host string) {
		plan, err := ParsePlan(cidr, bits)
		if err != nil || plan.Count() > 1<<12 {
			return
		}
		w, _ := netip.ParsePrefix(want)
		h := map[netip.Prefix]string{}
		if p, err := netip.ParsePrefix(held); err == nil {
			h[p] = "b"
		}
		var hn []netip.Prefix
		if p, err := netip.ParsePrefix(host); err == nil {
			hn = append(hn, p)
		}
		got, err := Choose(plan, "a", w, h, hn)
		if err != nil {
			return
		}
		if !plan.Contains(got) || h[got] == "b" || overlapsAny(got, hn) {
			t.Fatalf("Choose(%v, want %v, held %v, host %v) = %v: not a free subnet of the plan clear of the host", plan, w, h, hn, got)
		}
	})
}
