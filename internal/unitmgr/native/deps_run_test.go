package native

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// loadText loads a whole unit file.
func loadText(t *testing.T, s *Supervisor, name, text string) {
	t.Helper()
	f, err := unit.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(name, f); err != nil {
		t.Fatal(err)
	}
}

// logger is a unit line that appends word to log, then runs cmd (a
// oneshot appends after a delay, to show who waited for it).
func appendThen(log, word, cmd string) string {
	return fmt.Sprintf("ExecStart=/bin/sh -c 'echo %s >> %s; %s'\n", word, log, cmd)
}

// TestDepsStartOrder: starting a unit starts what it requires or wants
// first, and waits for their start jobs (a oneshot's whole run) when
// ordered after them, by After= on itself or Before= on them.
func TestDepsStartOrder(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	log := tmpPath(t, "log")
	loadText(t, s, "db.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\n"+
		fmt.Sprintf("ExecStart=/bin/sh -c 'sleep 0.4; echo db >> %s'\n", log))
	loadText(t, s, "cache.service", "[Unit]\nBefore=web.service\n[Service]\n"+
		fmt.Sprintf("ExecStart=/bin/sh -c 'sleep 0.2; echo cache >> %s; exec sleep 1000'\n", log))
	loadText(t, s, "web.service", "[Unit]\nRequires=db.service\nAfter=db.service\nWants=cache.service\n[Service]\n"+
		appendThen(log, "web", "exec sleep 1000"))
	if err := s.Start("web.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "web.service", "active", "running", 5*time.Second)
	waitState(t, s, "db.service", "active", "exited", 5*time.Second)
	st := waitState(t, s, "cache.service", "active", "running", 5*time.Second)
	testutil.WaitFor(t, "web to write", 5*time.Second, func() bool { return strings.Contains(readFile(log), "web") })
	// cache (a simple service) is up once forked: web waits for its
	// start, not for its "sleep 0.2", so cache may write after web.
	if got := strings.ReplaceAll(readFile(log), "cache\n", ""); got != "db\nweb\n" {
		t.Errorf("start order %q, want db before web (After=db.service on a oneshot)", readFile(log))
	}
	if st.PID == 0 {
		t.Error("cache.service (Wants=) not started with web")
	}
}

// TestDepsRequiredFails: a unit ordered after a unit it requires does not
// start when that one fails to; with Wants= it starts all the same. It
// starts once the unit it requires is active.
func TestDepsRequiredFails(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	log := tmpPath(t, "log")
	loadText(t, s, "bad.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 3'\n")
	loadText(t, s, "needs.service", "[Unit]\nRequires=bad.service\nAfter=bad.service\n[Service]\n"+appendThen(log, "needs", "exec sleep 1000"))
	loadText(t, s, "wants.service", "[Unit]\nWants=bad.service\nAfter=bad.service\n[Service]\n"+appendThen(log, "wants", "exec sleep 1000"))
	if err := s.Start("needs.service"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, s, "needs.service", "inactive", "dead", 5*time.Second)
	if st.Reason != "dependency failed: bad.service" {
		t.Errorf("needs.service reason %q", st.Reason)
	}
	if j := journal(t, s, "needs.service", -1); !strings.Contains(j, "Dependency failed for needs.service.") {
		t.Errorf("journal lacks the dependency failure:\n%s", j)
	}
	waitState(t, s, "bad.service", "failed", "failed", 5*time.Second)
	if err := s.Start("wants.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "wants.service", "active", "running", 5*time.Second)
	testutil.WaitFor(t, "wants.service to run", 5*time.Second, func() bool { return strings.Contains(readFile(log), "wants") })
	if strings.Contains(readFile(log), "needs") {
		t.Error("needs.service ran though bad.service, which it requires, failed")
	}

	// Fixed and started by hand, bad.service brings needs.service up,
	// which fleet still wants launched.
	loadText(t, s, "bad.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n")
	if err := s.Start("bad.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "needs.service", "active", "running", 5*time.Second)
}

// sidekick is fleet's discovery unit pattern on one machine.
func sidekick(log string) string {
	return "[Unit]\nBindsTo=foo.service\nAfter=foo.service\n[Service]\n" + appendThen(log, "announce", "exec sleep 1000") +
		fmt.Sprintf("ExecStop=/bin/sh -c 'sleep 0.3; echo withdraw >> %s'\n[X-Fleet]\nMachineOf=foo.service\n", log)
}

// TestDepsBindsTo: the sidekick starts with (after) its service; a
// SIGKILLed service stops the sidekick; starting the service again starts
// the sidekick again; stopping the service stops the sidekick first (its
// slow ExecStop ends before the service's runs); a sidekick stopped on its
// own stays stopped.
func TestDepsBindsTo(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	log := tmpPath(t, "log")
	loadText(t, s, "foo.service", fmt.Sprintf("[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/sh -c 'echo foo-stop >> %s'\n", log))
	loadText(t, s, "foo-discovery.service", sidekick(log))
	if err := s.Start("foo-discovery.service"); err != nil {
		t.Fatal(err)
	}
	foo := waitState(t, s, "foo.service", "active", "running", 5*time.Second)
	side := waitState(t, s, "foo-discovery.service", "active", "running", 5*time.Second)

	unix.Kill(foo.PID, unix.SIGKILL)
	waitState(t, s, "foo.service", "failed", "failed", 5*time.Second)
	waitState(t, s, "foo-discovery.service", "inactive", "dead", 5*time.Second)
	if pidAlive(side.PID) {
		t.Error("the sidekick's process outlived it")
	}
	if got := readFile(log); got != "announce\nfoo-stop\nwithdraw\n" {
		t.Errorf("log %q: the sidekick's ExecStop did not run after the service's", got)
	}

	if err := s.Start("foo.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "foo-discovery.service", "active", "running", 5*time.Second)

	if err := s.Stop("foo.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "foo-discovery.service", "inactive", "dead", 5*time.Second)
	waitState(t, s, "foo.service", "inactive", "dead", 5*time.Second)
	if got := readFile(log); !strings.HasSuffix(got, "announce\nwithdraw\nfoo-stop\n") {
		t.Errorf("log %q: stopping the service did not stop its sidekick (After=) first", got)
	}
	if err := s.Start("foo.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "foo-discovery.service", "active", "running", 5*time.Second)

	// Stopped by hand: it stays down through its service's stop and start.
	if err := s.Stop("foo-discovery.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "foo-discovery.service", "inactive", "dead", 5*time.Second)
	if st, _ := s.State("foo.service"); st.Active != "active" {
		t.Errorf("stopping the sidekick stopped its service: %+v", st)
	}
	s.Stop("foo.service")
	waitState(t, s, "foo.service", "inactive", "dead", 5*time.Second)
	s.Start("foo.service")
	waitState(t, s, "foo.service", "active", "running", 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if st, _ := s.State("foo-discovery.service"); st.Active != "inactive" {
		t.Errorf("a sidekick stopped by hand came back with its service: %+v", st)
	}
}

// TestDepsRestartPropagates: a service restarting (Restart=always after a
// kill) restarts the units that are PartOf= or Requires= it; a Wants= on it
// is untouched.
func TestDepsRestartPropagates(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	loadText(t, s, "main.service", "[Service]\nExecStart=/bin/sleep 1000\nRestart=always\nRestartSec=50ms\n")
	loadText(t, s, "part.service", "[Unit]\nPartOf=main.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	loadText(t, s, "req.service", "[Unit]\nRequires=main.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	loadText(t, s, "want.service", "[Unit]\nWants=main.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	for _, n := range []string{"main.service", "part.service", "req.service", "want.service"} {
		if err := s.Start(n); err != nil {
			t.Fatal(err)
		}
	}
	pids := map[string]int{}
	for _, n := range []string{"main.service", "part.service", "req.service", "want.service"} {
		pids[n] = waitState(t, s, n, "active", "running", 5*time.Second).PID
	}
	unix.Kill(pids["main.service"], unix.SIGKILL)
	for _, n := range []string{"main.service", "part.service", "req.service"} {
		testutil.WaitFor(t, n+" to run again with a new pid", 5*time.Second, func() bool {
			st, _ := s.State(n)
			return st.Sub == "running" && st.PID != 0 && st.PID != pids[n]
		})
	}
	if st, _ := s.State("want.service"); st.PID != pids["want.service"] {
		t.Errorf("want.service (Wants=main) was restarted: pid %d, was %d", st.PID, pids["want.service"])
	}
	if j := journal(t, s, "part.service", -1); !strings.Contains(j, "main.service is restarting") {
		t.Errorf("part.service's journal does not say why it stopped:\n%s", j)
	}
}

// TestDepsInstall: [Install] WantedBy=X makes starting X start the unit,
// RequiredBy=X too, and a stop of the required unit stops X.
func TestDepsInstall(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	loadText(t, s, "app.service", "[Service]\nExecStart=/bin/sleep 1000\n")
	loadText(t, s, "metrics.service", "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=app.service multi-user.target\n")
	loadText(t, s, "vol.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nRequiredBy=app.service\n")
	if err := s.Start("app.service"); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "metrics.service", "active", "running", 5*time.Second)
	waitState(t, s, "vol.service", "active", "exited", 5*time.Second)
	s.Stop("vol.service")
	waitState(t, s, "app.service", "inactive", "dead", 5*time.Second)
	if st, _ := s.State("metrics.service"); st.Active != "active" {
		t.Errorf("metrics.service (WantedBy=app) stopped with app: %+v", st)
	}
}

// TestDepsEdgeCases: a hard dependency on a unit not loaded here is
// ignored with a log line; Requisite= on an inactive unit fails the start
// without starting it; an ordering cycle starts both with a log line.
func TestDepsEdgeCases(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	loadText(t, s, "tut.service", "[Unit]\nRequires=docker.service\nAfter=docker.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	s.Start("tut.service")
	waitState(t, s, "tut.service", "active", "running", 5*time.Second)
	if j := journal(t, s, "tut.service", -1); !strings.Contains(j, "docker.service is not loaded on this machine; the dependency is ignored.") {
		t.Errorf("journal does not say docker.service is ignored:\n%s", j)
	}

	loadText(t, s, "base.service", "[Service]\nExecStart=/bin/sleep 1000\n")
	loadText(t, s, "checks.service", "[Unit]\nRequisite=base.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	s.Start("checks.service")
	if st := waitState(t, s, "checks.service", "inactive", "dead", 5*time.Second); st.Reason != "dependency failed: base.service" {
		t.Errorf("Requisite= on an inactive unit: %+v", st)
	}
	if st, _ := s.State("base.service"); st.Active != "inactive" {
		t.Errorf("Requisite= started its unit: %+v", st)
	}
	s.Start("base.service")
	waitState(t, s, "base.service", "active", "running", 5*time.Second)
	s.Start("checks.service")
	waitState(t, s, "checks.service", "active", "running", 5*time.Second)

	loadText(t, s, "ping.service", "[Unit]\nWants=pong.service\nAfter=pong.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	loadText(t, s, "pong.service", "[Unit]\nAfter=ping.service\n[Service]\nExecStart=/bin/sleep 1000\n")
	s.Start("ping.service")
	waitState(t, s, "ping.service", "active", "running", 5*time.Second)
	waitState(t, s, "pong.service", "active", "running", 5*time.Second)
	if j := journal(t, s, "ping.service", -1); !strings.Contains(j, "ordering cycle between ping.service, pong.service") {
		t.Errorf("journal does not name the ordering cycle:\n%s", j)
	}
}

// TestDepsWaitForStoppingUnit: a unit that requires, and is ordered
// after, a unit still stopping waits for that unit's next start, not for
// its last one.
func TestDepsWaitForStoppingUnit(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	log := tmpPath(t, "log")
	loadText(t, s, "p.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\n"+appendThen(log, "p", "true")+"ExecStop=/bin/sleep 0.3\n")
	loadText(t, s, "a.service", "[Unit]\nRequires=p.service\nAfter=p.service\n[Service]\n"+appendThen(log, "a", "exec sleep 1000"))
	s.Start("p.service")
	waitState(t, s, "p.service", "active", "exited", 5*time.Second)
	s.Stop("p.service")
	waitState(t, s, "p.service", "deactivating", "", 5*time.Second)
	s.Start("a.service")
	waitState(t, s, "a.service", "active", "running", 5*time.Second)
	testutil.WaitFor(t, "a to write", 5*time.Second, func() bool { return strings.Contains(readFile(log), "a") })
	if got := readFile(log); got != "p\np\na\n" {
		t.Errorf("log %q: a.service did not wait for p.service to start again", got)
	}
}

// TestDepsStopWhileWaiting: a unit stopped while it waits for a unit it is
// ordered after runs nothing, as a cancelled start job.
func TestDepsStopWhileWaiting(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	log := tmpPath(t, "log")
	loadText(t, s, "slow.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 1000\n")
	loadText(t, s, "waiter.service", "[Unit]\nWants=slow.service\nAfter=slow.service\n[Service]\n"+
		fmt.Sprintf("ExecStartPre=/bin/sh -c 'echo pre >> %s'\nExecStopPost=/bin/sh -c 'echo post >> %s'\n", log, log)+
		"ExecStart=/bin/sleep 1000\n")
	s.Start("waiter.service")
	waitState(t, s, "slow.service", "activating", "start", 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	if st, _ := s.State("waiter.service"); st.Active != "activating" {
		t.Fatalf("waiter.service is %s/%s while slow.service starts, want activating", st.Active, st.Sub)
	}
	s.Stop("waiter.service")
	waitState(t, s, "waiter.service", "inactive", "dead", 5*time.Second)
	if got := readFile(log); got != "" {
		t.Errorf("a start stopped while waiting ran %q", got)
	}
}
