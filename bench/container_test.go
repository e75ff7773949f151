package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/image"
	"github.com/flotilla-os/flotilla/internal/image/imagetest"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

// TestMain: container units fork this test binary as their init
// (internal/sandbox), and the crun/runc comparison re-execs it as a timing
// helper inside a private mount namespace (container_oci_test.go).
func TestMain(m *testing.M) {
	sandbox.InitIfRequested()
	ociHelperIfRequested()
	os.Exit(m.Run())
}

const ctRuns = 20

// BenchmarkContainerStart times a container unit running /bin/true through
// the native supervisor (image store, overlay root, cgroup, sandbox,
// Network=none): from Start until the unit is inactive/dead after the exit,
// median and p90 of 20 runs after one warm-up. Side by side, in a phase
// before the Supervisor exists (it owns wait4 for the whole process),
// Debian's crun and runc run /bin/true in an OCI bundle made from the same
// busybox rootfs with pid, net, ipc, uts and mount namespaces, timed as
// whole `crun run` / `runc run` commands (PEERS.md: crun 32–39 ms, runc
// 82–94 ms).
//
// Note the container init is this test binary re-exec'd, so the package
// inits of everything the bench package links (etcd client, gRPC, ...) are
// part of each Flotilla start, as they are for fleetd.
func BenchmarkContainerStart(b *testing.B) {
	testenv.NeedRoot(b)
	for range b.N {
		img := clustertest.BusyboxAll(b)
		dir := b.TempDir()
		ctChmodUp(dir)

		// Phase 1: crun and runc, before any Supervisor exists.
		oci := ociCompare(b, img, dir, ctRuns)
		for _, r := range oci {
			if r.skip != "" {
				b.Logf("%s: skipped: %s", r.name, r.skip)
				continue
			}
			b.Logf("%s: median %.1f ms, p90 %.1f ms, max %.1f ms (%d runs)", r.name, ctMs(ctPct(r.times, 50)), ctMs(ctPct(r.times, 90)), ctMs(ctPct(r.times, 100)), len(r.times))
		}

		// Phase 2: Flotilla.
		ref := ctArchive(b, img, dir)
		s := ctSupervisor(b, dir, ref)
		name := "start-true.service"
		// No start limit: 21 starts in a row would hit the default 5 in 10 s.
		ctLoad(b, s, name, fmt.Sprintf("[Unit]\nStartLimitIntervalSec=0\n[Container]\nImage=%s\nExec=/bin/true\nNetwork=none\n[Service]\nType=simple\n", ref))
		var times []time.Duration
		for i := 0; i <= ctRuns; i++ {
			d := ctRunOnce(b, s, name)
			if i > 0 { // the first run is a warm-up
				times = append(times, d)
			}
		}
		if err := s.Close(); err != nil {
			b.Logf("supervisor close: %v", err)
		}
		med := ctMs(ctPct(times, 50))
		b.Logf("flotilla: median %.1f ms, p90 %.1f ms, max %.1f ms (%d runs)", med, ctMs(ctPct(times, 90)), ctMs(ctPct(times, 100)), len(times))
		b.ReportMetric(med, "ms-flotilla-median")
		b.ReportMetric(ctMs(ctPct(times, 90)), "ms-flotilla-p90")
		for _, r := range oci {
			if r.skip != "" || len(r.times) == 0 {
				continue
			}
			m := ctMs(ctPct(r.times, 50))
			b.ReportMetric(m, "ms-"+r.name+"-median")
			if r.name == "crun" || r.name == "runc" {
				b.ReportMetric(med/m, "flotilla/"+r.name)
			}
		}
	}
}

