package cgroups

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// openInGroup makes device nodes in a temporary directory (from outside the
// group), then runs a shell in g that opens each for reading and writing,
// and returns "ok" or "denied" per node name. Block devices are opened for
// reading only: nothing is ever written to the host's disk.
func openInGroup(t *testing.T, g Group, nodes map[string]uint64) map[string]string {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("read x\n")
	for name, dev := range nodes {
		mode := uint32(unix.S_IFCHR)
		if strings.HasPrefix(name, "block") {
			mode = unix.S_IFBLK
		}
		if err := unix.Mknod(filepath.Join(dir, name), mode|0o600, int(dev)); err != nil {
			t.Fatalf("mknod %s: %v", name, err)
		}
		redir := "3<>"
		if mode == unix.S_IFBLK {
			redir = "3<"
		}
		script.WriteString("if (exec " + redir + dir + "/" + name + ") 2>/dev/null; then echo " + name + " ok; else echo " + name + " denied; fi\n")
	}
	cmd := exec.Command("/bin/sh", "-c", script.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if name, res, ok := strings.Cut(line, " "); ok {
			got[name] = res
		}
	}
	return got
}

// checkAllowList asserts that a group with DefaultDevices plus /dev/fuse's
// numbers opens null, zero, tty and fuse and refuses a host disk and kmsg.
func checkAllowList(t *testing.T, g Group) {
	t.Helper()
	_, major, minor := testenv.LoopDevice(t, "secret")
	got := openInGroup(t, g, map[string]uint64{
		"null": unix.Mkdev(1, 3), "zero": unix.Mkdev(1, 5), "fuse": unix.Mkdev(10, 229),
		"kmsg": unix.Mkdev(1, 11), "block-disk": unix.Mkdev(major, minor),
	})
	want := map[string]string{"null": "ok", "zero": "ok", "fuse": "ok", "kmsg": "denied", "block-disk": "denied"}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("open %s in the group: %q, want %q (all: %v)", name, got[name], w, got)
		}
	}
}

var fuseAllowed = append(append([]Device(nil), DefaultDevices...), Device{'c', 10, 229, "rwm"})

func TestV1Devices(t *testing.T) {
	needV1(t)
	if _, err := os.Stat(filepath.Join(Root, "devices", "cgroup.procs")); err != nil {
		t.Skip("the v1 devices controller is not mounted")
	}
	g, err := New(testName(t), Resources{Devices: fuseAllowed})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	checkAllowList(t, g)
}

// TestV2Devices checks the BPF device filter in the hybrid host's v2 tree
// (a BPF_CGROUP_DEVICE program needs no controller).
func TestV2Devices(t *testing.T) {
	mp := unifiedTree(t)
	g, err := newV2(mp, testName(t), Resources{Devices: fuseAllowed})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	checkAllowList(t, g)
}

// TestNoDevicesUncontrolled: without an allow-list a group opens any device
// (plain units, and the control for the tests above).
func TestNoDevicesUncontrolled(t *testing.T) {
	testenv.NeedRoot(t)
	g, err := New(testName(t), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	got := openInGroup(t, g, map[string]uint64{"kmsg": unix.Mkdev(1, 11)})
	if got["kmsg"] != "ok" {
		t.Errorf("open kmsg in a group without an allow-list: %v", got)
	}
}

// BenchmarkGroupStart measures what a container start pays for its group:
// New (create, limits, allow-list) and Add (the cgroup.procs writes; on v1
// each waits for an RCU grace period), with and without the allow-list.
// Medians in ms. On a hybrid host the v1 cases go through New and the v2
// cases use its v2 tree (a BPF program there; no controllers).
//
//	go test -run '^$' -bench GroupStart -benchtime 50x ./internal/cgroups
func BenchmarkGroupStart(b *testing.B) {
	v1 := func(name string, r Resources) (Group, error) { return New(name, r) }
	v2 := func(name string, r Resources) (Group, error) { return newV2(filepath.Join(Root, "unified"), name, r) }
	if Mode() == "unified" {
		v2 = v1
	}
	for _, tc := range []struct {
		name string
		r    Resources
		new  func(string, Resources) (Group, error)
	}{{"no-devices", Resources{}, v1}, {"devices", Resources{Devices: DefaultDevices}, v1},
		{"v2-no-devices", Resources{}, v2}, {"v2-devices", Resources{Devices: DefaultDevices}, v2}} {
		b.Run(tc.name, func(b *testing.B) {
			testenv.NeedRoot(b)
			if Mode() != "hybrid" && Mode() != "unified" && strings.HasPrefix(tc.name, "v2") {
				b.Skip("no cgroup v2 tree")
			}
			cmd := exec.Command("/bin/sleep", "1000")
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			var newT, addT []time.Duration
			var groups []Group
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
				for _, g := range groups {
					g.Delete()
				}
			}()
			for i := range b.N {
				t0 := time.Now()
				g, err := tc.new(fmt.Sprintf("flotilla/bench-%d-%s-%d.service", os.Getpid(), tc.name, i), tc.r)
				if err != nil {
					b.Fatal(err)
				}
				groups = append(groups, g)
				t1 := time.Now()
				if err := g.Add(cmd.Process.Pid); err != nil {
					b.Fatal(err)
				}
				newT, addT = append(newT, t1.Sub(t0)), append(addT, time.Since(t1))
			}
			b.ReportMetric(median(newT), "ms-new")
			b.ReportMetric(median(addT), "ms-add")
		})
	}
}

func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2]) / float64(time.Millisecond)
}
