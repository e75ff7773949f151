package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

func TestStartStop(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "sleep.service", "ExecStart=/bin/sleep 1000\n")
	st := waitState(t, s, "sleep.service", "active", "running", 5*time.Second)
	if st.PID == 0 || !pidAlive(st.PID) {
		t.Fatalf("running with PID %d, not alive", st.PID)
	}
	if err := s.Start("sleep.service"); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if err := s.Stop("sleep.service"); err != nil {
		t.Fatal(err)
	}
	st2 := waitState(t, s, "sleep.service", "inactive", "dead", 5*time.Second)
	if pidAlive(st.PID) || st2.PID != 0 {
		t.Fatalf("pid %d still alive after stop (state pid %d)", st.PID, st2.PID)
	}
	if got := s.Units(); len(got) != 1 || got[0] != "sleep.service" {
		t.Fatalf("Units() = %v", got)
	}
	if err := s.Start("nope.service"); !errors.Is(err, unitmgr.ErrNotLoaded) {
		t.Fatalf("Start(unknown) = %v, want ErrNotLoaded", err)
	}
}

func TestExecStartPreFailure(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	post := tmpPath(t, "post")
	startUnit(t, s, "pre.service", "ExecStartPre=/bin/sh -c 'exit 3'\nExecStart=/bin/sleep 1000\n"+
		"ExecStopPost=/bin/sh -c 'echo post > "+post+"'\n")
	st := waitState(t, s, "pre.service", "failed", "failed", 5*time.Second)
	if st.Reason != "exit-code 3" {
		t.Fatalf("reason %q, want exit-code 3", st.Reason)
	}
	if readFile(post) != "post\n" {
		t.Fatal("ExecStopPost did not run after a failed start")
	}
}

func TestDashPrefixIgnoresFailure(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "dash.service", "ExecStartPre=-/bin/false\nExecStartPre=-/nonexistent\nExecStart=/bin/sleep 1000\n")
	waitState(t, s, "dash.service", "active", "running", 5*time.Second)
}

func TestExecFailureReason(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "missing.service", "ExecStart=/nonexistent/prog\n")
	st := waitState(t, s, "missing.service", "failed", "failed", 5*time.Second)
	if st.Reason != "exec /nonexistent/prog: no such file or directory" {
		t.Fatalf("reason %q", st.Reason)
	}
}

func TestOneshot(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	out := tmpPath(t, "out")
	startUnit(t, s, "once.service", fmt.Sprintf("Type=oneshot\nRemainAfterExit=yes\n"+
		"ExecStart=/bin/sh -c 'echo one >> %s'\nExecStart=sh -c 'echo two >> %s'\n"+
		"ExecStop=/bin/sh -c 'echo stop >> %s'\n", out, out, out))
	waitState(t, s, "once.service", "active", "exited", 5*time.Second)
	if got := readFile(out); got != "one\ntwo\n" {
		t.Fatalf("oneshot ran %q", got)
	}
	s.Stop("once.service")
	waitState(t, s, "once.service", "inactive", "dead", 5*time.Second)
	if got := readFile(out); got != "one\ntwo\nstop\n" {
		t.Fatalf("after stop: %q", got)
	}

	startUnit(t, s, "gone.service", "Type=oneshot\nExecStart=/bin/true\n")
	testutil.WaitFor(t, "oneshot without RemainAfterExit to end", 5*time.Second, func() bool {
		return strings.Contains(journal(t, s, "gone.service", -1), "Stopped gone.service.")
	})
	if st, _ := s.State("gone.service"); st.Active != "inactive" {
		t.Fatalf("oneshot ended %s/%s", st.Active, st.Sub)
	}
}

