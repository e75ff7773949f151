package initd

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestRemoveOnDevice: freeing the initramfs removes its files and
// directories but never crosses into a mounted file system.
func TestRemoveOnDevice(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	for _, d := range []string{"lib/modules/x", "etc", "mnt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"init", "lib/modules/x/a.ko", "etc/os-release"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/etc", filepath.Join(dir, "link"))
	mnt := filepath.Join(dir, "mnt")
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	kept := filepath.Join(mnt, "kept")
	if err := os.WriteFile(kept, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		removeOnDevice(filepath.Join(dir, e.Name()), st.Dev)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "mnt" {
		t.Errorf("left behind %v, want only the mount point mnt", left)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("a file on the mounted file system is gone: %v", err)
	}
	if _, err := os.Stat("/etc/os-release"); err != nil {
		t.Errorf("followed a symlink out: %v", err)
	}
}
