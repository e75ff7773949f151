package sandbox

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Devices in the container's /dev (mode 0666); with a user namespace they
// are bind-mounted from the host's /dev, otherwise created with mknod.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devSymlinks = [][2]string{ // name, target
	{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
}

const (
	mntNoExecSuidDev = unix.MS_NOEXEC | unix.MS_NOSUID | unix.MS_NODEV
)

// setupRootfs builds the container's mount tree under s.Rootfs and pivots
// into it. Mount targets inside the rootfs are resolved with the rootfs as
// "/" (symlinks in an image cannot point a mount at the host).
func setupRootfs(s *Spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := s.Rootfs
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", root, err)
	}
	// No device node on the image's file systems opens: only the /dev
	// tmpfs mounted below holds devices (and the cgroup allow-list limits
	// those). ReadOnly covers the root's submounts here, and the root
	// itself after pivot_root, when nothing is left to create in it.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV}
	if s.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := setattr(root, &attr, true); err != nil {
		return fmt.Errorf("rootfs %s: %w", root, err)
	}
	if s.ReadOnly {
		if err := setattr(root, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}, false); err != nil {
			return fmt.Errorf("rootfs %s: %w", root, err)
		}
	}
	proc, err := target(root, "/proc", true)
	if err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", mntNoExecSuidDev, ""); err != nil {
		return fmt.Errorf("mount proc on %s: %w", proc, err)
	}
	if err := protectProc(proc); err != nil {
		return err
	}
	if err := setupDev(root, s.UserNS, s.Devices); err != nil {
		return err
	}
	if err := setupSys(root, s.HostNetwork); err != nil {
		return err
	}

	for _, m := range s.Tmpfs {
		if err := mountTmpfs(root, m); err != nil {
			return fmt.Errorf("tmpfs %s: %w", m.Target, err)
		}
	}
	for i, m := range s.Mounts {
		if err := bindVolume(root, m); err != nil {
			return fmt.Errorf("volume %d (%s): %w", i, m.Target, err)
		}
	}
	if err := pivot(root); err != nil {
		return err
	}
	if s.ReadOnly {
		if err := remountRO("/"); err != nil {
			return fmt.Errorf("remount / read-only: %w", err)
		}
	}
	return nil
}

// target resolves p inside root (symlinks resolved as if root were "/"),
// creating missing directories (or, with dir false, a final empty file),
// and returns the host path of the result.
func target(root, p string, dir bool) (string, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open rootfs %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	parts := strings.Split(strings.Trim(filepath.Clean(p), "/"), "/")
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	fd := -1
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		fd, err = unix.Openat2(rootFD, sub, &how)
		if err == unix.ENOENT {
			last := i == len(parts)-1
			fd, err = create(rootFD, parts[:i], parts[i], dir || !last)
			if err == nil {
				fd, err = unix.Openat2(rootFD, sub, &how)
			}
		}
		if err != nil {
			return "", fmt.Errorf("resolve %s in rootfs: %w", sub, err)
		}
		if i < len(parts)-1 {
			unix.Close(fd)
		}
	}
	defer unix.Close(fd)
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("resolve %s in rootfs: %w", p, err)
	}
	return real, nil
}

// create makes name (a directory, or an empty file) in the directory parent
// (resolved in root); it returns -1 so the caller reopens by path.
func create(rootFD int, parent []string, name string, dir bool) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	pfd, err := unix.Openat2(rootFD, "/"+strings.Join(parent, "/"), &how)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if dir {
		err = unix.Mkdirat(pfd, name, 0o755)
	} else {
		var fd int
		fd, err = unix.Openat(pfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
	}
	if err == unix.EEXIST {
		err = nil
	}
	return -1, err
}

// As Docker's defaults: parts of /proc that reach the host kernel are made
// read-only, others (and /sys/firmware) are hidden.
var (
	procReadOnly = []string{"bus", "fs", "irq", "sys", "sysrq-trigger"}
	procMasked   = []string{"acpi", "asound", "interrupts", "kcore", "keys", "latency_stats",
		"sched_debug", "scsi", "timer_list", "timer_stats"}
)

// protectProc applies procReadOnly and procMasked to the proc mounted at proc.
func protectProc(proc string) error {
	for _, p := range procReadOnly {
		p = proc + "/" + p
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", p, err)
		}
		if err := remountRO(p); err != nil {
			return fmt.Errorf("remount %s read-only: %w", p, err)
		}
	}
	for _, p := range procMasked {
		if err := mask(proc + "/" + p); err != nil {
			return err
		}
	}
	return nil
}

// mask hides p: /dev/null over a file, an empty read-only tmpfs over a
// directory. A missing p is fine.
func mask(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|mntNoExecSuidDev, "size=0")
	} else {
		err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// setupDev mounts a tmpfs on /dev with the minimal device set, devpts,
// shm, the usual symlinks and the unit's added devices.
func setupDev(root string, userNS bool, added []Device) error {
	dev, err := target(root, "/dev", true)
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mount tmpfs on /dev: %w", err)
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devices {
		p := dev + "/" + d.name
		if userNS { // mknod is not allowed in a user namespace
			if err := os.WriteFile(p, nil, 0o666); err != nil {
				return fmt.Errorf("create /dev/%s: %w", d.name, err)
			}
			if err := unix.Mount("/dev/"+d.name, p, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind /dev/%s: %w", d.name, err)
			}
			continue
		}
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod /dev/%s: %w", d.name, err)
		}
	}
	for _, sub := range []string{"pts", "shm"} {
		if err := os.Mkdir(dev+"/"+sub, 0o755); err != nil {
			return fmt.Errorf("mkdir /dev/%s: %w", sub, err)
		}
	}
	if err := unix.Mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount devpts on /dev/pts: %w", err)
	}
	if err := unix.Mount("shm", dev+"/shm", "tmpfs", mntNoExecSuidDev, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mount tmpfs on /dev/shm: %w", err)
	}
	for _, l := range devSymlinks {
		if err := os.Symlink(l[1], dev+"/"+l[0]); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", l[0], err)
		}
	}
	for _, d := range added {
		if err := addDevice(dev, userNS, d); err != nil {
			return fmt.Errorf("add device %s as %s: %w", d.Source, d.Target, err)
		}
	}
	return nil
}