func TestRestartOnFailureHitsStartLimit(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	out := tmpPath(t, "runs")
	start := time.Now()
	startUnit(t, s, "crash.service", fmt.Sprintf("ExecStart=/bin/sh -c 'echo run >> %s; exit 3'\n"+
		"Restart=on-failure\nRestartSec=200ms\n", out))
	testutil.WaitFor(t, "first run", 5*time.Second, func() bool { return readFile(out) != "" })
	if st, _ := s.State("crash.service"); st.Sub == "failed" {
		t.Fatalf("failed after one run: %+v", st)
	}
	st := waitState(t, s, "crash.service", "failed", "failed", 10*time.Second)
	if st.Reason != "start-limit-hit" {
		t.Fatalf("reason %q, want start-limit-hit", st.Reason)
	}
	if runs := strings.Count(readFile(out), "run"); runs != 5 {
		t.Fatalf("%d runs, want 5 (StartLimitBurst)", runs)
	}
	if el := time.Since(start); el < 800*time.Millisecond {
		t.Fatalf("5 runs in %v: RestartSec=200ms not honoured", el)
	}
}

func TestRestartAlwaysAfterKill(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "always.service", "ExecStart=/bin/sleep 1000\nRestart=always\n")
	st := waitState(t, s, "always.service", "active", "running", 5*time.Second)
	unix.Kill(st.PID, unix.SIGKILL)
	testutil.WaitFor(t, "a new main pid", 5*time.Second, func() bool {
		st2, _ := s.State("always.service")
		return st2.Sub == "running" && st2.PID != 0 && st2.PID != st.PID
	})
	if j := journal(t, s, "always.service", -1); !strings.Contains(j, "code=killed, status=9/KILL") {
		t.Fatalf("journal lacks the kill:\n%s", j)
	}
}

func TestKillSignal(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	startUnit(t, s, "int.service", fmt.Sprintf("KillSignal=SIGINT\nWorkingDirectory=%s\n"+
		"ExecStart=/bin/sh -c 'trap \"echo int > int; exit 0\" INT; trap \"echo term > term\" TERM; echo $$$$ > pid; while :; do sleep 0.05; done'\n", dir))
	readPID(t, filepath.Join(dir, "pid"))
	s.Stop("int.service")
	waitState(t, s, "int.service", "inactive", "dead", 5*time.Second)
	if readFile(filepath.Join(dir, "int")) != "int\n" || readFile(filepath.Join(dir, "term")) != "" {
		t.Fatalf("KillSignal=SIGINT not delivered as such: int=%q term=%q",
			readFile(filepath.Join(dir, "int")), readFile(filepath.Join(dir, "term")))
	}
}

func TestTimeoutStopEscalates(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "stubborn.service", "TimeoutStopSec=300ms\n"+
		"ExecStart=/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'\n")
	waitState(t, s, "stubborn.service", "active", "running", 5*time.Second)
	t0 := time.Now()
	s.Stop("stubborn.service")
	st := waitState(t, s, "stubborn.service", "failed", "failed", 5*time.Second)
	if el := time.Since(t0); el < 300*time.Millisecond || el > 3*time.Second {
		t.Fatalf("stop took %v, want about TimeoutStopSec=300ms", el)
	}
	if st.Reason != "timeout" {
		t.Fatalf("reason %q, want timeout", st.Reason)
	}
}

func TestExecStopAndStopPost(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	startUnit(t, s, "stops.service", fmt.Sprintf("WorkingDirectory=%s\nExecStart=/bin/sleep 1000\n"+
		"ExecStop=/bin/sh -c 'echo $MAINPID > stop; kill $MAINPID'\nExecStopPost=/bin/sh -c 'echo post > post'\n", dir))
	st := waitState(t, s, "stops.service", "active", "running", 5*time.Second)
	s.Stop("stops.service")
	waitState(t, s, "stops.service", "inactive", "dead", 5*time.Second)
	if got := readFile(filepath.Join(dir, "stop")); got != fmt.Sprintf("%d\n", st.PID) {
		t.Fatalf("ExecStop saw MAINPID %q, want %d", got, st.PID)
	}
	if readFile(filepath.Join(dir, "post")) != "post\n" {
		t.Fatal("ExecStopPost did not run")
	}
}

