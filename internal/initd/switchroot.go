package initd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/u-root/u-root/pkg/mount"
	"golang.org/x/sys/unix"
)

// switchRoot makes newRoot the root file system and runs stage 2 there
// from the binary already running, the initramfs's /init, instead of the
// root's /sbin/init (the same build: a UKI and its slot are written
// together). Under QEMU without KVM the first run of a binary costs ~3 s
// of code translation; exec'ing the same file again reuses it, as do
// fleetd and the updater, which init starts from /proc/self/exe.
//
// It is switch_root as u-root's mount.SwitchRoot does it (move the API
// mounts, free the initramfs, move newRoot onto /, chroot), except for
// what it execs and with which argv[0]: flotilla picks its program by it.
func switchRoot(newRoot string) error {
	// The open file keeps the running binary's inode once its name is
	// gone; /proc/self/fd/N reaches it from inside the new root.
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("open the running init: %w", err)
	}
	defer self.Close()
	for _, m := range []string{"/dev", "/proc", "/sys", "/run"} {
		if err := mount.MoveMount(m, filepath.Join(newRoot, m)); err != nil {
			return fmt.Errorf("move %s into %s: %w", m, newRoot, err)
		}
	}
	// What is left of the initramfs is files, freed now; newRoot and
	// whatever else is mounted are other file systems and are skipped.
	var root unix.Stat_t
	if err := unix.Lstat("/", &root); err != nil {
		return err
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if p := "/" + e.Name(); p != newRoot {
			removeOnDevice(p, root.Dev)
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s onto /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", newRoot, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	exe := fmt.Sprintf("/proc/self/fd/%d", self.Fd())
	if err := unix.Exec(exe, []string{"/sbin/init"}, []string{}); err != nil {
		return fmt.Errorf("exec stage 2 (%s): %w", exe, err)
	}
	return nil
}

// removeOnDevice removes path and, for a directory, what it holds, without
// crossing into another file system (a mount point is left as it is).
// Failures are left behind: they only cost memory.
func removeOnDevice(path string, dev uint64) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Dev != dev {
		return
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			removeOnDevice(filepath.Join(path, e.Name()), dev)
		}
	}
	os.Remove(path)
}
