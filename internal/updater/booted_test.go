package updater

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNodeBootBooted: the updater reads the slot with node.ParseCmdline.
func TestNodeBootBooted(t *testing.T) {
	for line, want := range map[string]string{
		"flotilla.slot=B console=ttyS0,115200 panic=10\n":    "B",
		"console=ttyS0 flotilla.slot=A flotilla.debug=maybe": "A", // init's business
		"console=ttyS0":                        "",
		"flotilla.slot=C":                      "",
		`flotilla.config="http://h/a b" quiet`: "",
	} {
		p := filepath.Join(t.TempDir(), "cmdline")
		if err := os.WriteFile(p, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := (&NodeBoot{Cmdline: p}).Booted()
		if got != want || (want == "") != (err != nil) {
			t.Errorf("Booted() of %q = %q, %v; want %q", line, got, err, want)
		}
	}
}