func TestEnvironmentAndWorkingDirectory(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# comment\nC=3\nD='quoted x'\nB=from-file\n"), 0o644)
	startUnit(t, s, "env.service", fmt.Sprintf("Type=oneshot\nRemainAfterExit=yes\n"+
		"Environment=\"A=hello world\" B=2\nEnvironmentFile=%s\nEnvironmentFile=-/nonexistent/env\n"+
		"WorkingDirectory=%s\n"+
		"ExecStart=/bin/sh -c 'echo \"$$A|$$B|$$C|$$D|$$PWD\" > out'\n"+
		"ExecStart=/bin/echo ${A} $A\n", envFile, dir))
	waitState(t, s, "env.service", "active", "exited", 5*time.Second)
	if got, want := readFile(filepath.Join(dir, "out")), "hello world|from-file|3|quoted x|"+dir+"\n"; got != want {
		t.Fatalf("environment seen %q, want %q", got, want)
	}
	testutil.WaitFor(t, "echo output in the journal", 5*time.Second, func() bool {
		return strings.Contains(journal(t, s, "env.service", -1), "hello world hello world\n")
	})
}

func TestUserNobody(t *testing.T) {
	testenv.NeedRoot(t)
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "nobody.service", "Type=oneshot\nUser=nobody\nExecStart=/bin/sh -c 'echo uid=$$(id -u) gid=$$(id -g) groups=$$(id -G)'\n")
	testutil.WaitFor(t, "id output", 5*time.Second, func() bool {
		return strings.Contains(journal(t, s, "nobody.service", -1), "uid=65534 gid=65534 groups=65534\n")
	})
}

func TestGrandchildKilledOnStop(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	startUnit(t, s, "bg.service", fmt.Sprintf("WorkingDirectory=%s\n"+
		"ExecStart=/bin/sh -c '(sleep 1000 & echo $$! > bg) ; exec sleep 1000'\n", dir))
	bg := readPID(t, filepath.Join(dir, "bg"))
	if !pidAlive(bg) {
		t.Fatal("background grandchild not running")
	}
	s.Stop("bg.service")
	waitState(t, s, "bg.service", "inactive", "dead", 5*time.Second)
	if pidAlive(bg) {
		t.Fatalf("daemonised grandchild %d survived Stop", bg)
	}
}

func TestFence(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	var pids []int
	for i := range 3 {
		name := fmt.Sprintf("f%d.service", i)
		startUnit(t, s, name, fmt.Sprintf("WorkingDirectory=%s\nTimeoutStopSec=infinity\n"+
			"ExecStart=/bin/sh -c 'trap \"\" TERM; sleep 1000 & echo $$! > bg%d; while :; do sleep 0.05; done'\n"+
			"ExecStop=/bin/sh -c 'echo ran > stop%d'\n", dir, i, i))
		pids = append(pids, readPID(t, filepath.Join(dir, fmt.Sprintf("bg%d", i))))
	}
	t0 := time.Now()
	if err := s.Fence(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Fatalf("Fence took %v", el)
	}
	for i, pid := range pids {
		name := fmt.Sprintf("f%d.service", i)
		if st, _ := s.State(name); st.Active != "inactive" {
			t.Errorf("%s ended %s/%s after Fence", name, st.Active, st.Sub)
		}
		if pidAlive(pid) {
			t.Errorf("%s: pid %d survived Fence", name, pid)
		}
		if readFile(filepath.Join(dir, fmt.Sprintf("stop%d", i))) != "" {
			t.Errorf("%s: ExecStop ran during Fence", name)
		}
	}
}

