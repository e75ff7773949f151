package fleetctl

import (
	"strings"
	"testing"
)

// TestSubmitWarnsSkippedLines: lines systemd skips with a warning (here an
// assignment before the first section and a line without '=') do not stop
// a submit; fleetctl says which, on stderr, and submits the rest.
func TestSubmitWarnsSkippedLines(t *testing.T) {
	f := newFakeFleet(t)
	p := writeFile(t, t.TempDir(), "web.service", "Description=early\n[Service]\nExecStart=/bin/web\nbogus line\n")
	out, errOut, code := runCtl(t, f.srv.URL, "submit", p)
	if code != 0 || out != "Unit web.service inactive\n" {
		t.Fatalf("submit = %d %q %q", code, out, errOut)
	}
	for _, want := range []string{
		"Warning: " + p + ": unit web.service: line 1: assignment \"Description=early\" comes before the first [Section]",
		"Warning: " + p + ": unit web.service: line 4: \"bogus line\" has no '='",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	out, _, _ = runCtl(t, f.srv.URL, "cat", "web.service")
	if out != "[Service]\nExecStart=/bin/web\n" {
		t.Errorf("cat = %q", out)
	}
}
