package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// Profiles with perf (fleetd has no pprof endpoint), only when
// FLOTILLA_BENCH_PERF names a directory. Each profile is written to
// <dir>/<name>.data and its top self-time symbols are printed to stderr;
// inspect further with
//
//	perf report -i <dir>/<name>.data --no-children --sort comm,sym

// dnPerfIdle profiles every node's fleetd processes for 30 s of idleness,
// after the idle-CPU window so the profiler's own cost is not counted there.
func dnPerfIdle(b *testing.B, c *clustertest.Cluster) {
	b.Helper()
	var pids []int
	for _, n := range c.Nodes {
		pids = append(pids, dnFleetdPIDs(b, c, n)...)
	}
	dnPerf(b, "idle", pids, func() { time.Sleep(30 * time.Second) })
}

// dnPerf records pids with perf while f runs.
func dnPerf(b *testing.B, name string, pids []int, f func()) {
	b.Helper()
	dir := os.Getenv("FLOTILLA_BENCH_PERF")
	if dir == "" {
		return
	}
	perf, err := exec.LookPath("perf")
	if err != nil {
		b.Logf("FLOTILLA_BENCH_PERF set but no perf: %v", err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var ps []string
	for _, p := range pids {
		ps = append(ps, fmt.Sprint(p))
	}
	data := filepath.Join(dir, name+".data")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rec := exec.CommandContext(ctx, perf, "record", "-F", "999", "-g", "-o", data, "-p", strings.Join(ps, ","))
	var recOut bytes.Buffer
	rec.Stdout, rec.Stderr = &recOut, &recOut
	if err := rec.Start(); err != nil {
		b.Logf("perf record: %v", err)
		return
	}
	time.Sleep(500 * time.Millisecond) // let perf attach
	f()
	_ = rec.Process.Signal(syscall.SIGINT)
	if err := rec.Wait(); err != nil {
		b.Logf("perf record: %v\n%s", err, recOut.String())
	}
	rep := exec.CommandContext(ctx, perf, "report", "-i", data, "--stdio", "--no-children", "-g", "none",
		"--sort", "sym", "--percent-limit", "1.5")
	var out bytes.Buffer
	rep.Stdout, rep.Stderr = &out, &out
	if err := rep.Run(); err != nil {
		b.Logf("perf report: %v", err)
	}
	dnLog("perf %s (pids %s; %s), top self time:\n%s", name, strings.Join(ps, ","), data, out.String())
}