// BenchmarkContainerIdleMemory starts 50 idle container units (/bin/sleep
// 1000, Network=none) on one Supervisor and reports the growth of this
// process's RSS per unit (the manager's share; target ≤ 1 MB), and for
// information the containers' own RSS per unit.
func BenchmarkContainerIdleMemory(b *testing.B) {
	testenv.NeedRoot(b)
	const n = 50
	for range b.N {
		img := clustertest.BusyboxAll(b)
		dir := b.TempDir()
		ctChmodUp(dir)
		ref := ctArchive(b, img, dir)
		s := ctSupervisor(b, dir, ref)
		// Warm up the paths every start takes (one container in and out),
		// so the baseline holds what one-time initialisation allocates.
		ctLoad(b, s, "warm.service", fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/true\nNetwork=none\n", ref))
		ctRunOnce(b, s, "warm.service")

		base, baseFree := ctRSS(b)
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("idle-%02d.service", i)
			// sleep as PID 1 ignores SIGTERM: stop with SIGKILL at once.
			ctLoad(b, s, names[i], fmt.Sprintf("[Container]\nImage=%s\nExec=/bin/sleep 1000\nNetwork=none\n[Service]\nKillSignal=SIGKILL\n", ref))
		}
		start := time.Now()
		for _, u := range names {
			if err := s.Start(u); err != nil {
				b.Fatal(err)
			}
		}
		ctWaitAll(b, s, names, 2*time.Minute, func(active, sub string) bool { return active == "active" && sub == "running" })
		took := time.Since(start)
		time.Sleep(500 * time.Millisecond) // let the log pipes and goroutines settle
		after, afterFree := ctRSS(b)

		var kids ctProcMem
		comms := map[string]int{}
		for _, u := range names {
			st, _ := s.State(u)
			if st.PID <= 0 {
				b.Fatalf("%s is %s/%s without a pid", u, st.Active, st.Sub)
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", st.PID))
			comms[strings.TrimSpace(string(comm))]++
			kids.add(ctTreeMem(st.PID))
		}

		// RSS after runtime.GC alone keeps heap pages the GC freed but has
		// not returned, so it moves with the garbage of the moment (±15
		// KB/unit between runs); after debug.FreeOSMemory it counts what
		// is live. The latter is the reported manager figure.
		perUnitGC := float64(after-base) / n
		perUnit := float64(afterFree-baseFree) / n
		b.Logf("%d units active in %v (container mains: %v)", n, took.Round(time.Millisecond), comms)
		b.Logf("manager RSS after FreeOSMemory %d KB -> %d KB: %+.1f KB/unit; after runtime.GC only %d KB -> %d KB: %+.1f KB/unit",
			baseFree, afterFree, perUnit, base, after, perUnitGC)
		b.Logf("containers' own memory per unit: RSS %.0f KB (mostly busybox's shared text), PSS %.0f KB, anonymous %.0f KB",
			float64(kids.rss)/n, float64(kids.pss)/n, float64(kids.anon)/n)
		b.ReportMetric(perUnit, "KB-manager/unit")
		b.ReportMetric(perUnitGC, "KB-manager-gc-only/unit")
		b.ReportMetric(float64(kids.rss)/n, "KB-container-rss/unit")
		b.ReportMetric(float64(kids.pss)/n, "KB-container-pss/unit")
		b.ReportMetric(float64(took.Milliseconds()), "ms-start-all")

		for _, u := range names {
			if err := s.Stop(u); err != nil {
				b.Fatal(err)
			}
		}
		ctWaitAll(b, s, names, time.Minute, func(active, _ string) bool { return active == "inactive" || active == "failed" })
		if err := s.Close(); err != nil {
			b.Logf("supervisor close: %v", err)
		}
	}
}

// ctArchive writes img as a docker archive under dir and returns its ref.
func ctArchive(b *testing.B, img v1.Image, dir string) string {
	b.Helper()
	path := filepath.Join(dir, "busybox.tar")
	imagetest.WriteDockerArchive(b, img, "bench/busybox:1", path)
	return "docker-archive:" + path
}

// ctSupervisor makes a Supervisor with a container runtime over a fresh
// image store under dir, with the image at ref already loaded.
func ctSupervisor(b *testing.B, dir, ref string) *native.Supervisor {
	b.Helper()
	// Built before any Supervisor exists: its reaper would take go build's exit.
	bin, err := clustertest.Build()
	if err != nil {
		b.Fatal(err)
	}
	store, err := image.Open(filepath.Join(dir, "images"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Pull(context.Background(), ref, image.PullOptions{}); err != nil {
		b.Fatal(err)
	}
	rt, err := container.New(container.Config{Dir: filepath.Join(dir, "containers"), Images: store, InitPath: bin.SandboxInit, Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	// Supervisor events (Starting/Started/...) would flood the bench output.
	s, err := native.New(native.Config{Dir: filepath.Join(dir, "sup"), MachineID: "bench", Containers: rt})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func ctLoad(b *testing.B, s *native.Supervisor, name, body string) {
	b.Helper()
	f, err := unit.Parse(name, []byte(body))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Load(name, f); err != nil {
		b.Fatal(err)
	}
}

// ctRunOnce starts name and waits (through Changes) until it is
// inactive/dead again after this start; it returns the time taken.
//
// The supervisor shows inactive/dead a moment before it lets go of the
// finished activation, and a Start in between is a silent no-op; so wait a
// little (untimed) before each start.
func ctRunOnce(b *testing.B, s *native.Supervisor, name string) time.Duration {
	b.Helper()
	time.Sleep(50 * time.Millisecond)
	ctDrain(s.Changes())
	t0 := time.Now()
	if err := s.Start(name); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(30 * time.Second)
	for {
		st, _ := s.State(name)
		if !st.Since.Before(t0) {
			switch {
			case st.Active == "inactive" && st.Sub == "dead":
				return time.Since(t0)
			case st.Active == "failed":
				b.Fatalf("%s failed: %s", name, st.Reason)
			}
		}
		select {
		case <-s.Changes():
		case <-timeout:
			b.Fatalf("%s: still %s/%s (since %v) 30 s after Start at %v", name, st.Active, st.Sub, st.Since, t0)
		}
	}
}

// ctWaitAll waits until every unit's state satisfies ok.
func ctWaitAll(b *testing.B, s *native.Supervisor, names []string, limit time.Duration, ok func(active, sub string) bool) {
	b.Helper()
	deadline := time.After(limit)
	for {
		pending := ""
		for _, u := range names {
			st, _ := s.State(u)
			if st.Active == "failed" && !ok(st.Active, st.Sub) {
				b.Fatalf("%s failed: %s", u, st.Reason)
			}
			if !ok(st.Active, st.Sub) {
				pending = fmt.Sprintf("%s is %s/%s", u, st.Active, st.Sub)
				break
			}
		}
		if pending == "" {
			return
		}
		select {
		case <-s.Changes():
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			b.Fatalf("after %v: %s", limit, pending)
		}
	}
}

func ctDrain(c <-chan string) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// rssPair reads VmRSS (KB) after runtime.GC, then again after
// debug.FreeOSMemory (which also returns freed heap pages to the kernel).
func ctRSS(b *testing.B) (gc, freed int64) {
	b.Helper()
	runtime.GC()
	gc = ctStatusKB(b, "self", "VmRSS")
	debug.FreeOSMemory()
	freed = ctStatusKB(b, "self", "VmRSS")
	return gc, freed
}

func ctStatusKB(b *testing.B, pid, field string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		if b != nil {
			b.Fatal(err)
		}
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

type ctProcMem struct{ rss, pss, anon int64 } // KB

func (m *ctProcMem) add(o ctProcMem) { m.rss += o.rss; m.pss += o.pss; m.anon += o.anon }

// ctTreeMem sums the memory (smaps_rollup, KB) of pid and its descendants.
func ctTreeMem(pid int) ctProcMem {
	p := strconv.Itoa(pid)
	var m ctProcMem
	if data, err := os.ReadFile("/proc/" + p + "/smaps_rollup"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				m.rss = v
			case "Pss:":
				m.pss = v
			case "Anonymous:":
				m.anon = v
			}
		}
	}
	tasks, _ := filepath.Glob("/proc/" + p + "/task/*/children")
	for _, t := range tasks {
		data, _ := os.ReadFile(t)
		for _, c := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(c); err == nil {
				m.add(ctTreeMem(n))
			}
		}
	}
	return m
}

// ctChmodUp makes dir and its parents searchable, as the sandbox tests do.
func ctChmodUp(dir string) {
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
}

func ctMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
