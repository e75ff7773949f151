package imagebuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestRootShell (issue 14): the root holds a POSIX /bin/sh and the tools of
// fleet units' ExecStart=/bin/sh -c lines. The shell part of the tree is
// laid out in a directory as the squashfs would hold it, and a unit-style
// line runs through /bin/sh, resolving sleep, echo, cat, date and grep by
// PATH the way the native manager's default PATH does.
func TestRootShell(t *testing.T) {
	testenv.NeedCommand(t, busyboxSrc)
	tree := &diskimage.Tree{}
	if err := addShell(tree); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, e := range tree.Entries() {
		p := filepath.Join(dir, e.Path)
		var err error
		switch e.Kind {
		case diskimage.KindDir:
			err = os.MkdirAll(p, 0o755)
		case diskimage.KindSymlink:
			err = os.Symlink(e.Target, p)
		case diskimage.KindFile:
			var b []byte
			if b, err = os.ReadFile(e.Src); err == nil {
				err = os.WriteFile(p, b, e.Mode.Perm())
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"bin/sh", "usr/bin/sh", "bin/sleep", "bin/grep", "usr/bin/date"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("root lacks /%s: %v", want, err)
		}
	}
	path := filepath.Join(dir, "usr/bin") + ":" + filepath.Join(dir, "bin")
	cmd := exec.Command(filepath.Join(dir, "bin/sh"), "-c", `sleep 0.01; echo "up $(date +%Y)" > "$T/f"; cat "$T/f" | grep -q '^up 2' && echo ok; [ -n "$PPID" ] && test 1 -eq 1`)
	cmd.Env = []string{"PATH=" + path, "T=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("/bin/sh -c with sleep, echo, date, cat, grep: %v %q", err, out)
	}
	// Each link runs as its applet on its own too (ExecStart=/bin/sleep 1000).
	for _, c := range [][]string{{"bin/sleep", "0"}, {"usr/bin/true"}, {"bin/echo", "x"}} {
		if out, err := exec.Command(filepath.Join(dir, c[0]), c[1:]...).CombinedOutput(); err != nil {
			t.Errorf("/%s: %v %s", strings.Join(c, " "), err, out)
		}
	}
}
