package sandbox_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// withApplets adds busybox applets to a busyboxRootfs.
func withApplets(t *testing.T, root string, applets ...string) {
	t.Helper()
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
}

// tmpfsAt mounts a tmpfs on dir (in the host's mount namespace) for the
// test's duration.
func tmpfsAt(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// TestDeviceNodesOnlyInDev: a device node made in the container's root or
// a volume, or shipped in the image, does not open (the mounts are nodev);
// /dev's own devices do. The attack: mknod of the host's disk, then read
// it. (Which /dev nodes open is the cgroup's allow-list, tested in
// internal/container and internal/cgroups.)
func TestDeviceNodesOnlyInDev(t *testing.T) {
	root := busyboxRootfs(t)
	withApplets(t, root, "mknod", "stat")
	_, major, minor := testenv.LoopDevice(t, "FLOTILLA-SECRET")
	if err := unix.Mknod(filepath.Join(root, "image-kmsg"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 11))); err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	out := sh(t, sandbox.Spec{Rootfs: root, Mounts: []sandbox.Mount{{Source: vol, Target: "/data"}}}, fmt.Sprintf(`
		mknod /tmp/disk b %[1]d %[2]d && echo made-in-root
		mknod /data/disk b %[1]d %[2]d && echo made-in-volume
		head -c 15 /tmp/disk && echo ROOT-DISK-READ
		head -c 15 /data/disk && echo VOLUME-DISK-READ
		head -c 1 /image-kmsg >/dev/null && echo IMAGE-NODE-READ
		head -c 3 /dev/zero | wc -c
		echo x >/dev/null && echo null-ok
		head -c 1 /dev/urandom >/dev/null && echo urandom-ok
		stat -c '%%F %%t:%%T' /dev/tty
		grep -E ' / | /data ' /proc/self/mounts
		true
	`, major, minor))
	for _, bad := range []string{"FLOTILLA-SECRET", "ROOT-DISK-READ", "VOLUME-DISK-READ", "IMAGE-NODE-READ"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	for _, want := range []string{"made-in-root", "made-in-volume", "Permission denied", "3\n", "null-ok", "urandom-ok", "character special file 5:0"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

// TestAddedDevices: Spec.Devices appear in /dev and open, with and without
// a user namespace (where they are bind-mounted from the host).
func TestAddedDevices(t *testing.T) {
	root := busyboxRootfs(t)
	withApplets(t, root, "stat")
	var devs []sandbox.Device
	for _, d := range []struct{ src, dst string }{{"/dev/fuse", "/dev/fuse"}, {"/dev/net/tun", "/dev/net/tun0"}} {
		var st unix.Stat_t
		if err := unix.Stat(d.src, &st); err != nil {
			t.Skipf("needs %s: %v", d.src, err)
		}
		devs = append(devs, sandbox.Device{Source: d.src, Target: d.dst, Type: 'c', Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Mode: st.Mode & 0o777})
	}
	for _, userNS := range []bool{false, true} {
		out := sh(t, sandbox.Spec{Rootfs: root, UserNS: userNS, Devices: devs}, `
			stat -c '%n %F %t:%T' /dev/fuse /dev/net/tun0
			(exec 3<>/dev/fuse) && echo fuse-opens
			(exec 3<>/dev/net/tun0) && echo tun-opens
			ls /dev
		`)
		for _, want := range []string{"/dev/fuse character special file a:e5", "/dev/net/tun0 character special file a:c8", "fuse-opens", "tun-opens"} {
			if !strings.Contains(out, want) {
				t.Errorf("userns %v: lacks %q:\n%s", userNS, want, out)
			}
		}
	}
}

func TestAddedDeviceValidation(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []sandbox.Device{
		{Source: "/dev/fuse", Target: "/fuse", Type: 'c'},
		{Source: "/dev/fuse", Target: "/dev/../etc/fuse", Type: 'c'},
		{Source: "/dev/fuse", Target: "/dev/pts/9", Type: 'c'},
		{Source: "/dev/fuse", Target: "/dev/fuse", Type: 'p'},
		{Source: "fuse", Target: "/dev/fuse", Type: 'c'},
	} {
		_, err := sandbox.Prepare(sandbox.Spec{Rootfs: dir, Args: []string{"x"}, Devices: []sandbox.Device{d}})
		if err == nil || !strings.Contains(err.Error(), "Devices[0]") {
			t.Errorf("Prepare with %+v: %v, want an error naming Devices[0]", d, err)
		}
	}
}

// TestReadOnlyBelowSubmounts: a mount below a read-only volume's source,
// or below a read-only root, is read-only in the container too.
func TestReadOnlyBelowSubmounts(t *testing.T) {
	root := busyboxRootfs(t)
	tmpfsAt(t, filepath.Join(root, "mnt"))
	ro := t.TempDir()
	tmpfsAt(t, filepath.Join(ro, "sub"))
	rw := t.TempDir()
	tmpfsAt(t, filepath.Join(rw, "sub"))
	s := sandbox.Spec{Rootfs: root, ReadOnly: true, Mounts: []sandbox.Mount{
		{Source: ro, Target: "/etc/app", ReadOnly: true},
		{Source: rw, Target: "/data"},
	}}
	out := sh(t, s, `
		touch /etc/app/sub/x && echo VOLUME-SUBMOUNT-WRITABLE
		touch /mnt/x && echo ROOT-SUBMOUNT-WRITABLE
		touch /x && echo ROOT-WRITABLE
		touch /data/sub/ok && echo rw-submount-ok
		touch /tmp/x 2>/dev/null || echo tmp-read-only
		true
	`)
	for _, bad := range []string{"VOLUME-SUBMOUNT-WRITABLE", "ROOT-SUBMOUNT-WRITABLE", "ROOT-WRITABLE"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	if strings.Count(out, "Read-only file system") != 3 || !strings.Contains(out, "rw-submount-ok") {
		t.Errorf("want three EROFS and a writable rw volume submount:\n%s", out)
	}
}
