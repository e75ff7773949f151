package initd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/libinit"
	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestMountTablesShape checks the tables' promises: every mount has its
// directory made before it (or is one the root squashfs carries), no cgroup
// v1, and cgroup2 with nsdelegate.
func TestMountTablesShape(t *testing.T) {
	rootDirs := []string{"/sys/fs/cgroup", "/tmp", "/sys/firmware/efi/efivars"} // in the squashfs or made by sysfs
	for name, steps := range map[string][]libinit.Creator{
		"early": EarlyMounts(""), "late": LateMounts(""), "optional": OptionalMounts(""),
	} {
		var dirs []string
		for _, s := range steps {
			switch s := s.(type) {
			case libinit.Dir:
				dirs = append(dirs, s.Name)
			case libinit.Mount:
				if s.FSType == "cgroup" || strings.Contains(s.Target, "cgroup/") {
					t.Errorf("%s: %s mounts cgroup v1", name, s)
				}
				if !slices.Contains(dirs, s.Target) && !slices.Contains(rootDirs, s.Target) {
					t.Errorf("%s: %s has no Dir step before it", name, s)
				}
			}
		}
	}
	var cg2 bool
	for _, s := range LateMounts("") {
		if m, ok := s.(libinit.Mount); ok && m.FSType == "cgroup2" && m.Opts == "nsdelegate" && m.Target == "/sys/fs/cgroup" {
			cg2 = true
		}
	}
	if !cg2 {
		t.Error("LateMounts does not mount cgroup2 with nsdelegate at /sys/fs/cgroup")
	}
}

// TestEarlyMountsReal runs stage 1's table into a temporary root: the same
// mounts a boot makes, then unmounts them.
func TestEarlyMountsReal(t *testing.T) {
	testenv.NeedRoot(t)
	root := t.TempDir()
	steps := EarlyMounts(root)
	t.Cleanup(func() {
		for i := len(steps) - 1; i >= 0; i-- {
			if m, ok := steps[i].(libinit.Mount); ok {
				unix.Unmount(m.Target, unix.MNT_DETACH)
			}
		}
	})
	if err := Create(steps); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"proc/self/stat", "sys/class", "dev/null", "dev/pts/ptmx"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("after EarlyMounts: %v", err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(root, "run"), &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		t.Errorf("%s/run is not a tmpfs (type %#x, err %v)", root, st.Type, err)
	}
	// A second run is a no-op, not an error: stage 2 relies on it.
	if err := Create(steps); err != nil {
		t.Errorf("second run: %v", err)
	}
}

func TestCreateNamesTheStep(t *testing.T) {
	err := Create([]libinit.Creator{libinit.Mount{Source: "x", Target: "/nonexistent/flotilla", FSType: "nosuchfs"}})
	if err == nil || !strings.Contains(err.Error(), `"/nonexistent/flotilla"`) {
		t.Errorf("Create error = %v, want the failing mount named", err)
	}
}
