package quadletpath

import (
	"path/filepath"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestResolveRelativeVolumes: relative sources resolve against the unit
// file's directory as in Quadlet's handleStorageSource/getAbsolutePath
// (source[0] == '.'); nothing else changes.
func TestResolveRelativeVolumes(t *testing.T) {
	f, err := unit.Parse("web.service", []byte(`[Service]
Volume=./not-container:/x
[Container]
Image=i
Volume=./data:/data:ro
Volume=../shared:/shared
Volume=.hidden:/h
Volume=/abs:/abs
Volume=named:/n
Volume=%h/cfg:/cfg
Volume=/anon
Volume=.alone
`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ResolveRelativeVolumes(f, "/srv/units/web")
	if err != nil || n != 3 {
		t.Fatalf("rewrote %d, %v; want 3", n, err)
	}
	want := []string{"/srv/units/web/data:/data:ro", "/srv/units/shared:/shared", "/srv/units/web/.hidden:/h",
		"/abs:/abs", "named:/n", "%h/cfg:/cfg", "/anon", ".alone"}
	got := f.Values("Container", "Volume")
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("Volume %d = %q, want %q", i, got, want[i])
		}
	}
	if v, _ := f.Value("Service", "Volume"); v != "./not-container:/x" {
		t.Errorf("[Service] Volume= changed to %q", v)
	}
	// A relative dir is made absolute.
	f, _ = unit.Parse("w.service", []byte("[Container]\nVolume=./d:/d\n"))
	if _, err := ResolveRelativeVolumes(f, "units"); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Value("Container", "Volume"); !filepath.IsAbs(v) {
		t.Errorf("relative dir: %q is not absolute", v)
	}
}