// addDevice makes d in the /dev tmpfs at dev, replacing what is there.
func addDevice(dev string, userNS bool, d Device) error {
	p := dev + strings.TrimPrefix(d.Target, "/dev")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	if userNS {
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return err
		}
		return unix.Mount(d.Source, p, "", unix.MS_BIND, "")
	}
	mode := uint32(unix.S_IFCHR)
	if d.Type == 'b' {
		mode = unix.S_IFBLK
	}
	return unix.Mknod(p, mode|d.Mode&0o777, int(unix.Mkdev(d.Major, d.Minor)))
}

// setupSys mounts /sys read-only: a fresh sysfs, which shows the new netns's
// interfaces, or with the host network a read-only bind of the host's sysfs
// (not recursive: the host's cgroup mounts below it stay out of reach).
func setupSys(root string, hostNetwork bool) error {
	sys, err := target(root, "/sys", true)
	if err != nil {
		return err
	}
	if !hostNetwork {
		if err := unix.Mount("sysfs", sys, "sysfs", unix.MS_RDONLY|mntNoExecSuidDev, ""); err == nil {
			return mask(sys + "/firmware")
		} else if err != unix.EPERM {
			return fmt.Errorf("mount sysfs on /sys: %w", err)
		}
		// EPERM: a user namespace that does not own the netns; bind instead.
	}
	if err := unix.Mount("/sys", sys, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /sys: %w", err)
	}
	if err := remountRO(sys); err != nil {
		return fmt.Errorf("remount /sys read-only: %w", err)
	}
	return mask(sys + "/firmware")
}

// mountTmpfs mounts a writable tmpfs at m.Target in the rootfs and copies
// into it what the image has there.
func mountTmpfs(root string, m Tmpfs) error {
	src, had, err := openInRoot(root, m.Target)
	if err != nil {
		return err
	}
	if had {
		defer unix.Close(src)
	}
	dst, err := target(root, m.Target, true)
	if err != nil {
		return err
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if m.NoExec {
		flags |= unix.MS_NOEXEC
	}
	data := "mode=" + cmp.Or(m.Mode, "1777")
	if m.Size != "" {
		data += ",size=" + m.Size
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", flags, data); err != nil {
		return err
	}
	if had && !m.NoCopy {
		// src still opens the image's directory under the new mount.
		dfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(dfd)
		if err := copyTree(src, dfd); err != nil {
			return err
		}
		if m.Mode != "" {
			mode, _ := strconv.ParseUint(m.Mode, 8, 32)
			if err := unix.Fchmod(dfd, uint32(mode)); err != nil {
				return err
			}
		}
	}
	if m.ReadOnly {
		return setattr(dst, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}, false)
	}
	return nil
}

// bindVolume binds m.Source onto m.Target in the rootfs (recursively),
// creating the target, and makes it read-only when asked. With m.CopyUp it
// first copies the image's files at the target into the source.
func bindVolume(root string, m Mount) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	if m.CopyUp && fi.IsDir() {
		if err := copyUpVolume(root, m); err != nil {
			return err
		}
	}
	dst, err := target(root, m.Target, fi.IsDir())
	if err != nil {
		return err
	}
	if err := unix.Mount(m.Source, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", m.Source, err)
	}
	// nodev and :ro hold for every mount below the volume's source too.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NODEV}
	if m.ReadOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	return setattr(dst, &attr, true)
}

// setattr changes the mount attributes of the mount at p, and with
// recursive of every mount below it (mount_setattr, Linux 5.12+).
func setattr(p string, attr *unix.MountAttr, recursive bool) error {
	flags := uint(unix.AT_SYMLINK_NOFOLLOW)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, p, flags, attr); err != nil {
		if err == unix.ENOSYS {
			return fmt.Errorf("mount_setattr %s: %w (needs Linux 5.12 or later)", p, err)
		}
		return fmt.Errorf("mount_setattr %s (set %#x, clear %#x): %w", p, attr.Attr_set, attr.Attr_clr, err)
	}
	return nil
}

// remountRO makes the bind mount at p read-only, keeping the flags the
// kernel locks for mounts inherited into a user namespace.
func remountRO(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range [][2]int64{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if st.Flags&f[0] != 0 {
			flags |= uintptr(f[1])
		}
	}
	return unix.Mount("", p, "", flags, "")
}

// pivot makes root the root of the mount namespace. pivot_root(".", ".")
// stacks the old root on top of the new one, so it can be detached without
// a directory for it in the rootfs (which may be read-only).
func pivot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// copyUpVolume copies the image's directory at m.Target into m.Source.
func copyUpVolume(root string, m Mount) error {
	src, ok, err := openInRoot(root, m.Target)
	if err != nil || !ok {
		return err
	}
	defer unix.Close(src)
	dst, err := unix.Open(m.Source, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copy-up into %s: %w", m.Source, err)
	}
	defer unix.Close(dst)
	if err := copyTree(src, dst); err != nil {
		return fmt.Errorf("copy-up into %s: %w", m.Source, err)
	}
	return nil
}
