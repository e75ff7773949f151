package initd

import (
	"fmt"
	"path/filepath"

	"github.com/u-root/u-root/pkg/libinit"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/node"
)

// Boot steps are data, as in u-root's libinit/root_linux.go: each is a
// libinit.Creator whose String is the readable command it stands for. The
// tables take a root prefix ("" on a real boot) so tests can run them into a
// temporary directory. Unlike libinit.Namespace they mount no cgroup v1, copy
// no /etc and write no resolv.conf.

// EarlyMounts is stage 1's table: the API file systems every later step
// needs. Stage 2 runs it too when /proc is missing (booted without stage 1).
func EarlyMounts(root string) []libinit.Creator {
	p := func(s string) string { return filepath.Join(root, s) }
	const nosuidNoexec = unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV
	return []libinit.Creator{
		libinit.Dir{Name: p("/dev"), Mode: 0o755},
		libinit.Mount{Source: "devtmpfs", Target: p("/dev"), FSType: "devtmpfs", Flags: unix.MS_NOSUID, Opts: "mode=0755"},
		libinit.Dir{Name: p("/proc"), Mode: 0o555},
		libinit.Mount{Source: "proc", Target: p("/proc"), FSType: "proc", Flags: nosuidNoexec},
		libinit.Dir{Name: p("/sys"), Mode: 0o555},
		libinit.Mount{Source: "sysfs", Target: p("/sys"), FSType: "sysfs", Flags: nosuidNoexec},
		libinit.Dir{Name: p("/dev/pts"), Mode: 0o755},
		libinit.Mount{Source: "devpts", Target: p("/dev/pts"), FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Opts: "gid=5,mode=620,ptmxmode=666"},
		libinit.Dir{Name: p("/dev/shm"), Mode: 0o1777},
		libinit.Mount{Source: "shm", Target: p("/dev/shm"), FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Opts: "mode=1777"},
		libinit.Dir{Name: p("/run"), Mode: 0o755},
		libinit.Mount{Source: "run", Target: p("/run"), FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Opts: "mode=0755"},
	}
}

// LateMounts is stage 2's table, on the read-only root: cgroup v2 (with
// nsdelegate, so containers may be given a subtree), /tmp and the runtime
// directories under /run. The root squashfs must hold the mount points.
func LateMounts(root string) []libinit.Creator {
	p := func(s string) string { return filepath.Join(root, s) }
	return []libinit.Creator{
		libinit.Mount{Source: "cgroup2", Target: p("/sys/fs/cgroup"), FSType: "cgroup2", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, Opts: "nsdelegate"},
		libinit.Mount{Source: "tmpfs", Target: p("/tmp"), FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Opts: "mode=1777"},
		libinit.Dir{Name: p(node.TLSDir), Mode: 0o700},
		libinit.Dir{Name: p("/run/fleetd"), Mode: 0o755},
	}
}

// OptionalMounts may fail (no EFI firmware under QEMU -kernel, say); a
// failure is logged, never fatal.
func OptionalMounts(root string) []libinit.Creator {
	p := func(s string) string { return filepath.Join(root, s) }
	return []libinit.Creator{
		libinit.Mount{Source: "efivarfs", Target: p("/sys/firmware/efi/efivars"), FSType: "efivarfs", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV},
	}
}

// Create runs steps in order and stops at the first failure, which it
// returns as the step's command and the error. A mount whose target is
// already a mount point is skipped, so a table can be run twice.
func Create(steps []libinit.Creator) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, s := range steps {
		if m, ok := s.(libinit.Mount); ok && m.Flags&(unix.MS_REMOUNT|unix.MS_BIND|unix.MS_MOVE) == 0 && IsMountPoint(m.Target) {
			continue
		}
		if err := s.Create(); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// IsMountPoint reports whether path is the root of a mount: its device
// differs from its parent's (a bind mount of the same file system is not
// seen, which the tables never make), or it is "/".
func IsMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false
	}
	if err := unix.Lstat(filepath.Join(path, ".."), &parent); err != nil {
		return false
	}
	return st.Dev != parent.Dev || st.Ino == parent.Ino
}

// CreateOptional runs every step, logging failures through logf.
func CreateOptional(steps []libinit.Creator, logf func(string, ...any)) {
	for _, s := range steps {
		if err := s.Create(); err != nil {
			logf("flotilla: optional step %s: %v", s, err)
		}
	}
}