func TestChangesAndUnload(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	startUnit(t, s, "ch.service", "ExecStart=/bin/sleep 1000\n")
	select {
	case name := <-s.Changes():
		if name != "ch.service" {
			t.Fatalf("change for %q", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification")
	}
	st := waitState(t, s, "ch.service", "active", "running", 5*time.Second)
	if err := s.Unload("ch.service"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.State("ch.service"); ok {
		t.Fatal("unit still loaded after Unload")
	}
	testutil.WaitFor(t, "unloaded unit's process to die", 5*time.Second, func() bool { return !pidAlive(st.PID) })
}

func TestLoadErrors(t *testing.T) {
	s := newTestSupervisor(t, Config{})
	tests := []struct{ body, field string }{
		{"[Service]\nExecStart=/bin/true\nFrobnicate=yes\n", "Frobnicate"},
		{"[Service]\nType=forking\nExecStart=/bin/true\n", "Type"},
		{"[Service]\nRestart=sometimes\nExecStart=/bin/true\n", "Restart"},
		{"[Service]\nExecStart=/bin/echo \"open\n", "ExecStart"},
		{"[Service]\nExecStart=/bin/true\nRestartSec=soon\n", "RestartSec"},
		{"[Service]\nExecStart=/bin/true\nExecStart=/bin/true\n", "ExecStart"},
		{"[Service]\nExecStart=/bin/true\nKillSignal=SIGNOPE\n", "KillSignal"},
		{"[Service]\nExecStart=/bin/true\nWorkingDirectory=relative\n", "WorkingDirectory"},
		{"[Unit]\nStartLimitBurst=many\n[Service]\nExecStart=/bin/true\n", "StartLimitBurst"},
	}
	for _, tt := range tests {
		f, err := unit.Parse("bad.service", []byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Load("bad.service", f)
		var ue *unit.Error
		if !errors.As(err, &ue) || ue.Field != tt.field {
			t.Errorf("Load(%q) = %v, want a unit.Error on %s", tt.body, err, tt.field)
		}
	}
	ok := "[Unit]\nAfter=x\n[Service]\nExecStart=/bin/true\nSyslogIdentifier=x\n[X-Fleet]\nGlobal=true\n[X-Container]\nImage=x\n[Install]\nWantedBy=y\n"
	f, _ := unit.Parse("good.service", []byte(ok))
	if err := s.Load("good.service", f); err != nil {
		t.Fatalf("Load of a unit with harmless sections: %v", err)
	}
	if err := s.Load("../x.service", f); err == nil {
		t.Fatal("Load accepted a name with a slash")
	}
}

// TestStartRightAfterExit: a Start that arrives as soon as the unit reports
// inactive, while its runner is still winding down, runs the unit again
// (found by the container start benchmark: it used to be a silent no-op).
func TestStartRightAfterExit(t *testing.T) {
	s := newTestSupervisor(t, Config{})
	out := filepath.Join(t.TempDir(), "runs")
	loadUnit(t, s, "again.service", "ExecStart=/bin/sh -c 'echo run >> "+out+"'\n")
	const runs = 10
	started, lastStart := 0, time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for started < runs {
		select {
		case <-s.Changes():
		case <-tick.C:
		case <-deadline:
			t.Fatalf("after %d starts, %d runs", started, strings.Count(readFile(out), "run"))
		}
		st, _ := s.State("again.service")
		done := strings.Count(readFile(out), "run")
		if st.Active != unit.ActiveInactive {
			continue
		}
		switch {
		case done == started:
			// The moment it reports inactive after its run: start again.
			if err := s.Start("again.service"); err != nil {
				t.Fatal(err)
			}
			started, lastStart = started+1, time.Now()
		case time.Since(lastStart) > 2*time.Second:
			t.Fatalf("start %d was lost: the unit is inactive and ran %d times", started, done)
		}
	}
	testutil.WaitFor(t, fmt.Sprintf("%d runs", runs), 10*time.Second, func() bool { return strings.Count(readFile(out), "run") == runs })
}

// TestParallelStartsBounded: with MaxParallelStarts=2, no more than two units
// are ever in their start steps at once, and all of them end up running.
func TestParallelStartsBounded(t *testing.T) {
	s := newTestSupervisor(t, Config{MaxParallelStarts: 2})
	out := filepath.Join(t.TempDir(), "spans")
	const n = 6
	for i := range n {
		name := fmt.Sprintf("p%d.service", i)
		startUnit(t, s, name, "ExecStartPre=/bin/sh -c 'echo +$$(date +%%s%%N) >> "+out+"; sleep 0.2; echo -$$(date +%%s%%N) >> "+out+"'\nExecStart=/bin/sleep 100\n")
	}
	for i := range n {
		waitState(t, s, fmt.Sprintf("p%d.service", i), unit.ActiveActive, "running", 10*time.Second)
	}
	type ev struct {
		at    int64
		delta int
	}
	var evs []ev
	for _, line := range strings.Fields(readFile(out)) {
		at, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		d := 1
		if line[0] == '-' {
			d = -1
		}
		evs = append(evs, ev{at, d})
	}
	if len(evs) != 2*n {
		t.Fatalf("%d start-step events, want %d", len(evs), 2*n)
	}
	sort.Slice(evs, func(i, j int) bool {
		return evs[i].at < evs[j].at || (evs[i].at == evs[j].at && evs[i].delta < evs[j].delta)
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.delta
		peak = max(peak, cur)
	}
	if peak > 2 {
		t.Errorf("%d units were in their start steps at once, want at most 2", peak)
	}
	if peak < 2 {
		t.Errorf("starts never overlapped (peak %d): the bound is not parallel", peak)
	}
}

// TestStateHashFollowsRuns: State.Hash is the file of the run in progress
// (or the last run): a file loaded while the unit runs shows only after a
// restart, which is how an adopting agent tells an old definition apart.
func TestStateHashFollowsRuns(t *testing.T) {
	s := newTestSupervisor(t, Config{})
	const name = "h.service"
	hashOf := func(service string) string {
		f, err := unit.Parse(name, []byte("[Unit]\nDescription=test\n\n[Service]\n"+service))
		if err != nil {
			t.Fatal(err)
		}
		return f.Hash()
	}
	v1, v2 := "ExecStart=/bin/sleep 1000\n", "ExecStart=/bin/sleep 2000\n"
	loadUnit(t, s, name, v1)
	if st, _ := s.State(name); st.Hash != "" {
		t.Errorf("never started, yet State.Hash is %q", st.Hash)
	}
	if err := s.Start(name); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, s, name, unit.ActiveActive, "running", 5*time.Second); st.Hash != hashOf(v1) {
		t.Errorf("running v1: Hash %q, want %q", st.Hash, hashOf(v1))
	}
	loadUnit(t, s, name, v2)
	if st, _ := s.State(name); st.Hash != hashOf(v1) {
		t.Errorf("v2 loaded while v1 runs: Hash %q, want v1's %q", st.Hash, hashOf(v1))
	}
	if err := s.Stop(name); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, name, unit.ActiveInactive, "", 5*time.Second)
	if err := s.Start(name); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, s, name, unit.ActiveActive, "running", 5*time.Second); st.Hash != hashOf(v2) {
		t.Errorf("restarted on v2: Hash %q, want %q", st.Hash, hashOf(v2))
	}
}

// TestFreezeThaw: a frozen unit makes no progress and stays active; thawed
// it carries on with the same process; a frozen unit can still be fenced.
func TestFreezeThaw(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	startUnit(t, s, "c.service", fmt.Sprintf("WorkingDirectory=%s\n"+
		"ExecStart=/bin/sh -c 'echo $$$$ > pid; i=0; while :; do i=$$((i+1)); echo $$i > n.tmp; mv n.tmp n; sleep 0.02; done'\n", dir))
	pid := readPID(t, filepath.Join(dir, "pid"))
	count := func() string { return readFile(filepath.Join(dir, "n")) }
	if err := testutil.Eventually(5*time.Second, func() error {
		if count() == "" {
			return fmt.Errorf("no count yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.State("c.service")
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a write begun before the stop lands
	frozen := count()
	time.Sleep(700 * time.Millisecond)
	if n := count(); n != frozen {
		t.Errorf("frozen unit counted on: %s then %s", frozen, n)
	}
	if st, _ := s.State("c.service"); st.Active != unit.ActiveActive || !st.Since.Equal(before.Since) {
		t.Errorf("frozen unit is %s/%s since %s; want it still active since %s", st.Active, st.Sub, st.Since, before.Since)
	}
	if err := s.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Eventually(5*time.Second, func() error {
		if n := count(); n == frozen {
			return fmt.Errorf("thawed unit still at %s", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !pidAlive(pid) || readPID(t, filepath.Join(dir, "pid")) != pid {
		t.Errorf("thawed unit is not the same process %d", pid)
	}
	if st, _ := s.State("c.service"); !st.Since.Equal(before.Since) {
		t.Errorf("unit changed state across freeze and thaw (since %s, was %s)", st.Since, before.Since)
	}
	// Frozen, then fenced: killed at once.
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := s.Fence(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if pidAlive(pid) {
		t.Errorf("frozen pid %d survived Fence (%s)", pid, time.Since(t0))
	}
	if st, _ := s.State("c.service"); st.Active != unit.ActiveInactive {
		t.Errorf("fenced frozen unit ended %s/%s", st.Active, st.Sub)
	}
}
