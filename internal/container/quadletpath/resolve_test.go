package quadletpath

import (
	"path/filepath"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestResolveRelativePaths: relative sources resolve against the unit
// file's directory as in Quadlet's handleStorageSource/getAbsolutePath
// (source[0] == '.'); nothing else changes.
func TestResolveRelativePaths(t *testing.T) {
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
EnvironmentFile=app.env /etc/abs.env ../shared.env %h/x.env
EnvironmentFile="quoted file.env"
`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ResolveRelativePaths(f, "/srv/units/web")
	if err != nil || n != 5 {
		t.Fatalf("rewrote %d, %v; want 5", n, err)
	}
	if got, want := f.Values("Container", "EnvironmentFile"), []string{"/srv/units/web/app.env /etc/abs.env /srv/units/shared.env %h/x.env", `"quoted file.env"`}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("EnvironmentFile = %q, want %q", got, want)
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
	if _, err := ResolveRelativePaths(f, "units"); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Value("Container", "Volume"); !filepath.IsAbs(v) {
		t.Errorf("relative dir: %q is not absolute", v)
	}
}
