package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

// TestRoundTrip drives a real supervisor through the socket: load, start,
// state, journal (tail and follow), changes, stop, unload, and errors.
func TestRoundTrip(t *testing.T) {
	testenv.NeedRoot(t)
	sock := serveInProcess(t, 0)
	c := dial(t, sock)
	const name = "rt.service"

	if err := c.Start("nope.service"); !errors.Is(err, unitmgr.ErrNotLoaded) {
		t.Fatalf("Start of an unknown unit: %v, want ErrNotLoaded", err)
	}
	if _, ok := c.State("nope.service"); ok {
		t.Fatal("State of an unknown unit: ok")
	}
	err := c.Load("bad.service", parse(t, "bad.service", "[Service]\nRestart=sometimes\n"))
	if err == nil || !strings.Contains(err.Error(), "bad.service") {
		t.Fatalf("Load of a bad unit: %v, want an error naming the unit", err)
	}

	if err := c.Load(name, parse(t, name, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(name); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, name, 10*time.Second, running)
	if !alive(st.PID) {
		t.Fatalf("pid %d reported but not running", st.PID)
	}
	if got := c.Units(); len(got) != 1 || got[0] != name {
		t.Fatalf("Units = %v", got)
	}
	seen := false
	for !seen {
		select {
		case n := <-c.Changes():
			seen = n == name
		case <-time.After(5 * time.Second):
			t.Fatal("no change announced for", name)
		}
	}

	var buf bytes.Buffer
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "hello from remote") {
		if time.Now().After(deadline) {
			t.Fatalf("journal: %q", buf.String())
		}
		buf.Reset()
		if err := c.Journal(context.Background(), name, -1, false, &buf); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	var follow bytes.Buffer
	if err := c.Journal(ctx, name, 5, true, &follow); err != nil {
		t.Fatalf("followed journal: %v", err)
	}
	cancel()
	if !strings.Contains(follow.String(), "hello from remote") {
		t.Fatalf("followed journal: %q", follow.String())
	}
	if err := c.Journal(context.Background(), "nope.service", 5, false, &buf); !errors.Is(err, unitmgr.ErrNotLoaded) {
		t.Fatalf("journal of an unknown unit: %v", err)
	}

	if err := c.Stop(name); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, name, 10*time.Second, func(s unit.State, ok bool) bool { return ok && s.Active == unit.ActiveInactive })
	waitGone(t, st.PID, 5*time.Second)
	if err := c.Unload(name); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, name, 5*time.Second, func(_ unit.State, ok bool) bool { return !ok })
	if got := c.Units(); len(got) != 0 {
		t.Fatalf("Units after unload = %v", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-c.Changes(); open {
		for range c.Changes() {
		}
	}
}

// TestClientGoneUnitsStay: a client that goes away (Close, no Fence) leaves
// its unit running; the next client, within FenceAfter, re-loads the same
// file and starts it, which changes nothing: same PID. Its keepalives then
// keep the unit past FenceAfter.
func TestClientGoneUnitsStay(t *testing.T) {
	testenv.NeedRoot(t)
	sock := serveInProcess(t, 2*time.Second)
	const name = "stay.service"
	c1 := dial(t, sock)
	f := parse(t, name, sleeper)
	if err := c1.Load(name, f); err != nil {
		t.Fatal(err)
	}
	if err := c1.Start(name); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c1, name, 10*time.Second, running)
	c1.Close()

	time.Sleep(time.Second)
	c2 := dial(t, sock)
	if err := c2.Load(name, f); err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past FenceAfter, with c2 alive
	st2, ok := c2.State(name)
	if !ok || st2.Active != unit.ActiveActive || st2.PID != st.PID || !alive(st.PID) {
		t.Fatalf("after a new client: %+v (ok %v), want active with pid %d", st2, ok, st.PID)
	}
}

