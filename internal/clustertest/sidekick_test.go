package clustertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// waitActive waits until unit reports the active state want on a machine
// and returns that machine.
func waitActiveState(t *testing.T, c *Cluster, unit, want string) string {
	t.Helper()
	var on string
	err := testutil.Eventually(30*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, s := range st[unit] {
			if s.MachineID != "" && s.SystemdActiveState == want {
				on = s.MachineID
				return nil
			}
		}
		var got []string
		for _, s := range st[unit] {
			got = append(got, fmt.Sprintf("%s/%s on %.8s", s.SystemdActiveState, s.SystemdSubState, s.MachineID))
		}
		return fmt.Errorf("%s: %v, want %s", unit, got, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// TestSidekick (issue 16): fleet's sidekick pattern, unchanged. A
// discovery unit BindsTo= and After= its service, placed with MachineOf=,
// starts with its service on its machine (after it), stops when the
// service is stopped with fleetctl (before it), starts again with it, and
// stops when the service's process is killed.
func TestSidekick(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 2, 0)
	c.StartAll()
	log := filepath.Join(c.Dir, "announce.log")
	c.WriteUnit("foo.service", "[Unit]\nDescription=the service\n\n[Service]\nExecStartPre=/bin/sh -c 'echo foo >> "+log+"'\n"+
		"ExecStart=/bin/sleep 100016\nExecStop=/bin/sh -c 'echo foo-stop >> "+log+"'\n")
	c.WriteUnit("foo-discovery.service", "[Unit]\nDescription=announce foo\nBindsTo=foo.service\nAfter=foo.service\n\n"+
		"[Service]\nExecStart=/bin/sh -c 'echo announce >> "+log+"; exec sleep 100000'\n"+
		"ExecStop=/bin/sh -c 'echo withdraw >> "+log+"'\n\n[X-Fleet]\nMachineOf=foo.service\n")
	c.MustFleetctl("start", "foo.service", "foo-discovery.service")
	on := waitActiveState(t, c, "foo.service", "active")
	if side := waitActiveState(t, c, "foo-discovery.service", "active"); side != on {
		t.Fatalf("MachineOf=foo.service: the sidekick runs on %s, its service on %s", side, on)
	}

	c.MustFleetctl("stop", "foo.service")
	waitActiveState(t, c, "foo-discovery.service", "inactive")
	waitActiveState(t, c, "foo.service", "inactive")
	// The sidekick starts after its service and stops before it (After=).
	if got := readLog(log); got != "foo\nannounce\nwithdraw\nfoo-stop\n" {
		t.Errorf("after fleetctl stop foo.service the log is %q, want foo, announce, withdraw, foo-stop", got)
	}

	c.MustFleetctl("start", "foo.service")
	waitActiveState(t, c, "foo.service", "active")
	waitActiveState(t, c, "foo-discovery.service", "active")

	// The unit's pid is its node's pid namespace's: find it from here.
	pid := procWithArgs(t, nodeOf(c, on).PID(), "/bin/sleep", "100016")
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	waitActiveState(t, c, "foo.service", "failed")
	waitActiveState(t, c, "foo-discovery.service", "inactive")
	if got := readLog(log); got != "foo\nannounce\nwithdraw\nfoo-stop\nfoo\nannounce\nfoo-stop\nwithdraw\n" {
		t.Errorf("after SIGKILL of the service the log is %q", got)
	}
	out := c.MustFleetctl("list-units")
	t.Logf("list-units:\n%s", out)
	if !strings.Contains(out, "foo-discovery.service") {
		t.Errorf("list-units lacks the sidekick:\n%s", out)
	}
}

// procWithArgs finds the descendant of pid whose command line is args.
func procWithArgs(t *testing.T, pid int, args ...string) int {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	for _, p := range Descendants(pid) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); string(b) == want {
			return p
		}
	}
	t.Fatalf("no process %q under pid %d", args, pid)
	return 0
}

// TestSidekickInstall (issue 16): fleet's functional TestInstallUnit. A
// loaded discovery unit with BindsTo= and [Install] WantedBy= its service
// stays inactive until the service starts, then starts with it, and stops
// when the service is stopped.
func TestSidekickInstall(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 2, 0)
	c.StartAll()
	c.WriteUnit("hello.service", "[Service]\nExecStart=/bin/sh -c \"while true; do echo Hello; sleep 1; done\"\n")
	c.WriteUnit("discovery.service", "[Unit]\nBindsTo=hello.service\n\n"+
		"[Service]\nExecStart=/bin/sh -c \"while true; do echo discovery; sleep 1; done\"\n\n"+
		"[Install]\nWantedBy=hello.service\n\n[X-Fleet]\nMachineOf=hello.service\n")
	c.MustFleetctl("load", "hello.service", "discovery.service")
	waitActiveState(t, c, "hello.service", "inactive")
	waitActiveState(t, c, "discovery.service", "inactive")
	c.MustFleetctl("start", "hello.service")
	on := waitActiveState(t, c, "discovery.service", "active")
	if h := waitActiveState(t, c, "hello.service", "active"); h != on {
		t.Errorf("discovery.service runs on %s, hello.service on %s", on, h)
	}
	c.MustFleetctl("stop", "hello.service")
	waitActiveState(t, c, "discovery.service", "inactive")
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
