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

// TestInstallLinks: a unit with [Install] is enabled on Load, as fleet
// does (its functional TestInstallUnit starts a discovery unit through
// hello.service's WantedBy= link): a link per WantedBy=/RequiredBy=,
// specifiers expanded; a changed [Install] moves them, Unload removes
// them, and links that are not the unit's stay.
func TestInstallLinks(t *testing.T) {
	m, f := newTest(t)
	dir := m.cfg.UnitDir
	path := filepath.Join(dir, "discovery@1.service")
	foreign := filepath.Join(dir, "hello.service.wants", "other.service")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Dir(foreign), 0o755))
	must(os.Symlink("/etc/systemd/system/other.service", foreign))
	linkOf := func(p string) string {
		target, err := os.Readlink(filepath.Join(dir, p))
		if err != nil {
			return ""
		}
		return target
	}
	reloads := f.Reloads()
	must(m.Load("discovery@1.service", file(t, "[Unit]\nBindsTo=hello.service\n[Service]\nExecStart=/bin/sleep 1000\n"+
		"[Install]\nWantedBy=hello.service multi-user.target\nRequiredBy=web@%i.service\n")))
	for _, l := range []string{"hello.service.wants/discovery@1.service", "multi-user.target.wants/discovery@1.service", "web@1.service.requires/discovery@1.service"} {
		if got := linkOf(l); got != path {
			t.Errorf("%s links to %q, want %s", l, got, path)
		}
	}
	if err := m.Start("discovery@1.service"); err != nil { // forces the pending reload
		t.Fatal(err)
	}
	if f.Reloads() == reloads {
		t.Error("enabling the unit did not reload systemd")
	}

	must(m.Load("discovery@1.service", file(t, "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=hello.service\n")))
	if linkOf("hello.service.wants/discovery@1.service") != path {
		t.Error("the link that stays named was removed")
	}
	for _, d := range []string{"multi-user.target.wants", "web@1.service.requires"} {
		if _, err := os.Lstat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("%s outlived the key that made it (%v)", d, err)
		}
	}

	must(m.Unload("discovery@1.service"))
	if _, err := os.Lstat(filepath.Join(dir, "hello.service.wants/discovery@1.service")); !os.IsNotExist(err) {
		t.Errorf("the link outlived Unload (%v)", err)
	}
	if linkOf("hello.service.wants/other.service") != "/etc/systemd/system/other.service" {
		t.Error("a link the backend did not make was touched")
	}
}
