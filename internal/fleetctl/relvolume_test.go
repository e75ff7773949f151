package fleetctl

import (
	"path/filepath"
	"testing"
)

// TestSubmitResolvesRelativeVolume: submit resolves a [Container] Volume=
// source starting with "." against the unit file's directory, as Quadlet
// does, so the node gets an absolute path.
func TestSubmitResolvesRelativeVolume(t *testing.T) {
	f := newFakeFleet(t)
	dir := t.TempDir()
	p := writeFile(t, dir, "app.service", "[Container]\nImage=busybox\nVolume=./data:/data:ro\nVolume=cache:/cache\n")
	if out, errOut, code := runCtl(t, f.srv.URL, "submit", p); code != 0 {
		t.Fatalf("submit = %d %q %q", code, out, errOut)
	}
	out, _, code := runCtl(t, f.srv.URL, "cat", "app.service")
	want := "[Container]\nImage=busybox\nVolume=" + filepath.Join(dir, "data") + ":/data:ro\nVolume=cache:/cache\n"
	if code != 0 || out != want {
		t.Errorf("cat = %d %q, want %q", code, out, want)
	}
}
