package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// quadletSpec parses a [Container] section for unit name as the node does.
func quadletSpec(t *testing.T, name, body string) *Spec {
	t.Helper()
	f, err := unit.Parse(name, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	cs, _, err := ParseQuadlet(name, f, ParseOptions{Specifiers: unit.Specifiers{Name: name, MachineID: "m1", Hostname: "node1"}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestReadOnlyTmpfs: ReadOnly=yes leaves /run, /tmp and /var/tmp writable
// (tmpfs, filled from the image) as Podman's --read-only-tmpfs default
// does; ReadOnlyTmpfs=no makes them read-only too.
func TestReadOnlyTmpfs(t *testing.T) {
	rt, ref := testRuntime(t)
	script := `echo 1 > /run/app.pid && echo run-ok; touch /tmp/a /var/tmp/b && echo tmp-ok; touch /etc/x; ls -ld /tmp | cut -c1-10`
	body := "[Container]\nImage=" + ref + "\nNetwork=none\nReadOnly=yes\nExec=/bin/sh -c '" + script + "'\n"
	out, ws := runContainer(t, rt, "ro.service", quadletSpec(t, "ro.service", body))
	for _, want := range []string{"run-ok", "tmp-ok", "touch: /etc/x: Read-only file system", "drwxrwxrwt"} {
		if !strings.Contains(out, want) {
			t.Errorf("ReadOnly=yes: output lacks %q (status %v):\n%s", want, ws, out)
		}
	}
	// Tmpfs=, nested in the /run tmpfs, with its own mode.
	tbody := "[Container]\nImage=" + ref + "\nNetwork=none\nReadOnly=yes\nTmpfs=/run/app:mode=0710,size=1m\nTmpfs=/etc/opq:ro\n" +
		"Exec=/bin/sh -c 'touch /run/app/x && echo app-ok; ls -ld /run/app | cut -c1-10; ls /etc/opq; touch /etc/opq/y'\n"
	out, _ = runContainer(t, rt, "ro.service", quadletSpec(t, "ro.service", tbody))
	for _, want := range []string{"app-ok", "drwx--x---", "c\n", "touch: /etc/opq/y: Read-only file system"} {
		if !strings.Contains(out, want) {
			t.Errorf("Tmpfs=: output lacks %q:\n%s", want, out)
		}
	}
	out, _ = runContainer(t, rt, "ro.service", quadletSpec(t, "ro.service", body+"ReadOnlyTmpfs=no\n"))
	if strings.Contains(out, "run-ok") || strings.Contains(out, "tmp-ok") {
		t.Errorf("ReadOnlyTmpfs=no: /run or /tmp writable:\n%s", out)
	}
}

// TestVolumeForms: a named volume is kept across starts (and filled from
// the image when new), an anonymous one is fresh at each start and gone
// after it, and a host path is bound as given.
func TestVolumeForms(t *testing.T) {
	rt, ref := testRuntime(t)
	host := t.TempDir()
	body := "[Container]\nImage=" + ref + "\nNetwork=none\n" +
		"Volume=data-%i:/data\nVolume=/scratch\nVolume=conf:/etc/opq\nVolume=" + host + ":/host\n" +
		`Exec=/bin/sh -c 'echo start >> /data/log; cat /data/log | wc -l; ls /scratch; touch /scratch/f; ls /etc/opq; echo hi > /host/f'` + "\n"
	cs := quadletSpec(t, "v@1.service", body)
	out1, ws := runContainer(t, rt, "v@1.service", cs)
	if ws.ExitStatus() != 0 {
		t.Fatalf("first start: %v\n%s", ws, out1)
	}
	out2, _ := runContainer(t, rt, "v@1.service", cs)
	if !strings.HasPrefix(out1, "1\n") || !strings.HasPrefix(out2, "2\n") {
		t.Errorf("named volume not kept across starts:\n%s---\n%s", out1, out2)
	}
	if lines := strings.Split(out2, "\n"); len(lines) < 2 || lines[1] != "c" {
		t.Errorf("second start saw %q; want an empty anonymous volume then /etc/opq's c (copied up from the image)", out2)
	}
	if _, err := os.Stat(filepath.Join(rt.cfg.Dir, "volumes", "data-1", "log")); err != nil {
		t.Errorf("named volume not under the node's volumes directory: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(rt.unitDir("v@1.service"), "anon")); len(ents) != 0 {
		t.Errorf("anonymous volumes left after the container exited: %d", len(ents))
	}
	if b, err := os.ReadFile(filepath.Join(host, "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("host volume: %q, %v", b, err)
	}
	if err := rt.Destroy("v@1.service"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rt.cfg.Dir, "volumes", "data-1", "log")); err != nil {
		t.Errorf("named volume removed with the unit (podman rm -v keeps named volumes): %v", err)
	}
}
