package remote_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
	"github.com/flotilla-os/flotilla/internal/unitmgr/machine"
	"github.com/flotilla-os/flotilla/internal/unitmgr/remote"
)

// sleeper prints a marker, then sleeps: a unit whose PID stays put.
const sleeper = "[Service]\nExecStart=/bin/sh -c 'echo hello from remote; exec sleep 1000'\n"

func parse(t *testing.T, name, text string) *unit.File {
	t.Helper()
	f, err := unit.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// serveInProcess serves a real machine.Manager on a fresh socket; it is stopped
// (units and all) when the test ends.
func serveInProcess(t *testing.T, fenceAfter time.Duration) (sock string) {
	t.Helper()
	dir := t.TempDir()
	m, err := machine.New(machine.Config{Dir: filepath.Join(dir, "data"), MachineID: "0123456789abcdef0123456789abcdef", NoContainers: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(dir, "run", "units.sock")
	l, err := remote.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- remote.Serve(ctx, l, m, remote.ServerOptions{FenceAfter: fenceAfter, Logf: t.Logf}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return sock
}

func dial(t *testing.T, sock string) *remote.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := remote.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitState polls until the unit's state satisfies ok.
func waitState(t *testing.T, m unitmgr.Manager, name string, timeout time.Duration, ok func(unit.State, bool) bool) unit.State {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, loaded := m.State(name)
		if ok(st, loaded) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %+v (loaded %v) after %s", name, st, loaded, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func running(st unit.State, loaded bool) bool {
	return loaded && st.Active == unit.ActiveActive && st.PID > 0
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive after %s", pid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	hostOnce sync.Once
	hostBin  string
	hostErr  error
)

// buildHost builds testdata/host into a directory anyone may read, so that
// a non-root child can run it too.
func buildHost(t *testing.T) string {
	t.Helper()
	hostOnce.Do(func() {
		dir, err := os.MkdirTemp("", "remote-host-")
		if err != nil {
			hostErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			hostErr = err
			return
		}
		hostBin = filepath.Join(dir, "host")
		out, err := exec.Command("go", "build", "-o", hostBin, "./testdata/host").CombinedOutput()
		if err != nil {
			hostErr = fmt.Errorf("go build ./testdata/host: %v\n%s", err, out)
		}
	})
	if hostErr != nil {
		t.Fatal(hostErr)
	}
	return hostBin
}

// startHost runs "host serve" and waits for its socket to answer.
func startHost(t *testing.T, sock, dir string, fenceAfter time.Duration, extra ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "host.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildHost(t), append([]string{"serve", "-socket", sock, "-dir", dir, "-fence-after", fenceAfter.String()}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("---- host log ----\n%s", b)
		}
		logf.Close()
	})
	c := dial(t, sock) // waits for the socket
	c.Close()
	return cmd
}

// startHolder runs "host hold": a fleetd-like client that stays connected.
func startHolder(t *testing.T, sock string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildHost(t), "hold", "-socket", sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "held" {
		t.Fatalf("holder said %q (%v)", line, err)
	}
	return cmd
}
