package health

import (
	"testing"
	"time"
)

// FuzzParse: the parsers never panic, what they accept is within Podman's
// limits, and a parsed probe parses again to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"30s", "disable", "1m30s", "http://:8080/healthz", "tcp://[::1]:5432", `["/bin/true"]`, "curl -f x", "none", "-1s", "http://x:0/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseProbe(s); err == nil {
			q, err := ParseProbe(p)
			if err != nil || q != p {
				t.Fatalf("ParseProbe(%q) = %q, which parses to %q, %v", s, p, q, err)
			}
		}
		if d, err := ParseInterval(s); err == nil && d != 0 && d < time.Second {
			t.Fatalf("ParseInterval(%q) = %v, below 1s", s, d)
		}
		if d, err := ParseTimeout(s); err == nil && d < time.Second {
			t.Fatalf("ParseTimeout(%q) = %v, below 1s", s, d)
		}
		if d, err := ParseStartPeriod(s); err == nil && d < 0 {
			t.Fatalf("ParseStartPeriod(%q) = %v", s, d)
		}
		if n, err := ParseRetries(s); err == nil && n < 1 {
			t.Fatalf("ParseRetries(%q) = %d", s, n)
		}
		if argv, err := ParseCmd(s); err == nil && argv != nil && (len(argv) == 0 || argv[0] == "") {
			t.Fatalf("ParseCmd(%q) = %q", s, argv)
		}
	})
}
