package initd

import (
	"strings"
	"testing"
)

func TestVerityParamsFromCmdline(t *testing.T) {
	root := strings.Repeat("ab", 32)
	c, err := ParseCmdline("flotilla.slot=B flotilla.verity.root=" + root +
		" flotilla.verity.salt=0102 flotilla.verity.blocks=10 flotilla.verity.hashoffset=40960")
	if err != nil {
		t.Fatal(err)
	}
	p, err := VerityParams(c.Verity)
	if err != nil {
		t.Fatal(err)
	}
	want := "1 /dev/vda3 /dev/vda3 4096 4096 10 11 sha256 " + root + " 0102"
	if got := p.Table("/dev/vda3", "/dev/vda3"); got != want {
		t.Errorf("table %q, want %q", got, want)
	}
	c, err = ParseCmdline("flotilla.slot=A")
	if err != nil || c.Verity.Enabled() {
		t.Errorf("no verity keys: %+v, %v", c.Verity, err)
	}
}