// TestFencedWithoutClient: no client for FenceAfter and the units are
// killed; they stay loaded, inactive.
func TestFencedWithoutClient(t *testing.T) {
	testenv.NeedRoot(t)
	sock := serveInProcess(t, time.Second)
	const name = "fence.service"
	c := dial(t, sock)
	if err := c.Load(name, parse(t, name, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(name); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, name, 10*time.Second, running)
	gone := time.Now()
	c.Close()
	waitGone(t, st.PID, 4*time.Second)
	took := time.Since(gone)
	if took < 500*time.Millisecond {
		t.Fatalf("unit killed %s after the client left, before FenceAfter (1s)", took)
	}
	t.Logf("fenced %s after the client left", took)
	c2 := dial(t, sock)
	st2, ok := c2.State(name)
	if !ok || st2.Active != unit.ActiveInactive {
		t.Fatalf("after fencing: %+v (ok %v), want loaded and inactive", st2, ok)
	}
}

// TestKilledClientProcess: the fleetd-like client is a process SIGKILLed
// while connected. Its keepalives held the units past FenceAfter; after
// its death a new client within FenceAfter still sees the same PID; once
// nobody is connected for FenceAfter, the unit is fenced.
func TestKilledClientProcess(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	startHost(t, sock, filepath.Join(dir, "data"), 2*time.Second)
	holder := startHolder(t, sock)

	const name = "held.service"
	c := dial(t, sock)
	if err := c.Load(name, parse(t, name, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(name); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, name, 10*time.Second, running)
	c.Close()
	time.Sleep(3 * time.Second) // past FenceAfter: the holder alone keeps it
	if !alive(st.PID) {
		t.Fatal("unit fenced although the holder was connected")
	}

	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	time.Sleep(time.Second)
	c2 := dial(t, sock)
	st2, ok := c2.State(name)
	if !ok || st2.Active != unit.ActiveActive || st2.PID != st.PID {
		t.Fatalf("after the holder's SIGKILL: %+v (ok %v), want active with pid %d", st2, ok, st.PID)
	}
	c2.Close()
	waitGone(t, st.PID, 5*time.Second)
}

// TestRootOnly: the socket is 0600 in a 0700 directory, so a non-root
// process cannot connect; with the modes opened up, the peer check still
// refuses it. A root probe passes both ways.
func TestRootOnly(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	startHost(t, sock, filepath.Join(dir, "data"), remote.DefaultFenceAfter)
	for p, want := range map[string]os.FileMode{sock: 0o600, filepath.Dir(sock): 0o700} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	probe := func(uid uint32) (string, error) {
		cmd := exec.Command(buildHost(t), "probe", "-socket", sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := probe(0); err != nil {
		t.Fatalf("root probe: %v: %s", err, out)
	}
	out, err := probe(65534)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("uid 65534 through a 0600 socket: %v: %s, want permission denied", err, out)
	}
	// Open the modes: only SO_PEERCRED stands in the way now.
	for _, p := range []string{filepath.Dir(dir), dir, filepath.Dir(sock), sock} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	out, err = probe(65534)
	if err == nil || !strings.Contains(out, "peer uid 65534 is not root") {
		t.Fatalf("uid 65534 through an open socket: %v: %s, want the peer check's refusal", err, out)
	}
}

// TestListenRefusesLiveServer: a second Listen on a served socket fails;
// a stale socket (nobody answering) is replaced.
func TestListenRefusesLiveServer(t *testing.T) {
	testenv.NeedRoot(t)
	sock := serveInProcess(t, 0)
	if _, err := remote.Listen(sock); !errors.Is(err, remote.ErrInUse) {
		t.Fatalf("Listen on a served socket: %v, want ErrInUse", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, err := remote.Listen(stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close()
	l2, err := remote.Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}

// TestChangesAfterServerRestart: the change stream reconnects to a new
// server on the same socket and re-announces the units it knew, so an
// agent re-reads them (here: gone, since the old host took them along).
func TestChangesAfterServerRestart(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	host := startHost(t, sock, filepath.Join(dir, "data"), remote.DefaultFenceAfter)
	c := dial(t, sock)
	const name = "again.service"
	if err := c.Load(name, parse(t, name, sleeper)); err != nil {
		t.Fatal(err)
	}
	drain(c.Changes())
	if err := host.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	startHost(t, sock, filepath.Join(dir, "data2"), remote.DefaultFenceAfter)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case n := <-c.Changes():
			if n != name {
				continue
			}
			if _, ok := c.State(name); ok {
				t.Fatalf("%s loaded in the new host", name)
			}
			if err := c.Load(name, parse(t, name, sleeper)); err != nil {
				t.Fatalf("load through the reconnected client: %v", err)
			}
			return
		case <-deadline:
			t.Fatalf("%s not re-announced after the server restart", name)
		}
	}
}

func drain(ch <-chan string) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

// TestFreezeThawOverSocket: Freeze and Thaw reach the server's manager: the
// unit's process is stopped, then runs again with the same PID, active
// throughout.
func TestFreezeThawOverSocket(t *testing.T) {
	testenv.NeedRoot(t)
	sock := serveInProcess(t, 0)
	c := dial(t, sock)
	const name = "freeze.service"
	if err := c.Load(name, parse(t, name, sleeper)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(name); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, name, 10*time.Second, running)
	procState := func() string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PID))
		if err != nil {
			return "gone"
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		return f[0]
	}
	if err := c.Freeze(); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP is delivered asynchronously: the target stops when next
	// scheduled, which on a loaded machine takes a moment.
	if err := testutil.Eventually(2*time.Second, func() error {
		if s := procState(); s != "T" {
			return fmt.Errorf("after Freeze pid %d is in state %s, want T (stopped)", st.PID, s)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if s, _ := c.State(name); s.Active != unit.ActiveActive || s.PID != st.PID {
		t.Errorf("frozen unit reported %s pid %d, want active pid %d", s.Active, s.PID, st.PID)
	}
	if err := c.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s := procState(); s == "T" || s == "gone" {
		t.Errorf("after Thaw pid %d is in state %s", st.PID, s)
	}
}
