package container

import (
	"context"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/sandbox"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.InitIfRequested()
	os.Exit(m.Run())
}

// BenchmarkStartSteps runs a container's whole life (prepare, fork,
// release, exit, clean-up) as the supervisor does, 15 times, with the small
// init binary, and reports the median of each step in ms: where a container
// start's time goes, without the supervisor around it.
//
//	go test -run '^$' -bench StartSteps -benchtime 1x ./internal/container
func BenchmarkStartSteps(b *testing.B) {
	for range b.N {
		startSteps(b)
	}
}

func startSteps(t *testing.B) {
	testenv.NeedRoot(t)
	bin, err := clustertest.Build()
	if err != nil {
		t.Fatal(err)
	}
	rt, ref := testRuntimeWith(t, bin.SandboxInit)
	spec := &Spec{Image: ref, Exec: []string{"/bin/true"}, Network: NetworkNone}
	steps := map[string][]time.Duration{}
	devnull, _ := os.Open(os.DevNull)
	for range 15 {
		t0 := time.Now()
		run, err := rt.Prepare(context.Background(), "prof.service", spec)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		l := run.Launch()
		files := []uintptr{devnull.Fd(), devnull.Fd(), devnull.Fd()}
		for _, f := range l.Files {
			files = append(files, f.Fd())
		}
		pid, err := syscall.ForkExec(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Sys: l.Sys, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		if err := run.Started(pid); err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		t4 := time.Now()
		run.Exited()
		t5 := time.Now()
		for k, d := range map[string]time.Duration{"1 prepare": t1.Sub(t0), "2 fork": t2.Sub(t1), "3 started+release": t3.Sub(t2), "4 run to exit": t4.Sub(t3), "5 exited cleanup": t5.Sub(t4), "0 total": t5.Sub(t0)} {
			steps[k] = append(steps[k], d)
		}
	}
	keys := make([]string, 0, len(steps))
	for k := range steps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ds := steps[k]
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.ReportMetric(float64(ds[len(ds)/2])/float64(time.Millisecond), "ms-"+strings.ReplaceAll(k[2:], " ", "-"))
	}
}
