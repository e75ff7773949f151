package systemd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// depsUnit is a sidekick with every dependency key the native manager
// implements, specifiers unexpanded, and [Install] and [X-Fleet].
const depsUnit = "[Unit]\nDescription=announce %i\nRequires=etcd.service\nRequisite=net.service\n" +
	"Wants=log@%i.service\nBindsTo=web@%i.service\nPartOf=web@%i.service\nAfter=web@%i.service etcd.service\n" +
	"Before=lb.service\n\n[Service]\nExecStart=/bin/sleep 1000\n\n" +
	"[Install]\nWantedBy=multi-user.target\nRequiredBy=lb.service\n\n[X-Fleet]\nMachineOf=web@%i.service\n"

// depLines are the dependency lines of a unit file's text, in order.
func depLines(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		k, _, _ := strings.Cut(l, "=")
		switch k {
		case "Requires", "Requisite", "Wants", "BindsTo", "PartOf", "After", "Before", "WantedBy", "RequiredBy", "MachineOf":
			out = append(out, l)
		}
	}
	return out
}

// TestDepsPassThrough (issue 16): the systemd backend hands [Unit]
// dependencies and [Install] to systemd unchanged, for systemd to apply:
// in the unit file it writes, and in the unit it generates for a
// container unit.
func TestDepsPassThrough(t *testing.T) {
	want := []string{"Requires=etcd.service", "Requisite=net.service", "Wants=log@%i.service",
		"BindsTo=web@%i.service", "PartOf=web@%i.service", "After=web@%i.service etcd.service",
		"Before=lb.service", "WantedBy=multi-user.target", "RequiredBy=lb.service", "MachineOf=web@%i.service"}

	m, _ := newTest(t)
	if err := m.Load("web-discovery@1.service", file(t, depsUnit)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(m.cfg.UnitDir, "web-discovery@1.service"))
	if err != nil {
		t.Fatal(err)
	}
	if got := depLines(string(b)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("written unit's dependencies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(string(b), "[Install]\nWantedBy=multi-user.target\n") {
		t.Errorf("[Install] not kept as a section:\n%s", b)
	}

	text := strings.Replace(depsUnit, "[Service]\nExecStart=/bin/sleep 1000\n", "[Container]\nImage=busybox\n", 1)
	f, err := unit.Parse("web-discovery@1.service", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	gen, err := generate("web-discovery@1.service", f, &container.Root{Dir: t.TempDir(), Args: []string{"/bin/app"}, Cwd: "/", Network: container.NetworkHost})
	if err != nil {
		t.Fatal(err)
	}
	if got := depLines(gen); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("generated container unit's dependencies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
