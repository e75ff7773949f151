package lifeline_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/lifeline"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

const helperEnv = "LIFELINE_TEST_HELPER"

// TestMain turns the test binary into the helper daemon when asked: it
// calls Enter, as a fleetd main would, and then does what the mode says.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

func helper(mode string) {
	if mode == "units-plain" {
		runUnits()
	}
	if err := lifeline.Enter(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if os.Getpid() != 1 || !lifeline.Inside() || os.Getenv(lifeline.EnvMarker) != "" {
		fmt.Fprintf(os.Stderr, "not inside: pid %d\n", os.Getpid())
		os.Exit(4)
	}
	switch mode {
	case "exit7":
		os.Exit(7)
	case "term":
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM)
		os.WriteFile(filepath.Join(os.Getenv("LIFELINE_TEST_DIR"), "ready"), nil, 0o644)
		<-sigc
		os.Exit(5)
	case "units":
		runUnits()
	case "stall":
		// Alive while the units start, then silent, as a SIGSTOPped agent.
		go func() {
			ready := filepath.Join(os.Getenv("LIFELINE_TEST_DIR"), "ready")
			for {
				lifeline.Alive(time.Now().Add(500 * time.Millisecond))
				if _, err := os.Stat(ready); err == nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		runUnits()
	case "disarm":
		lifeline.Alive(time.Now().Add(100 * time.Millisecond))
		lifeline.Alive(time.Time{})
		time.Sleep(time.Second)
		os.Exit(7)
	}
}

// runUnits starts a unit whose shell leaves a background sleep and a
// setsid'd (daemonised, own session) sleep behind, then waits forever.
func runUnits() {
	dir, mark := os.Getenv("LIFELINE_TEST_DIR"), os.Getenv("LIFELINE_TEST_MARK")
	s, err := native.New(native.Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(6)
	}
	body := fmt.Sprintf("[Service]\nExecStart=/bin/sh -c 'sleep %s & (setsid sleep %s &); touch %s/ready; exec sleep %s'\n", mark, mark, dir, mark)
	f, _ := unit.Parse("sleeps.service", []byte(body))
	if err := s.Load("sleeps.service", f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(6)
	}
	s.Start("sleeps.service")
	select {}
}

func startHelper(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, helperEnv+"="+mode)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("helper stderr: %s", stderr.String())
		}
	})
	return cmd
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	if err := testutil.EventuallyEvery(10*time.Millisecond, 10*time.Second, func() error {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("%s never appeared", path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// waitSleeps waits until 3 processes carry mark and returns them.
func waitSleeps(t *testing.T, mark string) []string {
	t.Helper()
	var found []string
	if err := testutil.EventuallyEvery(10*time.Millisecond, 5*time.Second, func() error {
		if found = processesWith(mark); len(found) < 3 {
			return fmt.Errorf("want 3 sleeps running, found %v", found)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// processesWith lists pids whose command line has arg as a whole argument.
func processesWith(arg string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Contains(append([]byte{0}, b...), []byte("\x00"+arg+"\x00")) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

func TestSIGKILLTakesDaemonisedGrandchildren(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	mark := fmt.Sprintf("%d.%d", 900000+os.Getpid()%1000, time.Now().UnixNano()%1000000)
	cmd := startHelper(t, "units", "LIFELINE_TEST_DIR="+dir, "LIFELINE_TEST_MARK="+mark)
	waitFile(t, filepath.Join(dir, "ready"))
	before := waitSleeps(t, mark)
	cmd.Process.Kill()
	cmd.Wait()
	var left []string
	if err := testutil.EventuallyEvery(20*time.Millisecond, 5*time.Second, func() error {
		if left = processesWith(mark); len(left) > 0 {
			return fmt.Errorf("processes %v outlived the SIGKILLed daemon (were %v)", left, before)
		}
		return nil
	}); err != nil {
		killAll(left)
		t.Fatal(err)
	}
}

func killAll(pids []string) {
	for _, pid := range pids {
		var n int
		fmt.Sscan(pid, &n)
		syscall.Kill(n, syscall.SIGKILL)
	}
}

// TestWithoutLifelineDaemonsEscape is the control: the same daemon without
// Enter leaves its setsid'd grandchild behind, so the test above can fail.
func TestWithoutLifelineDaemonsEscape(t *testing.T) {
	dir := t.TempDir()
	mark := fmt.Sprintf("%d.%d", 800000+os.Getpid()%1000, time.Now().UnixNano()%1000000)
	cmd := startHelper(t, "units-plain", "LIFELINE_TEST_DIR="+dir, "LIFELINE_TEST_MARK="+mark)
	waitFile(t, filepath.Join(dir, "ready"))
	waitSleeps(t, mark)
	cmd.Process.Kill()
	cmd.Wait()
	time.Sleep(300 * time.Millisecond)
	left := processesWith(mark)
	killAll(left)
	if len(left) == 0 {
		t.Fatal("without the lifeline every sleep died too: the SIGKILL test proves nothing here")
	}
}

func TestExitStatusPropagates(t *testing.T) {
	testenv.NeedRoot(t)
	cmd := startHelper(t, "exit7")
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("outer exit = %v, want status 7", err)
	}
}

func TestSIGTERMIsForwarded(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	cmd := startHelper(t, "term", "LIFELINE_TEST_DIR="+dir)
	waitFile(t, filepath.Join(dir, "ready"))
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 5 {
			t.Fatalf("outer exit = %v, want status 5 from the child's SIGTERM handler", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("outer did not exit after SIGTERM")
	}
}

func TestDisabled(t *testing.T) {
	t.Setenv(lifeline.EnvMarker, "0")
	if err := lifeline.Enter(); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("Enter with %s=0 = %v", lifeline.EnvMarker, err)
	}
}

// TestWatchdogKillsAStalledDaemon: the daemon stops saying it is alive; by
// its last deadline the outer process SIGKILLs it and its units and exits
// with WatchdogExit.
func TestWatchdogKillsAStalledDaemon(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	mark := fmt.Sprintf("%d.%d", 700000+os.Getpid()%1000, time.Now().UnixNano()%1000000)
	cmd := startHelper(t, "stall", "LIFELINE_TEST_DIR="+dir, "LIFELINE_TEST_MARK="+mark)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stalled daemon still runs 10s on: no watchdog")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != lifeline.WatchdogExit {
		t.Fatalf("outer exit = %v, want status %d", err, lifeline.WatchdogExit)
	}
	if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
		t.Fatal("killed before its unit started: nothing shown about the units")
	}
	var left []string
	if err := testutil.EventuallyEvery(20*time.Millisecond, 5*time.Second, func() error {
		if left = processesWith(mark); len(left) > 0 {
			return fmt.Errorf("processes %v outlived the watchdog's kill", left)
		}
		return nil
	}); err != nil {
		killAll(left)
		t.Fatal(err)
	}
}

// TestWatchdogDisarmed: a zero deadline disarms it; the daemon outlives
// its old deadline and exits on its own.
func TestWatchdogDisarmed(t *testing.T) {
	testenv.NeedRoot(t)
	cmd := startHelper(t, "disarm")
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("outer exit = %v, want the daemon's own status 7", err)
	}
}
