package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

var testSeq int

// testName returns a fresh group name under flotilla/ and removes the
// group (killing what is left) at the end of the test.
func testName(t *testing.T) string {
	testSeq++
	return fmt.Sprintf("flotilla/test-%d-%d.service", os.Getpid(), testSeq)
}

func cleanup(t *testing.T, g Group) {
	t.Cleanup(func() {
		g.Kill()
		if err := g.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

func needV1(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	if m := Mode(); m != "hybrid" && m != "legacy" {
		t.Skipf("host cgroups are %s; the v1 path needs a hybrid or legacy host", m)
	}
}

func needUnified(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	if Mode() != "unified" {
		t.Skipf("host cgroups are %s; New's v2 path needs a unified host (the image; CI VM)", Mode())
	}
}

func start(t *testing.T, argv ...string) (*os.Process, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{r, nil, nil}})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); p.Kill() })
	return p, w
}

func wantFile(t *testing.T, dir, file, want string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Error(err)
		return
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("%s/%s = %q, want %q", dir, file, got, want)
	}
}

var limits = Resources{MemoryMax: 64 << 20, MemoryHigh: 48 << 20, CPUQuota: 50, CPUWeight: 200, TasksMax: 64, IOWeight: 500}

func TestModeMatchesHost(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(Root, &st); err != nil {
		t.Skipf("no %s: %v", Root, err)
	}
	const cgroup2Magic = 0x63677270
	if (st.Type == cgroup2Magic) != (Mode() == "unified") {
		t.Errorf("Mode() = %s, but %s statfs type is %#x", Mode(), Root, st.Type)
	}
}

func TestV1Limits(t *testing.T) {
	needV1(t)
	name := testName(t)
	g, err := New(name, limits)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	if g.Path() != "/"+name {
		t.Errorf("Path() = %s", g.Path())
	}
	mem := filepath.Join(Root, "memory", name)
	wantFile(t, mem, "memory.limit_in_bytes", fmt.Sprint(64<<20))
	wantFile(t, mem, "memory.soft_limit_in_bytes", fmt.Sprint(48<<20))
	cpu := filepath.Join(Root, "cpu", name)
	wantFile(t, cpu, "cpu.cfs_quota_us", "50000")
	wantFile(t, cpu, "cpu.cfs_period_us", "100000")
	wantFile(t, cpu, "cpu.shares", "2048")
	wantFile(t, filepath.Join(Root, "pids", name), "pids.max", "64")
	blkio := filepath.Join(Root, "blkio", name)
	if _, err := os.Stat(filepath.Join(blkio, "blkio.weight")); err == nil {
		wantFile(t, blkio, "blkio.weight", "504")
	} else {
		t.Logf("IOWeight not checked: no blkio.weight on this host (I/O scheduler without weights)")
	}
}

// TestLifecycle runs on whichever layout the host has: Add, Procs, Kill,
// Delete.
func TestLifecycle(t *testing.T) {
	testenv.NeedRoot(t)
	name := testName(t)
	g, err := New(name, Resources{TasksMax: 32})
	if err != nil {
		t.Fatal(err)
	}
	lifecycle(t, g, func() []string {
		if Mode() == "unified" {
			return []string{filepath.Join(Root, name)}
		}
		return g.(*v1Group).dirs
	}())
}

func lifecycle(t *testing.T, g Group, dirs []string) {
	t.Helper()
	p1, _ := start(t, "/bin/sleep", "1000")
	p2, _ := start(t, "/bin/sleep", "1000")
	for _, p := range []*os.Process{p1, p2} {
		if err := g.Add(p.Pid); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := g.Procs()
	slices.Sort(pids)
	if err != nil || !slices.Equal(pids, []int{p1.Pid, p2.Pid}) {
		t.Fatalf("Procs() = %v, %v; want [%d %d]", pids, err, p1.Pid, p2.Pid)
	}
	if err := g.Delete(); err == nil {
		t.Error("Delete succeeded with processes in the group")
	}
	start := time.Now()
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Kill of 2 processes took %v", time.Since(start))
	for _, p := range []*os.Process{p1, p2} {
		st, err := p.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if ws := st.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
			t.Errorf("pid %d: %v, want killed by SIGKILL", p.Pid, st)
		}
	}
	if pids, _ := g.Procs(); len(pids) != 0 {
		t.Errorf("Procs() after Kill = %v", pids)
	}
	if err := g.Kill(); err != nil {
		t.Errorf("Kill of an empty group: %v", err)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after Delete (%v)", d, err)
		}
	}
	if err := g.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

