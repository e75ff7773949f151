package native

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// These tests run real processes. They must not use os/exec's Wait: the
// supervisor's reaper owns every child of the test process.

func newTestSupervisor(t *testing.T, cfg Config) *Supervisor {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	tl := &testLog{t: t}
	cfg.Logf = tl.logf
	cfg.CloseTimeout = 5 * time.Second
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tl.stop()
	})
	return s
}

// testLog forwards supervisor events to t.Logf until the test is over
// (t.Logf panics after that).
type testLog struct {
	mu  sync.Mutex
	t   *testing.T
	off bool
}

func (l *testLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.off {
		l.t.Logf(format, args...)
	}
}

func (l *testLog) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.off = true
}

func loadUnit(t *testing.T, s *Supervisor, name, service string) {
	t.Helper()
	f, err := unit.Parse(name, []byte("[Unit]\nDescription=test\n\n[Service]\n"+service))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(name, f); err != nil {
		t.Fatal(err)
	}
}

func startUnit(t *testing.T, s *Supervisor, name, service string) {
	t.Helper()
	loadUnit(t, s, name, service)
	if err := s.Start(name); err != nil {
		t.Fatal(err)
	}
}

// waitState polls until the unit is in active/sub (sub "" matches any).
func waitState(t *testing.T, s *Supervisor, name, active, sub string, within time.Duration) unit.State {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, _ := s.State(name)
		if st.Active == active && (sub == "" || st.Sub == sub) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s/%s (%s) after %v, want %s/%s", name, st.Active, st.Sub, st.Reason, within, active, sub)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func pidAlive(pid int) bool { return unix.Kill(pid, 0) == nil }

func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testutil.WaitFor(t, "pid in "+path, 5*time.Second, func() bool {
		n, err := strconv.Atoi(strings.TrimSpace(readFile(path)))
		pid = n
		return err == nil && n > 0
	})
	return pid
}

func journal(t *testing.T, s *Supervisor, name string, lines int) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Journal(t.Context(), name, lines, false, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func tmpPath(t *testing.T, name string) string { return filepath.Join(t.TempDir(), name) }
