package native

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

func TestStopDuringStartPre(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "slowpre.service", "ExecStartPre=/bin/sleep 1000\nExecStart=/bin/sleep 1000\n")
	waitState(t, s, "slowpre.service", "activating", "start-pre", 5*time.Second)
	s.Stop("slowpre.service")
	waitState(t, s, "slowpre.service", "inactive", "dead", 5*time.Second)
}

func TestStartWhileStoppingRestarts(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "bounce.service", "ExecStart=/bin/sleep 1000\nExecStop=/bin/sleep 0.3\n")
	st := waitState(t, s, "bounce.service", "active", "running", 5*time.Second)
	s.Stop("bounce.service")
	waitState(t, s, "bounce.service", "deactivating", "", 5*time.Second)
	s.Start("bounce.service")
	testutil.WaitFor(t, "a new main process", 5*time.Second, func() bool {
		st2, _ := s.State("bounce.service")
		return st2.Sub == "running" && st2.PID != st.PID
	})
}

// TestIdleCost runs many idle units and checks that the supervisor costs
// next to no CPU at rest and little memory per unit.
func TestIdleCost(t *testing.T) {
	testenv.NeedSlow(t)
	const n = 300
	s := newTestSupervisor(t, Config{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		startUnit(t, s, fmt.Sprintf("idle%d.service", i), "ExecStart=/bin/sleep 1000\n")
	}
	for i := range n {
		waitState(t, s, fmt.Sprintf("idle%d.service", i), "active", "running", 30*time.Second)
	}
	time.Sleep(500 * time.Millisecond)
	c0, t0 := cpuTime(t), time.Now()
	time.Sleep(3 * time.Second)
	busy := float64(cpuTime(t)-c0) / float64(time.Since(t0))
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	perUnit := (int64(after.Sys) - int64(before.Sys)) / n
	t.Logf("%d idle units: %.2f%% of a core, %d bytes of Go memory per unit, %d goroutines", n, busy*100, perUnit, runtime.NumGoroutine())
	if busy > 0.02 {
		t.Errorf("idle supervisor used %.2f%% of a core, want <= 2%%", busy*100)
	}
	if perUnit > 1<<20 {
		t.Errorf("%d bytes per unit, want <= 1 MiB", perUnit)
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime(t *testing.T) time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}