// TestKillForker kills a group whose process keeps forking.
func TestKillForker(t *testing.T) {
	testenv.NeedRoot(t)
	g, err := New(testName(t), Resources{TasksMax: 200})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	p, w := start(t, "/bin/sh", "-c", "read x; while :; do /bin/sleep 1000 & done")
	if err := g.Add(p.Pid); err != nil {
		t.Fatal(err)
	}
	w.WriteString("go\n")
	time.Sleep(100 * time.Millisecond)
	if pids, _ := g.Procs(); len(pids) < 5 {
		t.Fatalf("forker made only %d processes", len(pids))
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	if pids, _ := g.Procs(); len(pids) != 0 {
		t.Errorf("Procs() after Kill = %v", pids)
	}
	p.Wait()
}

func TestOOMKilled(t *testing.T) {
	testenv.NeedRoot(t)
	g, err := New(testName(t), Resources{MemoryMax: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	if oom, err := g.OOMKilled(); err != nil || oom {
		t.Fatalf("OOMKilled() before = %v, %v", oom, err)
	}
	// The shell waits for a line so the allocation happens inside the group.
	p, go_ := start(t, "/bin/sh", "-c", "read x; head -c 200m /dev/zero | tail > /dev/null")
	if err := g.Add(p.Pid); err != nil {
		t.Fatal(err)
	}
	go_.WriteString("go\n")
	st, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	oom, err := g.OOMKilled()
	if err != nil || !oom {
		t.Errorf("OOMKilled() = %v, %v after %v; want true", oom, err, st)
	}
	if st.Success() {
		t.Errorf("allocating shell succeeded under a 16M limit")
	}
}

func TestNewErrors(t *testing.T) {
	for _, name := range []string{"", "/abs", "../up", "a//b", "a/../b", ".."} {
		if _, err := New(name, Resources{}); err == nil || !strings.Contains(err.Error(), "clean relative path") {
			t.Errorf("New(%q) = %v, want a name error", name, err)
		}
	}
}

// unifiedTree returns the hybrid host's cgroup2 mount, if any.
func unifiedTree(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t)
	if Mode() != "hybrid" {
		t.Skipf("host cgroups are %s: no separate v2 tree", Mode())
	}
	return filepath.Join(Root, "unified")
}

// TestV2OnHybridTree exercises the v2 code (create, Add, Procs, Kill via
// cgroup.kill, Delete) in the hybrid host's v2 tree. It holds no resource
// controllers here (they are bound to v1), so limits are not checked.
func TestV2OnHybridTree(t *testing.T) {
	mp := unifiedTree(t)
	name := testName(t)
	g, err := newV2(mp, name, Resources{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Kill(); g.Delete() })
	if g.Path() != filepath.Join(mp, name) {
		t.Errorf("Path() = %s", g.Path())
	}
	lifecycle(t, g, []string{g.Path()})
}

func TestV2MissingController(t *testing.T) {
	mp := unifiedTree(t)
	_, err := newV2(mp, testName(t), Resources{MemoryMax: 1 << 30})
	if err == nil || !strings.Contains(err.Error(), "controller memory is not available") {
		t.Errorf("newV2 with memory on a tree without it = %v", err)
	}
}

func TestV2Limits(t *testing.T) {
	needUnified(t)
	name := testName(t)
	g, err := New(name, limits)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	dir := filepath.Join(Root, name)
	wantFile(t, dir, "memory.max", fmt.Sprint(64<<20))
	wantFile(t, dir, "memory.high", fmt.Sprint(48<<20))
	wantFile(t, dir, "cpu.max", "50000 100000")
	wantFile(t, dir, "cpu.weight", "200")
	wantFile(t, dir, "pids.max", "64")
	if _, err := os.Stat(filepath.Join(dir, "io.weight")); err == nil {
		wantFile(t, dir, "io.weight", "default 500")
	}
}

// TestFreezeThaw: a frozen group runs nothing, its forks included, and a
// thawed one carries on with the same processes.
func TestFreezeThaw(t *testing.T) {
	testenv.NeedRoot(t)
	g, err := New(testName(t), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, g)
	out := filepath.Join(t.TempDir(), "ticks")
	// The writer is a child in a new session: signals to the parent's
	// process group would not reach it, the freezer does.
	p, w := start(t, "/bin/sh", "-c", "read x; setsid /bin/sh -c 'while :; do echo x >>"+out+"; /bin/sleep 0.02; done' & wait")
	if err := g.Add(p.Pid); err != nil {
		t.Fatal(err)
	}
	w.WriteString("go\n")
	size := func() int64 {
		fi, err := os.Stat(out)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	grows := func() bool {
		a := size()
		time.Sleep(300 * time.Millisecond)
		return size() > a
	}
	if !grows() {
		t.Fatal("the writer does not write")
	}
	pids, _ := g.Procs()
	if err := g.Freeze(); err != nil {
		if err == ErrNoFreezer {
			t.Skip("no freezer hierarchy on this host")
		}
		t.Fatal(err)
	}
	if grows() {
		t.Error("the group wrote while frozen")
	}
	if err := g.Thaw(); err != nil {
		t.Fatal(err)
	}
	if !grows() {
		t.Error("the group does not write after Thaw")
	}
	if after, _ := g.Procs(); len(after) == 0 || !slices.Contains(after, pids[0]) {
		t.Errorf("processes before freezing %v, after thawing %v", pids, after)
	}
}
