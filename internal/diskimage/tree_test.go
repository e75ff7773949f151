package diskimage

import (
	"io/fs"
	"strings"
	"testing"
)

func TestTreeAdd(t *testing.T) {
	var tr Tree
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.AddBytes("/etc//hosts", []byte("x"), 0o644))
	must(tr.AddDir("etc", 0o700))
	must(tr.AddSymlink("bin/sh", "/bbin/elvish"))
	must(tr.AddDir("tmp", 0o777|fs.ModeSticky))

	var paths []string
	for _, e := range tr.Entries() {
		paths = append(paths, e.Path+":"+e.Kind.String())
	}
	if got, want := strings.Join(paths, " "), "bin:directory bin/sh:symlink etc:directory etc/hosts:file tmp:directory"; got != want {
		t.Errorf("entries = %s, want %s", got, want)
	}
	if m := tr.Lookup("etc").Mode; m != 0o700 {
		t.Errorf("etc mode = %v, want 0700 (AddDir after an implicit dir sets its mode)", m)
	}
	if m := tr.Lookup("bin").Mode; m != DefaultDirMode {
		t.Errorf("implicit bin mode = %v, want %v", m, DefaultDirMode)
	}

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"duplicate file", tr.AddBytes("etc/hosts", nil, 0o644), "added twice"},
		{"dir over file", tr.AddDir("etc/hosts", 0o755), "added twice"},
		{"below a file", tr.AddBytes("etc/hosts/x", nil, 0o644), "parent \"etc/hosts\" is a file"},
		{"below a symlink", tr.AddBytes("bin/sh/x", nil, 0o644), "is a symlink"},
		{"type bits", tr.AddDir("d", fs.ModeDir|0o755), "type bits"},
		{"file at root", tr.AddBytes("/", nil, 0o644), "at the root"},
		{"empty symlink", tr.AddSymlink("l", ""), "empty target"},
		{"empty src", tr.AddFile("f", "", 0o644), "empty source"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}
