package unit

import (
	"strings"
	"testing"
)

func TestSpecifiersExpand(t *testing.T) {
	sp := Specifiers{Name: "web@a-b\\x2dc.service", MachineID: "m1", Hostname: "node1"}
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "%n %N %p %i", want: "web@a-b\\x2dc.service web@a-b\\x2dc web a-b\\x2dc"},
		{in: "/%I/", want: "/a/b-c/"},
		{in: "%m@%H 100%%", want: "m1@node1 100%"},
		{in: "%t", err: "unsupported specifier %t"},
		{in: "50%", err: "% at end of value"},
	} {
		got, err := sp.Expand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Expand(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestExpandersAgree: fleet's lenient Name.Expand and the node's strict
// Specifiers.Expand give the same value for the letters both know, and
// Name.Expand leaves the others as they are.
func TestExpandersAgree(t *testing.T) {
	for _, name := range []string{"web@1.service", "db.service", "web@.service", "a.b@x.y.timer"} {
		n, err := ParseName(name)
		if err != nil {
			t.Fatal(err)
		}
		const in = "%n|%N|%p|%i|%%"
		strict, err := Specifiers{Name: name}.Expand(in)
		if err != nil {
			t.Fatal(err)
		}
		if lenient := n.Expand(in); lenient != strict {
			t.Errorf("%s: Name.Expand %q, Specifiers.Expand %q", name, lenient, strict)
		}
		if got := n.Expand("%m %H %I x%"); got != "%m %H %I x%" {
			t.Errorf("%s: Name.Expand expanded what systemd should: %q", name, got)
		}
	}
}

func TestSubmitSpecifiers(t *testing.T) {
	got, err := SubmitSpecifiers("web@1.service").Expand("%i on %m (%H)")
	if err != nil || got != "1 on 00000000000000000000000000000000 (localhost)" {
		t.Fatalf("got %q, %v", got, err)
	}
}
