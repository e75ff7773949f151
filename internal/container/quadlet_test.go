package container

import (
	"errors"
	"reflect"
	"testing"

	"github.com/flotilla-os/flotilla/internal/seccomp"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func parseQuadlet(t *testing.T, body string, o ParseOptions) (*Spec, []string, error) {
	t.Helper()
	f, err := unit.Parse("c@1.service", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if o.Specifiers.Name == "" {
		o.Specifiers = unit.Specifiers{Name: "c@1.service", MachineID: "m1", Hostname: "node1"}
	}
	return ParseQuadlet("c@1.service", f, o)
}

func TestParseQuadlet(t *testing.T) {
	cs, warnings, err := parseQuadlet(t, `[Container]
Image=docker.io/library/redis:7
Exec=redis-server --dir /data/%i "a b" $$HOME
Environment=HOST=%H "B=two words"
Volume=/srv/data:/data:ro
Network=none
Pull=always
[Service]
MemoryMax=64M
`, ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"redis-server", "--dir", "/data/1", "a b", "$HOME"}; !reflect.DeepEqual(cs.Exec, want) {
		t.Errorf("Exec = %q, want %q", cs.Exec, want)
	}
	if want := []string{"HOST=node1", "B=two words"}; !reflect.DeepEqual(cs.Env, want) {
		t.Errorf("Env = %q, want %q", cs.Env, want)
	}
	if want := []Volume{{Source: "/srv/data", Target: "/data", ReadOnly: true}}; !reflect.DeepEqual(cs.Volumes, want) {
		t.Errorf("Volumes = %+v, want %+v", cs.Volumes, want)
	}
	if cs.Network != NetworkNone || cs.Resources.MemoryMax != 64<<20 {
		t.Errorf("Network %q, Resources %+v", cs.Network, cs.Resources)
	}
	if len(warnings) != 1 {
		t.Errorf("warnings = %q, want one for Pull=", warnings)
	}
}

func TestParseQuadletNone(t *testing.T) {
	cs, _, err := parseQuadlet(t, "[Service]\nExecStart=/bin/true\n", ParseOptions{})
	if err != nil || cs != nil {
		t.Fatalf("no [Container]: %+v, %v", cs, err)
	}
	_, _, err = parseQuadlet(t, "[Service]\nExecStart=/bin/true\nMemoryMax=1G\n", ParseOptions{})
	var ue *unit.Error
	if !errors.As(err, &ue) || ue.Field != "MemoryMax" {
		t.Fatalf("resource key without [Container]: %v", err)
	}
}

func TestParseQuadletErrors(t *testing.T) {
	for body, field := range map[string]string{
		"[Container]\nExec=x\n":                                    "Image",
		"[Container]\nImage=i\nNetwork=overlay\n":                  "Network",
		"[Container]\nImage=i\nBogus=1\n":                          "Bogus",
		"[Container]\nImage=i\nExec=%Z\n":                          "Exec",
		"[Container]\nImage=i\nSeccompProfile=/nonexistent.json\n": "SeccompProfile",
	} {
		_, _, err := parseQuadlet(t, body, ParseOptions{})
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Field != field || ue.Section != "Container" {
			t.Errorf("%q: error %v, want one naming [Container] %s", body, err, field)
		}
	}
}

// TestParseQuadletSubmit: at submit the seccomp profile, a file on the
// node that will run the unit, is not read; only its path is checked.
func TestParseQuadletSubmit(t *testing.T) {
	o := ParseOptions{Specifiers: unit.SubmitSpecifiers("c@1.service"), Submit: true}
	cs, _, err := parseQuadlet(t, "[Container]\nImage=i\nSeccompProfile=/nonexistent.json\n", o)
	if err != nil || cs.Seccomp != nil {
		t.Fatalf("submit: %+v, %v", cs, err)
	}
	if _, _, err := parseQuadlet(t, "[Container]\nImage=i\nSeccompProfile=rel.json\n", o); err == nil {
		t.Fatal("submit: a relative profile path passed")
	}
	cs, _, err = parseQuadlet(t, "[Container]\nImage=i\nSeccompProfile="+seccomp.UnconfinedName+"\n", o)
	if err != nil || cs.Seccomp != seccomp.Unconfined {
		t.Fatalf("unconfined: %+v, %v", cs, err)
	}
}
