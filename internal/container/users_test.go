package container

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/flotilla-os/flotilla/internal/sandbox"
)

func TestCapabilities(t *testing.T) {
	if got := capabilities(nil, nil); got != nil {
		t.Errorf("no changes: %v, want nil (the default set)", got)
	}
	got := capabilities([]string{"net_admin"}, []string{"NET_RAW", "cap_mknod"})
	if slices.Contains(got, "CAP_NET_RAW") || slices.Contains(got, "CAP_MKNOD") {
		t.Errorf("dropped capabilities kept: %v", got)
	}
	if !slices.Contains(got, "CAP_NET_ADMIN") || len(got) != len(sandbox.DefaultCapabilities)-1 {
		t.Errorf("add NET_ADMIN, drop two: %v", got)
	}
	if got := capabilities([]string{"SYS_TIME"}, []string{"all"}); !reflect.DeepEqual(got, []string{"CAP_SYS_TIME"}) {
		t.Errorf("drop all, add one: %v", got)
	}
	if got := capabilities(nil, []string{"ALL"}); got == nil || len(got) != 0 {
		t.Errorf("drop all: %#v, want an empty set", got)
	}
}

func TestLookupUser(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/data:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1001:\nextra:x:2000:app\n"), 0o644)
	cases := []struct {
		spec     string
		uid, gid uint32
		groups   []uint32
		wantErr  bool
	}{
		{"", 0, 0, nil, false},
		{"app", 1000, 1001, []uint32{2000}, false},
		{"1000", 1000, 1001, []uint32{2000}, false},
		{"4242", 4242, 4242, nil, false},
		{"app:extra", 1000, 2000, []uint32{2000}, false},
		{"app:7", 1000, 7, []uint32{2000}, false},
		{"nobody", 0, 0, nil, true},
		{"app:nogroup", 0, 0, nil, true},
	}
	for _, tc := range cases {
		uid, gid, groups, err := lookupUser(root, tc.spec)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v", tc.spec, err)
			continue
		}
		if !tc.wantErr && (uid != tc.uid || gid != tc.gid || !reflect.DeepEqual(groups, tc.groups)) {
			t.Errorf("%q: %d:%d %v, want %d:%d %v", tc.spec, uid, gid, groups, tc.uid, tc.gid, tc.groups)
		}
	}
	// /etc/passwd a symlink out of the root is not followed out.
	evil := t.TempDir()
	os.MkdirAll(filepath.Join(evil, "etc"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(evil, "etc/passwd"))
	if _, _, _, err := lookupUser(evil, "root"); err == nil {
		t.Errorf("a symlinked /etc/passwd was read from the host")
	}
}
