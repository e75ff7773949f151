package units

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

// TestUnitsParse: every file in units/ is a unit fleetd accepts on submit
// (unit.Validate for the name and [X-Fleet], native.Validate for what a
// node's manager would refuse), and each template also as its instance
// web@1.service, since the engine parses instances under their own names.
func TestUnitsParse(t *testing.T) {
	files, err := filepath.Glob("*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".md") {
			continue
		}
		n++
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		names := []string{path}
		if base, ok := strings.CutSuffix(path, "@.service"); ok {
			names = append(names, base+"@1.service")
		}
		for _, name := range names {
			f, err := unit.Parse(name, data)
			if err != nil {
				t.Errorf("units/%s: %v", path, err)
				continue
			}
			if _, _, err := unit.Validate(name, f); err != nil {
				t.Errorf("units/%s: %v", path, err)
			}
			if err := native.Validate(name, f); err != nil {
				t.Errorf("units/%s: %v", path, err)
			}
		}
	}
	if n < 5 {
		t.Errorf("%d unit files in units/, want the README's hello.service, web@.service, heartbeat.service, clock.service and caller.service", n)
	}
}

// TestUnitsShowWhatTheyTeach: each kind of unit the README's tour relies
// on is here, with the option that makes it that kind.
func TestUnitsShowWhatTheyTeach(t *testing.T) {
	for _, c := range []struct{ file, section, key, value string }{
		{"web@.service", "X-Fleet", "Conflicts", "web@*.service"},
		{"web@.service", "Container", "Image", "docker-archive:/usr/share/flotilla/images/busybox.tar"},
		{"heartbeat.service", "X-Fleet", "Global", "true"},
		{"clock.service", "X-Fleet", "MachineMetadata", "node=1"},
		{"hello.service", "Service", "ExecStart", "/usr/bin/fleetctl --version"},
		{"caller.service", "X-Fleet", "MachineOf", "web@2.service"},
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := unit.Parse(c.file, data)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, o := range f.Options {
			if o.Section == c.section && o.Name == c.key && o.Value == c.value {
				found = true
			}
		}
		if !found {
			t.Errorf("units/%s: no [%s] %s=%s", c.file, c.section, c.key, c.value)
		}
	}
}
