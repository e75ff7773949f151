package clustertest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/lifeline"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// innerPID is the lifeline's child of a node's outer fleetd: the process
// that runs etcd and the agent, PID 1 of the node's pid namespace. It is
// the child of the outer process's locked thread, not of its main one.
func innerPID(outer int) (int, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", outer))
	var f []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return 0, fmt.Errorf("children of fleetd %d: %w", outer, err)
		}
		f = append(f, strings.Fields(string(b))...)
	}
	if len(f) != 1 {
		return 0, fmt.Errorf("fleetd %d has children %v, want the one lifeline child", outer, f)
	}
	return strconv.Atoi(f[0])
}

// writerUnit appends "<unix ns> <pid namespace>" to log every 100 ms: the
// pid namespace names the fleetd (lifeline) that runs this copy.
func writerUnit(log string) string {
	return fmt.Sprintf("[Service]\nExecStart=/bin/sh -c 'ns=$$(readlink /proc/self/ns/pid); while :; do echo \"$$(date +%%%%s%%%%N) $$ns\" >> %s; sleep 0.1; done'\n", log)
}

// copies reads a writer's log: for each pid namespace, its first and last
// line's times.
func copies(path string) (first, last map[string]time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	first, last = map[string]time.Time{}, map[string]time.Time{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 2 {
			continue // a line being written
		}
		ns, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		at := time.Unix(0, ns)
		if _, ok := first[fs[1]]; !ok {
			first[fs[1]] = at
		}
		last[fs[1]] = at
	}
	return first, last, sc.Err()
}

// TestPausedFleetdUnitsDieBeforeTheyMove: SIGSTOP a node's inner fleetd
// (the agent and its fence timer freeze with it). The lifeline's watchdog
// must SIGKILL it, and every unit of its namespace, before the lease
// expires, so no unit ever writes from two nodes at once. Without the
// watchdog the old copies wrote until SIGCONT, seconds after the new ones
// started elsewhere.
func TestPausedFleetdUnitsDieBeforeTheyMove(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	const (
		n      = 6
		pause  = 10 * time.Second
		margin = 300 * time.Millisecond // the writers' resolution, and the bound
	)
	c := New(t, 3, 0)
	c.StartAll()
	logs := t.TempDir()
	var names []string
	for i := range n {
		name := fmt.Sprintf("pw-%d.service", i)
		c.WriteUnit(name, writerUnit(filepath.Join(logs, name+".log")))
		names = append(names, name)
	}
	c.MustFleetctl(append([]string{"start", "--no-block"}, names...)...)
	if err := WaitActive(c, names, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	victimID := ActiveOn(st, names[0])[0]
	victim := nodeOf(c, victimID)
	var moved []string
	for _, u := range names {
		if ActiveOn(st, u)[0] == victimID {
			moved = append(moved, u)
		}
	}
	inner, err := innerPID(victim.PID())
	if err != nil {
		t.Fatal(err)
	}
	procs := Descendants(inner)
	if len(procs) == 0 {
		t.Fatalf("no unit processes under %s's inner fleetd (pid %d)", victim.Name, inner)
	}
	exited := make(chan error, 1)
	outer := victim.cmd
	go func() { exited <- outer.Wait() }()

	stopped := time.Now()
	if err := syscall.Kill(inner, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGSTOP to %s's inner fleetd (pid %d); units %v ran there", victim.Name, inner, moved)
	var dead time.Duration
	testutil.EventuallyEvery(20*time.Millisecond, pause, func() error {
		if a := Alive(procs); len(a) > 0 {
			return fmt.Errorf("%d unit processes still alive", len(a))
		}
		dead = time.Since(stopped)
		return nil
	})
	if rest := pause - time.Since(stopped); rest > 0 {
		time.Sleep(rest)
	}
	syscall.Kill(inner, syscall.SIGCONT)
	if dead == 0 {
		t.Errorf("the paused node's units still ran %s after SIGSTOP", pause)
	} else {
		t.Logf("the paused node's units were dead %s after SIGSTOP", dead.Round(time.Millisecond))
	}

	// The outer process exits with a failure for its supervisor to restart
	// it; the old code resumes instead. Either way the node rejoins.
	restarted := false
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != lifeline.WatchdogExit {
			t.Errorf("outer fleetd exited %v, want status %d", err, lifeline.WatchdogExit)
		}
		victim.cmd = nil
		victim.log.Close()
		c.Start(victim)
		restarted = true
	case <-time.After(2 * time.Second):
		t.Errorf("%s's fleetd still runs after its pause: no watchdog", victim.Name)
		victim.cmd = nil // reaped by the goroutine above when killed
		t.Cleanup(func() { outer.Process.Kill() })
	}
	if err := testutil.Eventually(60*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, u := range names {
			if on := ActiveOn(st, u); len(on) != 1 {
				return fmt.Errorf("%s active on %v", u, on)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if victim.cmd == nil {
		victim.cmd = outer // old code: still running; let KillAll reap it
	}
	c.WaitMachines(3, 60*time.Second)
	time.Sleep(time.Second) // a second of writes after everything settled

	worst := -time.Hour // signed: negative is a gap between the copies
	for _, u := range moved {
		first, last, err := copies(filepath.Join(logs, u+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(first) < 2 {
			b, _ := os.ReadFile(filepath.Join(logs, u+".log"))
			t.Errorf("%s: written from %d pid namespaces, want the paused one and a new one; log: %.200q", u, len(first), b)
			continue
		}
		// Any two copies: how long both wrote.
		for a := range first {
			for b := range first {
				if a >= b {
					continue
				}
				from, to := first[a], last[a]
				if first[b].After(from) {
					from = first[b]
				}
				if last[b].Before(to) {
					to = last[b]
				}
				if d := to.Sub(from); d > worst {
					worst = d
				}
				if d := to.Sub(from); d > margin {
					t.Errorf("%s ran in two places (pid namespaces %s and %s) for %s", u, a, b, d.Round(time.Millisecond))
				}
			}
		}
	}
	t.Logf("longest overlap of two copies of a moved unit: %s (bound %s; negative is a gap)", worst.Round(time.Millisecond), margin)
	// Nothing runs twice now: in the last 500 ms each unit wrote from one place.
	for _, u := range names {
		_, last, err := copies(filepath.Join(logs, u+".log"))
		if err != nil {
			t.Fatal(err)
		}
		var recent []string
		for ns, at := range last {
			if time.Since(at) < 500*time.Millisecond {
				recent = append(recent, ns)
			}
		}
		if len(recent) != 1 {
			t.Errorf("%s written recently from %v, want exactly one place", u, recent)
		}
	}
	if !restarted {
		return
	}
	// A graceful stop is no watchdog kill: the agent stops renewing while
	// fleetd stops its units and leaves, and it still exits 0.
	victim.cmd.Process.Signal(syscall.SIGTERM)
	stop := make(chan error, 1)
	go func() { stop <- victim.cmd.Wait() }()
	select {
	case err := <-stop:
		if err != nil {
			t.Errorf("fleetd stopped by SIGTERM exited %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("fleetd still runs 30s after SIGTERM")
	}
	victim.cmd = nil
	victim.log.Close()
}
