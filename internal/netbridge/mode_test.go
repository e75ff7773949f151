package netbridge

import "testing"

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeBridge, "bridge": ModeBridge, "host": ModeHost, "none": ModeNone} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Bridge", "slirp4netns", "container:x"} {
		if _, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q): no error", in)
		}
	}
	if ModeHost.NewNetNS() || !ModeNone.NewNetNS() || !ModeBridge.NewNetNS() {
		t.Error("NewNetNS: only host shares the node's namespace")
	}
}
