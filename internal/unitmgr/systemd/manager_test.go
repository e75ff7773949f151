package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// newTest returns a Manager over a fake systemd with fast timings.
func newTest(t *testing.T, adjust ...func(*Config)) (*Manager, *fakeSystemd) {
	t.Helper()
	dir := t.TempDir()
	f := newFake(dir)
	cfg := Config{UnitDir: dir, PollInterval: 10 * time.Millisecond, ReloadDelay: 30 * time.Millisecond,
		CallTimeout: 5 * time.Second, CloseTimeout: time.Second, Logf: t.Logf}
	for _, a := range adjust {
		a(&cfg)
	}
	m, err := New(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, f
}

func file(t *testing.T, text string) *unit.File {
	t.Helper()
	f, err := unit.Parse("test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const sleeper = "[Unit]\nDescription=test\n[Service]\nExecStart=/bin/sleep 1000\n"

// waitFor polls the Manager's recorded state until ok holds.
func waitFor(t *testing.T, m *Manager, name string, what string, ok func(unit.State) bool) unit.State {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, loaded := m.State(name)
		if loaded && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited 3s for %s; state is %+v (loaded %v)", name, what, st, loaded)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitActive(t *testing.T, m *Manager, name, active, sub string) unit.State {
	t.Helper()
	return waitFor(t, m, name, active+"/"+sub, func(s unit.State) bool { return s.Active == active && s.Sub == sub })
}

func TestLoadWritesCanonicalFile(t *testing.T) {
	m, f := newTest(t)
	uf := file(t, "[Service]\n  ExecStart = /bin/sleep 1000\n# comment\n[Unit]\nDescription=x\n")
	if err := m.Load("web.service", uf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(m.cfg.UnitDir, "web.service")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != uf.String() {
		t.Errorf("file holds %q, want the canonical %q", b, uf.String())
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(m.cfg.UnitDir)
	if len(ents) != 1 {
		t.Errorf("unit dir holds %d entries, want only web.service (no temporary files)", len(ents))
	}
	waitFor(t, m, "web.service", "loaded", func(s unit.State) bool { return s.Load == unit.LoadLoaded })
	reloads := f.Reloads()

	// Same file again: nothing written, no reload.
	before := fi.ModTime()
	time.Sleep(10 * time.Millisecond)
	if err := m.Load("web.service", file(t, uf.String())); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(before) {
		t.Error("an unchanged Load rewrote the file")
	}
	if got := f.Reloads(); got != reloads {
		t.Errorf("an unchanged Load reloaded systemd (%d reloads, want %d)", got, reloads)
	}

	// A new Manager (fleetd restarted) finds the file in place and loaded: no write, no reload.
	m2, err := New(f, Config{UnitDir: m.cfg.UnitDir, PollInterval: 10 * time.Millisecond, ReloadDelay: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Load("web.service", uf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got := f.Reloads(); got != reloads {
		t.Errorf("re-loading a file systemd already has reloaded systemd (%d reloads, want %d)", got, reloads)
	}
	m2.reload.close() // leave the shared fake open; stop only m2's goroutines
	m2.stopWatch()
	<-m2.watchDone
	m2.changes.Close()

	// A changed file is rewritten and reloaded.
	uf2 := file(t, sleeper)
	if err := m.Load("web.service", uf2); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != uf2.String() {
		t.Errorf("file not rewritten: %q", b)
	}
	if err := m.Start("web.service"); err != nil {
		t.Fatal(err)
	}
	if got := f.Reloads(); got != reloads+1 {
		t.Errorf("%d reloads after changing the file, want %d", got, reloads+1)
	}
}

func TestReloadsCoalesce(t *testing.T) {
	// A quiet period long enough that a loaded machine running -race does
	// not split the bursts below.
	m, f := newTest(t, func(c *Config) { c.ReloadDelay = 150 * time.Millisecond })
	for i := range 10 {
		if err := m.Load(fmt.Sprintf("seq%d.service", i), file(t, sleeper)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		waitFor(t, m, fmt.Sprintf("seq%d.service", i), "loaded", func(s unit.State) bool { return s.Load == unit.LoadLoaded })
	}
	if n := f.Reloads(); n < 1 || n > 2 {
		t.Errorf("10 sequential Loads cost %d reloads, want 1 or 2", n)
	}

	// Concurrent Loads: one or two reloads again.
	before := f.Reloads()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := m.Load(fmt.Sprintf("par%d.service", i), file(t, sleeper)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range 10 {
		waitFor(t, m, fmt.Sprintf("par%d.service", i), "loaded", func(s unit.State) bool { return s.Load == unit.LoadLoaded })
	}
	if n := f.Reloads() - before; n < 1 || n > 2 {
		t.Errorf("10 concurrent Loads cost %d reloads, want 1 or 2", n)
	}

	// Concurrent Load+Start: a Start does not wait out the quiet period, so
	// reloads depend on timing; what holds is that every Start finds its
	// unit and no Start costs more than one reload.
	f.mu.Lock()
	f.reloadDelay = 20 * time.Millisecond
	f.mu.Unlock()
	before = f.Reloads()
	for i := range 10 {
		wg.Go(func() {
			name := fmt.Sprintf("ls%d.service", i)
			if err := m.Load(name, file(t, sleeper)); err != nil {
				t.Error(err)
				return
			}
			if err := m.Start(name); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := f.Reloads() - before
	t.Logf("10 concurrent Load+Start cost %d reloads", n)
	if n < 1 || n > 10 {
		t.Errorf("10 concurrent Load+Start cost %d reloads, want 1 to 10", n)
	}
}

func TestStartRightAfterLoad(t *testing.T) {
	m, f := newTest(t)
	if err := m.Load("a.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("a.service"); err != nil {
		t.Fatalf("Start right after Load (reload must come first): %v", err)
	}
	if n := f.Reloads(); n != 1 {
		t.Errorf("%d reloads, want 1", n)
	}
	st := waitActive(t, m, "a.service", "active", "running")
	if st.PID == 0 || st.Load != unit.LoadLoaded {
		t.Errorf("running state %+v: want a PID and load state loaded", st)
	}
}

func TestStartStop(t *testing.T) {
	m, f := newTest(t)
	if err := m.Load("a.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("a.service"); err != nil {
		t.Fatal(err)
	}
	// Start does not wait for the job: right after it, the unit is activating.
	if st, _ := m.State("a.service"); st.Active != unit.ActiveActivating {
		t.Errorf("right after Start: %+v, want activating (Start refreshes at once)", st)
	}
	run := waitActive(t, m, "a.service", "active", "running")
	if err := m.Start("a.service"); err != nil {
		t.Fatalf("starting an active unit: %v", err)
	}
	if st, _ := m.State("a.service"); st.PID != run.PID || !st.Since.Equal(run.Since) {
		t.Errorf("starting an active unit changed it: %+v, was %+v", st, run)
	}
	if err := m.Stop("a.service"); err != nil {
		t.Fatal(err)
	}
	st := waitActive(t, m, "a.service", "inactive", "dead")
	if st.PID != 0 || st.Reason != "" || st.Load != unit.LoadLoaded {
		t.Errorf("stopped state %+v", st)
	}
	if a, _ := f.unitState("a.service"); a != "inactive" {
		t.Errorf("systemd has a.service %s", a)
	}
	if err := m.Stop("a.service"); err != nil {
		t.Errorf("stopping an inactive unit: %v", err)
	}
}

func TestFailureReason(t *testing.T) {
	m, f := newTest(t)
	if err := m.Load("bad.service", file(t, "[Service]\nExecStart=/bin/false\n")); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("bad.service"); err != nil {
		t.Fatal(err)
	}
	st := waitActive(t, m, "bad.service", "failed", "failed")
	if st.Reason != "exit-code 1" {
		t.Errorf("reason %q, want %q", st.Reason, "exit-code 1")
	}
	// Starting a failed unit resets it first; it fails again and the
	// Manager sees the new failure, not the old state.
	changes := m.Changes()
	drain(changes)
	if err := m.Start("bad.service"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	resets := f.resets
	f.mu.Unlock()
	if resets != 1 {
		t.Errorf("%d reset-failed calls, want 1", resets)
	}
	select {
	case n := <-changes:
		if n != "bad.service" {
			t.Errorf("change for %q", n)
		}
	case <-time.After(time.Second):
		t.Fatal("no change delivered after restarting a failed unit")
	}
	waitActive(t, m, "bad.service", "failed", "failed")
}

func drain(c <-chan string) {
	for {
		select {
		case <-c:
		case <-time.After(50 * time.Millisecond):
			return
		}
	}
}

func TestUnload(t *testing.T) {
	m, f := newTest(t)
	if err := m.Load("a.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("a.service"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, m, "a.service", "active", "running")
	reloads := f.Reloads()
	if err := m.Unload("a.service"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.State("a.service"); ok {
		t.Error("State still reports an unloaded unit")
	}
	if len(m.Units()) != 0 {
		t.Errorf("Units() = %v after Unload", m.Units())
	}
	if _, err := os.Stat(filepath.Join(m.cfg.UnitDir, "a.service")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit file still there: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.Reloads() == reloads || func() bool { a, _ := f.unitState("a.service"); return a != "inactive" }() {
		if time.Now().After(deadline) {
			a, _ := f.unitState("a.service")
			t.Fatalf("after Unload: %d reloads (was %d), systemd has the unit %s", f.Reloads(), reloads, a)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := m.Unload("a.service"); !errors.Is(err, unitmgr.ErrNotLoaded) || !strings.Contains(err.Error(), "a.service") {
		t.Errorf("second Unload: %v, want ErrNotLoaded naming a.service", err)
	}
	// Unloading a unit systemd never saw (no reload yet) still works.
	m.cfg.ReloadDelay = time.Hour
	if err := m.Load("b.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := m.Unload("b.service"); err != nil {
		t.Errorf("Unload before any reload: %v", err)
	}
}

func TestErrorsNameTheUnit(t *testing.T) {
	m, f := newTest(t)
	for op, call := range map[string]func(string) error{"start": m.Start, "stop": m.Stop, "unload": m.Unload} {
		err := call("ghost.service")
		if !errors.Is(err, unitmgr.ErrNotLoaded) || !strings.Contains(err.Error(), "ghost.service") || !strings.Contains(err.Error(), op) {
			t.Errorf("%s of an unknown unit: %v", op, err)
		}
	}
	if err := m.Load("bad name", file(t, sleeper)); err == nil || !strings.Contains(err.Error(), "bad name") {
		t.Errorf("Load with an invalid name: %v", err)
	}

	// A file removed behind the Manager's back: systemd's own error, naming the unit.
	if err := m.Load("gone.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(m.cfg.UnitDir, "gone.service"))
	if err := m.Load("other.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	err := m.Start("gone.service")
	if err == nil || !strings.Contains(err.Error(), "start gone.service") || !strings.Contains(err.Error(), "Unit gone.service not found.") {
		t.Errorf("Start of a unit whose file vanished: %v", err)
	}

	// A failing daemon-reload is reported by the Start that needed it.
	f.mu.Lock()
	f.reloadErr = errors.New("Access denied")
	f.mu.Unlock()
	if err := m.Load("new.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	err = m.Start("new.service")
	if err == nil || !strings.Contains(err.Error(), "start new.service: daemon-reload: Access denied") {
		t.Errorf("Start with a failing reload: %v", err)
	}
	f.mu.Lock()
	f.reloadErr = nil
	f.mu.Unlock()
	if err := m.Start("new.service"); err != nil {
		t.Errorf("Start once reload works again: %v", err)
	}
}

func TestChangesNeverBlockNorDrop(t *testing.T) {
	m, _ := newTest(t)
	const n = 40
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			name := fmt.Sprintf("u%d.service", i)
			if err := m.Load(name, file(t, sleeper)); err != nil {
				t.Error(err)
				return
			}
			if err := m.Start(name); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Load/Start blocked while nobody read Changes")
	}
	for i := range n {
		waitActive(t, m, fmt.Sprintf("u%d.service", i), "active", "running")
	}
	// The slow reader now reads: every name comes. A name is at most twice
	// in flight: once handed to the blocked send, once queued again by a
	// later change (taking it out of the queue only after the send would
	// lose a change that lands between the send and the removal).
	seen := map[string]int{}
	timeout := time.After(2 * time.Second)
	for len(seen) < n {
		select {
		case name := <-m.Changes():
			seen[name]++
		case <-timeout:
			t.Fatalf("only %d of %d names delivered", len(seen), n)
		}
	}
	for name, k := range seen {
		if k > 2 {
			t.Errorf("%s delivered %d times while the reader was away; want it coalesced to at most 2", name, k)
		}
	}
}

func TestSubscriptionSeesOutsideChanges(t *testing.T) {
	m, f := newTest(t)
	if err := m.Load("a.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, "a.service", "loaded", func(s unit.State) bool { return s.Load == unit.LoadLoaded })
	drain(m.Changes())
	if err := f.StartExternal("a.service"); err != nil { // systemctl start a.service
		t.Fatal(err)
	}
	select {
	case n := <-m.Changes():
		if n != "a.service" {
			t.Errorf("change for %s", n)
		}
	case <-time.After(time.Second):
		t.Fatal("no change delivered for a unit started outside the Manager")
	}
	waitActive(t, m, "a.service", "active", "running")
	// Stopped outside: systemd garbage-collects it, the subscription reports
	// it deleted, and the Manager records inactive/dead.
	f.mu.Lock()
	f.set("a.service", f.units["a.service"], "inactive", "dead")
	f.mu.Unlock()
	waitActive(t, m, "a.service", "inactive", "dead")
}

func TestFence(t *testing.T) {
	m, f := newTest(t)
	units := map[string]string{
		"plain.service":  sleeper,
		"stuck.service":  "[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/sleep infinity\n",
		"dstate.service": sleeper,
		"idle.service":   sleeper,
		"bad.service":    "[Service]\nExecStart=/bin/false\n",
	}
	for name, text := range units {
		if err := m.Load(name, file(t, text)); err != nil {
			t.Fatal(err)
		}
		if name != "idle.service" {
			if err := m.Start(name); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{"plain.service", "stuck.service", "dstate.service"} {
		waitActive(t, m, name, "active", "running")
	}
	waitActive(t, m, "bad.service", "failed", "failed")
	f.mu.Lock()
	f.unkillable["dstate.service"] = true
	f.mu.Unlock()

	start := time.Now()
	err := m.Fence(start.Add(300 * time.Millisecond))
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "dstate.service") || strings.Contains(err.Error(), "stuck.service") || strings.Contains(err.Error(), "plain.service") {
		t.Errorf("Fence: %v, want an error naming only dstate.service", err)
	}
	if took < 250*time.Millisecond || took > 600*time.Millisecond {
		t.Errorf("Fence returned after %v, want about its 300ms deadline", took)
	}
	for _, name := range []string{"plain.service", "stuck.service", "idle.service"} {
		if st, _ := m.State(name); st.Active != unit.ActiveInactive {
			t.Errorf("%s after Fence: %+v, want inactive", name, st)
		}
	}
	if st, _ := m.State("bad.service"); st.Active != unit.ActiveFailed || st.Reason != "exit-code 1" {
		t.Errorf("a unit that failed before Fence: %+v, want it still failed with its reason", st)
	}
	if len(m.Units()) != len(units) {
		t.Errorf("Fence unloaded units: %v", m.Units())
	}

	// Without the stuck process Fence returns as soon as all are down.
	f.mu.Lock()
	f.unkillable["dstate.service"] = false
	f.mu.Unlock()
	start = time.Now()
	if err := m.Fence(start.Add(2 * time.Second)); err != nil {
		t.Errorf("second Fence: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Fence took %v with nothing left to wait for", took)
	}
}

func TestClose(t *testing.T) {
	m, f := newTest(t)
	if err := m.Load("a.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("a.service"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, m, "a.service", "active", "running")
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if a, _ := f.unitState("a.service"); a != "inactive" {
		t.Errorf("after Close systemd has a.service %s, want inactive", a)
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if !closed {
		t.Error("Close left the connection open")
	}
	if _, ok := <-m.Changes(); ok {
		// A last queued name may still come; the channel must then close.
		for range m.Changes() {
		}
	}
	if err := m.Start("a.service"); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if err := m.Load("b.service", file(t, sleeper)); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{"Result": "success"}, ""},
		{map[string]any{"Result": "exit-code", "ExecMainCode": int32(1), "ExecMainStatus": int32(3)}, "exit-code 3"},
		{map[string]any{"Result": "exit-code", "ExecMainCode": int32(1), "ExecMainStatus": int32(203)}, "exit-code 203/EXEC"},
		{map[string]any{"Result": "signal", "ExecMainCode": int32(2), "ExecMainStatus": int32(9)}, "signal KILL"},
		{map[string]any{"Result": "core-dump", "ExecMainCode": int32(3), "ExecMainStatus": int32(11)}, "signal SEGV (core dumped)"},
		{map[string]any{"Result": "timeout"}, "timeout"},
		{map[string]any{"Result": "start-limit-hit"}, "start-limit-hit"},
		{map[string]any{"Result": "oom-kill"}, "oom-kill"},
	} {
		if got := reason(c.props); got != c.want {
			t.Errorf("reason(%v) = %q, want %q", c.props, got, c.want)
		}
	}
}

func TestStateOf(t *testing.T) {
	for _, c := range []struct {
		load, active, sub string
		want              unit.State
	}{
		{"loaded", "active", "running", unit.State{Load: "loaded", Active: "active", Sub: "running"}},
		{"not-found", "inactive", "dead", unit.State{Load: "not-found", Active: "inactive", Sub: "dead"}},
		{"", "inactive", "dead", unit.State{Load: "not-found", Active: "inactive", Sub: "dead"}},
	} {
		if got := stateOf(c.load, c.active, c.sub); got != c.want {
			t.Errorf("stateOf(%q, %q, %q) = %+v, want %+v", c.load, c.active, c.sub, got, c.want)
		}
	}
	for _, load := range []string{"bad-setting", "error", "masked"} {
		if st := stateOf(load, "inactive", "dead"); st.Load != unit.LoadError || !strings.Contains(st.Reason, load) {
			t.Errorf("stateOf(%q) = %+v, want load error with the reason", load, st)
		}
	}
}

func TestDialWithoutSystemd(t *testing.T) {
	if Available() {
		t.Skip("systemd is PID 1 here; TestDialSystemBus covers Dial")
	}
	_, err := Dial(context.Background(), Config{})
	if !errors.Is(err, ErrNoSystemd) {
		t.Fatalf("Dial without systemd: %v, want ErrNoSystemd", err)
	}
}

func TestDialSystemBus(t *testing.T) {
	if !Available() {
		t.Skip("systemd is not PID 1 on this host (no /run/systemd/system): no system manager to dial")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := Dial(ctx, Config{UnitDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Skipf("systemd is PID 1 but the bus is not reachable from this test: %v", err)
	}
	if got := m.Units(); len(got) != 0 {
		t.Errorf("fresh Manager has units %v", got)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
