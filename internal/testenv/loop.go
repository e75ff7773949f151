package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// LoopDevice attaches a loop device (losetup) to a 1 MiB file that starts
// with data, detaches it at the end of the test, and returns its path and
// numbers: a host block device whose content a test may safely read. It
// skips without root, losetup or a free loop device.
func LoopDevice(t testing.TB, data string) (path string, major, minor uint32) {
	t.Helper()
	NeedRoot(t)
	NeedCommand(t, "losetup")
	img := filepath.Join(t.TempDir(), "loop.img")
	buf := make([]byte, 1<<20)
	copy(buf, data)
	if err := os.WriteFile(img, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device: losetup: %v: %s", err, out)
	}
	path = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", path).Run() })
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return path, unix.Major(st.Rdev), unix.Minor(st.Rdev)
}
