package bootconfig

import (
	"reflect"
	"strings"
	"testing"
)

func TestMarshal(t *testing.T) {
	b := testBundle(t)
	no := false
	cfg := &Config{
		Version:  1,
		Hostname: "n1",
		Network: Network{
			Interfaces: []Interface{{Name: "eth0", Addresses: []string{"10.77.0.1/24"}, Gateway: "10.77.0.254", MTU: 1500}},
			DNS:        []string{"10.77.0.254"},
		},
		Cluster: Cluster{
			PeerURL: "https://10.77.0.1:2380", ClientURL: "https://10.77.0.1:2379",
			InitialCluster: "n1=https://10.77.0.1:2380,n2=https://10.77.0.2:2380,n3=https://10.77.0.3:2380",
		},
		Metadata: map[string]string{"zone": "b", "disk": "ssd", "arch": "amd64"},
		TLS:      &TLS{CA: b.CA, Cert: b.Cert, Key: b.Key},
		Update: &Update{URL: "https://updates.example.com/flotilla", PublicKey: key32,
			RebootWindow: &RebootWindow{Start: "Thu 04:00", Length: "1h"}},
		Units: []Unit{
			{Name: "web@.service", Contents: okUnit + "ExecStartPre=/bin/sh -c 'a && b < c'\n", Start: &no},
			{Name: "web@1.service", Contents: okUnit},
		},
	}
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasSuffix(s, "}\n") || !strings.Contains(s, "\n  \"hostname\": \"n1\",\n") {
		t.Errorf("not indented JSON with a final newline:\n%s", s)
	}
	if !strings.Contains(s, "a && b < c") {
		t.Error("HTML-escaped unit contents")
	}
	if a, d, z := strings.Index(s, `"arch"`), strings.Index(s, `"disk"`), strings.Index(s, `"zone"`); !(a < d && d < z) {
		t.Error("metadata keys not sorted")
	}
	for range 5 {
		again, _ := Marshal(cfg)
		if string(again) != s {
			t.Fatal("Marshal is not stable")
		}
	}
	back, err := Parse(out, "marshalled")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip changed the config:\n%+v\n%+v", back, cfg)
	}

	if out, err := Marshal(&Config{}); err != nil || string(out) != "{}\n" {
		t.Errorf("empty config marshals to %q, %v; want {}", out, err)
	}
	_, err = Marshal(&Config{Hostname: "-x"})
	if err == nil || !strings.Contains(err.Error(), "hostname: ") {
		t.Errorf("Marshal of an invalid config: %v", err)
	}
}
