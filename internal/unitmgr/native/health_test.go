package native

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/health"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// waitHealth polls until the unit's verdict is want.
func waitHealth(t *testing.T, s *Supervisor, name, want string, within time.Duration) unit.State {
	t.Helper()
	var st unit.State
	testutil.WaitFor(t, name+" health "+want, within, func() bool {
		st, _ = s.State(name)
		return st.Health == want
	})
	return st
}

// TestHealthProbe: a plain unit's [X-Fleet] HTTP check against a real
// listener: healthy while it answers 200, unhealthy after Retries
// failures, and HealthCheckOnFailure=restart starts it again though
// Restart=no. Passing checks change nothing (no state change to write).
func TestHealthProbe(t *testing.T) {
	var failing atomic.Bool
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	s := newTestSupervisor(t, Config{})
	f, err := unit.Parse("web.service", []byte("[Service]\nExecStart=/bin/sleep 600\nRestartSec=100ms\n[X-Fleet]\nHealthCheck="+srv.URL+
		"/healthz\nHealthCheckInterval=1s\nHealthCheckRetries=2\nHealthCheckOnFailure=restart\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load("web.service", f); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("web.service"); err != nil {
		t.Fatal(err)
	}
	st := waitHealth(t, s, "web.service", health.Healthy, 10*time.Second)
	pid := st.PID
	// Passing checks: no change of state.
	for drained := false; !drained; {
		select {
		case <-s.Changes():
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	before := hits.Load()
	time.Sleep(2500 * time.Millisecond)
	if n := hits.Load() - before; n < 2 {
		t.Fatalf("%d checks in 2.5 s at a 1 s interval", n)
	}
	select {
	case name := <-s.Changes():
		t.Fatalf("a passing check changed %s's state: %+v", name, func() unit.State { st, _ := s.State(name); return st }())
	default:
	}
	failing.Store(true)
	// Unhealthy lasts only until the restart: watch the journal for it.
	testutil.WaitFor(t, "unhealthy", 10*time.Second, func() bool {
		return strings.Contains(journal(t, s, "web.service", 100), "now unhealthy")
	})
	failing.Store(false)
	testutil.WaitFor(t, "restarted with a new pid, healthy", 15*time.Second, func() bool {
		st, _ := s.State("web.service")
		return st.Active == unit.ActiveActive && st.PID != 0 && st.PID != pid && st.Health == health.Healthy
	})
	if j := journal(t, s, "web.service", 50); !strings.Contains(j, "HealthOnFailure=restart") {
		t.Errorf("journal lacks the restart:\n%s", j)
	}
	if err := s.Stop("web.service"); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, s, "web.service", unit.ActiveInactive, "dead", 10*time.Second)
	if st.Health != "" {
		t.Errorf("inactive unit's health %q, want none", st.Health)
	}
}

// TestHealthNoCheck: a unit without a check has no verdict.
func TestHealthNoCheck(t *testing.T) {
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "plain.service", "ExecStart=/bin/sleep 600\n")
	st := waitState(t, s, "plain.service", unit.ActiveActive, "running", 5*time.Second)
	if st.Health != "" {
		t.Errorf("health %q, want none", st.Health)
	}
	u := s.lookup("plain.service")
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.act == nil || u.act.health != nil {
		t.Errorf("a unit without a check has a health monitor (or no activation): %+v", u.act)
	}
}

// TestHealthIdleCost: units with a passing check cost one short wake-up
// per interval and write nothing: no change of state while they pass.
func TestHealthIdleCost(t *testing.T) {
	testenv.NeedSlow(t)
	const n = 100
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s := newTestSupervisor(t, Config{})
	for i := range n {
		name := fmt.Sprintf("hc%d.service", i)
		f, err := unit.Parse(name, []byte("[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nHealthCheck=tcp://"+ln.Addr().String()+"\nHealthCheckInterval=1s\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Load(name, f); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(name); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		waitHealth(t, s, fmt.Sprintf("hc%d.service", i), health.Healthy, 30*time.Second)
	}
	for drained := false; !drained; {
		select {
		case <-s.Changes():
		case <-time.After(500 * time.Millisecond):
			drained = true
		}
	}
	changes := 0
	c0, t0 := cpuTime(t), time.Now()
	end := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case <-s.Changes():
			changes++
		case <-end:
			done = true
		}
	}
	busy := float64(cpuTime(t)-c0) / float64(time.Since(t0))
	t.Logf("%d units with a TCP check every 1s: %.2f%% of a core, %d state changes in 5s, %d goroutines", n, busy*100, changes, runtime.NumGoroutine())
	if changes != 0 {
		t.Errorf("%d state changes while every check passed, want 0", changes)
	}
}

// TestHealthContainerKill: a container's HealthCmd= runs inside it; when it
// starts failing the unit turns unhealthy and HealthOnFailure=kill kills
// it, Restart=on-failure starting it again.
func TestHealthContainerKill(t *testing.T) {
	rt, ref := realRuntime(t)
	s := newTestSupervisor(t, Config{Containers: rt})
	data := t.TempDir()
	os.Chmod(data, 0o755)
	ok := filepath.Join(data, "ok")
	if err := os.WriteFile(ok, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	startUnit(t, s, "hc.service", "Restart=on-failure\nRestartSec=100ms\n[Container]\nImage="+ref+
		"\nNetwork=none\nVolume="+data+":/data\nExec=/bin/sleep 600\nHealthCmd=test -e /data/ok\nHealthInterval=1s\nHealthRetries=2\nHealthOnFailure=kill\n")
	st := waitHealth(t, s, "hc.service", health.Healthy, 30*time.Second)
	pid := st.PID
	os.Remove(ok)
	// Unhealthy lasts only until the kill: watch the journal for it.
	testutil.WaitFor(t, "unhealthy", 15*time.Second, func() bool {
		return strings.Contains(journal(t, s, "hc.service", 100), "now unhealthy")
	})
	if err := os.WriteFile(ok, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "restarted with a new pid, healthy", 30*time.Second, func() bool {
		st, _ := s.State("hc.service")
		return st.Active == unit.ActiveActive && st.PID != 0 && st.PID != pid && st.Health == health.Healthy
	})
	j := journal(t, s, "hc.service", 100)
	for _, want := range []string{"now unhealthy", "HealthOnFailure=kill", "status=9/KILL", "Scheduled restart job"} {
		if !strings.Contains(j, want) {
			t.Errorf("journal lacks %q:\n%s", want, j)
		}
	}
}

// TestHealthNotifyHealthy: Notify=healthy holds a container unit in
// activating until its check first passes.
func TestHealthNotifyHealthy(t *testing.T) {
	rt, ref := realRuntime(t)
	s := newTestSupervisor(t, Config{Containers: rt})
	data := t.TempDir()
	os.Chmod(data, 0o755)
	startUnit(t, s, "slow.service", "[Container]\nImage="+ref+
		"\nNetwork=none\nVolume="+data+":/data\nExec=/bin/sleep 600\nHealthCmd=test -e /data/ready\nHealthInterval=1s\nHealthStartPeriod=1m\nNotify=healthy\n")
	waitHealth(t, s, "slow.service", health.Starting, 30*time.Second)
	time.Sleep(3 * time.Second) // three failing checks, in the start period
	if st, _ := s.State("slow.service"); st.Active != unit.ActiveActivating || st.Sub != "start" || st.Health != health.Starting {
		t.Fatalf("before the first passing check: %s/%s health %q, want activating/start starting", st.Active, st.Sub, st.Health)
	}
	if err := os.WriteFile(filepath.Join(data, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, s, "slow.service", unit.ActiveActive, "running", 10*time.Second)
	if st.Health != health.Healthy {
		t.Errorf("active with health %q, want healthy", st.Health)
	}
}

// TestHealthOnFailureStop: HealthOnFailure=stop stops the unit as a stop
// request would: it ends inactive, not failed, and is not restarted.
func TestHealthOnFailureStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every check fails
	s := newTestSupervisor(t, Config{})
	f, err := unit.Parse("db.service", []byte("[Service]\nExecStart=/bin/sleep 600\nRestart=always\nRestartSec=100ms\n[X-Fleet]\nHealthCheck=tcp://"+addr+
		"\nHealthCheckInterval=1s\nHealthCheckRetries=2\nHealthCheckOnFailure=stop\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load("db.service", f); err != nil {
		t.Fatal(err)
	}
	if err := s.Start("db.service"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, s, "db.service", unit.ActiveInactive, "dead", 15*time.Second)
	if st.Health != "" {
		t.Errorf("stopped unit's health %q, want none", st.Health)
	}
	if j := journal(t, s, "db.service", 50); !strings.Contains(j, "HealthOnFailure=stop") || strings.Contains(j, "Scheduled restart") {
		t.Errorf("journal:\n%s", j)
	}
}

// TestHealthNotifyHealthyTimeout: a Notify=healthy unit that never passes
// fails at TimeoutStartSec with reason timeout, as a Type=notify service
// that never says READY=1.
func TestHealthNotifyHealthyTimeout(t *testing.T) {
	rt, ref := realRuntime(t)
	s := newTestSupervisor(t, Config{Containers: rt})
	startUnit(t, s, "never.service", "TimeoutStartSec=3\nTimeoutStopSec=1\n[Container]\nImage="+ref+
		"\nNetwork=none\nExec=/bin/sleep 600\nHealthCmd=/bin/false\nHealthInterval=1s\nNotify=healthy\n")
	waitState(t, s, "never.service", unit.ActiveActivating, "start", 30*time.Second)
	st := waitState(t, s, "never.service", unit.ActiveFailed, "failed", 20*time.Second)
	if st.Reason != "timeout" {
		t.Errorf("reason %q, want timeout", st.Reason)
	}
}

// TestHealthContainerTimeout: a HealthCmd= that hangs fails at
// HealthTimeout and is killed (Podman: SIGKILL), command and helper both.
func TestHealthContainerTimeout(t *testing.T) {
	rt, ref := realRuntime(t)
	s := newTestSupervisor(t, Config{Containers: rt})
	startUnit(t, s, "hang.service", "TimeoutStopSec=1\n[Container]\nImage="+ref+
		"\nNetwork=none\nExec=/bin/sleep 600\nHealthCmd=/bin/sleep 4242\nHealthInterval=1s\nHealthTimeout=1s\nHealthRetries=1\n")
	waitHealth(t, s, "hang.service", health.Unhealthy, 30*time.Second)
	if j := journal(t, s, "hang.service", 50); !strings.Contains(j, "health check timed out") {
		t.Errorf("journal lacks the timeout:\n%s", j)
	}
	// Checks keep starting every second; each is killed at its timeout,
	// so at most one (the current) is alive.
	time.Sleep(2500 * time.Millisecond)
	if n := countProcs(t, "/bin/sleep\x004242"); n > 1 {
		t.Errorf("%d hung health checks alive, want at most the current one", n)
	}
	if err := s.Stop("hang.service"); err != nil {
		t.Fatal(err)
	}
	// sleep, PID 1, ignores SIGTERM: the stop ends in SIGKILL (failed).
	testutil.WaitFor(t, "stopped", 20*time.Second, func() bool {
		st, _ := s.State("hang.service")
		return st.Active == unit.ActiveInactive || st.Active == unit.ActiveFailed
	})
	testutil.WaitFor(t, "no health check left", 5*time.Second, func() bool { return countProcs(t, "/bin/sleep\x004242") == 0 })
}

// countProcs counts processes whose command line starts with prefix.
func countProcs(t *testing.T, prefix string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.HasPrefix(string(b), prefix) {
			n++
		}
	}
	return n
}
