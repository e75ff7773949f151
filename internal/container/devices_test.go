package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// testRuntime returns a runtime under a fresh temporary directory (0700,
// as fleetd's data directory) with the busybox image loaded; the container
// init is this test binary (TestMain).
func testRuntime(t *testing.T) (*Runtime, string) {
	t.Helper()
	return testRuntimeWith(t, "")
}

// testRuntimeWith is testRuntime with initPath as the container init ("":
// this test binary).
func testRuntimeWith(t testing.TB, initPath string) (*Runtime, string) {
	t.Helper()
	testenv.NeedRoot(t)
	dir := t.TempDir()
	arch := filepath.Join(dir, "bb.tar")
	imagetest.WriteDockerArchive(t, imagetest.BusyboxImage(t), "test/busybox:1", arch)
	store, err := image.Open(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	ref := "docker-archive:" + arch
	if _, err := store.Pull(context.Background(), ref, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, err := New(Config{Dir: filepath.Join(dir, "c"), Images: store, Logf: t.Logf, InitPath: initPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.WaitGC) // before TempDir's removal: a GC still deleting layers races it
	return rt, ref
}

// runContainer starts s as the supervisor does (Prepare, fork, Started),
// waits for it, and returns its output and exit status.
func runContainer(t *testing.T, rt *Runtime, unit string, s *Spec) (string, syscall.WaitStatus) {
	t.Helper()
	run, err := rt.Prepare(context.Background(), unit, s)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	defer run.Exited()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l := run.Launch()
	files := []uintptr{0, w.Fd(), w.Fd()}
	for _, f := range l.Files {
		files = append(files, f.Fd())
	}
	l.Sys.Pdeathsig = syscall.SIGKILL
	pid, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Files: files, Sys: l.Sys})
	w.Close()
	if err != nil {
		t.Fatalf("fork: %v", err)
	}
	if err := run.Started(pid); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Wait4(pid, nil, 0, nil)
		t.Fatalf("Started: %v", err)
	}
	out, _ := io.ReadAll(r)
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	return string(out), ws
}

// TestDeviceAllowList is the attack of issue 17: a container with Docker's
// default capabilities (CAP_MKNOD included) makes a node for the host's
// disk (a loop device here) in its /dev (a tmpfs that must allow devices) and reads it. The
// cgroup refuses the open; null, zero and tty still work, and of the
// devices outside the default set only the one AddDevice= names opens.
func TestDeviceAllowList(t *testing.T) {
	rt, ref := testRuntime(t)
	_, major, minor := testenv.LoopDevice(t, "FLOTILLA-SECRET")
	for _, p := range []string{"/dev/fuse", "/dev/net/tun"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs %s: %v", p, err)
		}
	}
	script := fmt.Sprintf(`
		busybox mknod /dev/disk b %d %d && echo made-disk
		busybox mknod /dev/tun c 10 200 && echo made-tun
		busybox head -c 15 /dev/disk && echo DISK-READ
		(exec 3<>/dev/tun) && echo TUN-OPENS
		(exec 3<>/dev/fuse) && echo fuse-opens
		busybox head -c 3 /dev/zero | busybox wc -c
		echo x >/dev/null && echo null-ok
		(exec 3<>/dev/tty)
		true
	`, major, minor)
	out, ws := runContainer(t, rt, "dev.service", &Spec{Image: ref, Network: NetworkNone,
		Exec: []string{"/bin/sh", "-c", script}, Devices: []DeviceSpec{{Host: "/dev/fuse", Container: "/dev/fuse", Access: "rwm"}, {Host: "/dev/nonexistent", Container: "/dev/x", Access: "rw", Optional: true}}})
	if ws.ExitStatus() != 0 {
		t.Fatalf("exit %v:\n%s", ws, out)
	}
	for _, bad := range []string{"FLOTILLA-SECRET", "DISK-READ", "TUN-OPENS"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s:\n%s", bad, out)
		}
	}
	// CAP_MKNOD stays (Docker's default): mknod works, open does not.
	// /dev/tty opens as far as the missing controlling terminal (ENXIO),
	// not EPERM.
	for _, want := range []string{"made-disk", "made-tun", "fuse-opens", "3\n", "null-ok", "No such device or address", "Operation not permitted"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

func TestAddDeviceMissing(t *testing.T) {
	rt, ref := testRuntime(t)
	_, err := rt.Prepare(context.Background(), "missing.service", &Spec{Image: ref, Network: NetworkNone,
		Devices: []DeviceSpec{{Host: "/dev/no-such-device", Container: "/dev/x", Access: "rwm"}}})
	if err == nil || !strings.Contains(err.Error(), "AddDevice=/dev/no-such-device") {
		t.Errorf("Prepare with a missing device: %v, want an error naming AddDevice=/dev/no-such-device", err)
	}
	_, err = rt.Prepare(context.Background(), "dir.service", &Spec{Image: ref, Network: NetworkNone,
		Devices: []DeviceSpec{{Host: "/dev/net", Container: "/dev/net", Access: "rwm"}}})
	if err == nil || !strings.Contains(err.Error(), "not a device node") {
		t.Errorf("Prepare with a directory: %v", err)
	}
}

// TestUserNSAuto: a UserNS=auto container starts from a runtime whose
// directory is 0700 (fleetd's data directory), as its mapped root, and
// the directory stays closed to other host users.
func TestUserNSAuto(t *testing.T) {
	rt, ref := testRuntime(t)
	out, ws := runContainer(t, rt, "userns.service", &Spec{Image: ref, Network: NetworkNone, UserNS: true,
		Exec: []string{"/bin/sh", "-c", "busybox id; cat /proc/self/uid_map; echo hi >/tmp/x && cat /tmp/x"}})
	if ws.ExitStatus() != 0 {
		t.Fatalf("exit %v:\n%s", ws, out)
	}
	if !strings.Contains(out, "uid=0(root) gid=0(root)") || !strings.Contains(strings.Join(strings.Fields(out), " "), "0 100000 65536") || !strings.Contains(out, "hi\n") {
		t.Errorf("output:\n%s", out)
	}
	// The runtime's directories (0700 before) are searchable by the mapped
	// root's group only, and listable by nobody but host root.
	for _, d := range []string{filepath.Dir(filepath.Dir(rt.cfg.Dir)), rt.cfg.Dir, filepath.Join(rt.cfg.Dir, "units")} {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o777 != 0o710 || st.Gid != sandbox.HostIDBase {
			t.Errorf("%s: mode %#o group %d, want 0710 group %d", d, st.Mode&0o777, st.Gid, sandbox.HostIDBase)
		}
	}
}

// TestUserNSInitUnreachable: an init binary the mapped root cannot reach
// fails the start with an error that says so, not a bare EACCES from exec.
func TestUserNSInitUnreachable(t *testing.T) {
	rt, ref := testRuntime(t)
	hidden := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(hidden, 0o700); err != nil {
		t.Fatal(err)
	}
	rt.cfg.InitPath = filepath.Join(hidden, "flotilla-sandbox-init")
	_, err := rt.Prepare(context.Background(), "hidden.service", &Spec{Image: ref, Network: NetworkNone, UserNS: true})
	if err == nil || !strings.Contains(err.Error(), hidden) || !strings.Contains(err.Error(), "cannot search") {
		t.Errorf("Prepare = %v, want an error naming %s", err, hidden)
	}
}
