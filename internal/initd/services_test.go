package initd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/native"
)

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	for _, tc := range []struct {
		prev, up, want time.Duration
	}{
		{0, 0, time.Second},
		{time.Second, 100 * time.Millisecond, 2 * time.Second},
		{2 * time.Second, 59 * time.Second, 4 * time.Second},
		{16 * time.Second, time.Second, 30 * time.Second},
		{30 * time.Second, time.Second, 30 * time.Second},
		{30 * time.Second, 60 * time.Second, time.Second},
		{8 * time.Second, time.Hour, time.Second},
	} {
		if got := b.Next(tc.prev, tc.up); got != tc.want {
			t.Errorf("Next(%s, up %s) = %s, want %s", tc.prev, tc.up, got, tc.want)
		}
	}
}

func newTestServices(t *testing.T, b Backoff) (*Services, *testutil.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	sup, err := native.New(native.Config{Dir: dir, CloseTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	console := &testutil.Buffer{}
	s := NewServices(sup, console, b, t.Logf)
	t.Cleanup(func() { s.Close() })
	return s, console, dir
}

// TestServiceRestartsWithBackoff runs a real process that exits at once:
// it is restarted with doubling delays capped at Max, and its output
// reaches the console prefixed with its name and its log file verbatim.
func TestServiceRestartsWithBackoff(t *testing.T) {
	s, console, dir := newTestServices(t, Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond, Reset: 10 * time.Second})
	if err := s.Start(Service{Name: "crasher", Argv: []string{"/bin/sh", "-c", "echo hello from crasher; exit 3"}, Console: true}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "5 starts", 10*time.Second, func() bool { return s.Starts("crasher") >= 5 })
	out := console.String()
	for _, want := range []string{"restarting in 50ms", "restarting in 100ms", "restarting in 200ms", "crasher: hello from crasher\n", "exit-code 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "restarting in 400ms") {
		t.Errorf("backoff passed Max:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "logs", "crasher.service.log"))
	if !bytes.Contains(log, []byte("hello from crasher\n")) {
		t.Errorf("log file lacks the output:\n%s", log)
	}
}

// TestServiceArgvQuoting: argv reaches the program word for word, with
// spaces, quotes, %, $ and backslashes.
func TestServiceArgvQuoting(t *testing.T) {
	s, console, _ := newTestServices(t, Backoff{Min: time.Hour, Max: time.Hour, Reset: time.Hour})
	args := []string{"a b", `q"t`, "50%", "$HOME", `back\slash`, "k=v,k2=v2"}
	argv := append([]string{"/bin/sh", "-c", `for a in "$@"; do printf '<%s>' "$a"; done; echo`, "x"}, args...)
	if err := s.Start(Service{Name: "argv", Argv: argv, Console: true}); err != nil {
		t.Fatal(err)
	}
	want := "argv: <a b><q\"t><50%><$HOME><back\\slash><k=v,k2=v2>\n"
	testutil.WaitFor(t, "the program's output", 5*time.Second, func() bool { return strings.Contains(console.String(), want) })
}

// TestServiceEnv: Env reaches the service's process word for word.
func TestServiceEnv(t *testing.T) {
	s, console, _ := newTestServices(t, Backoff{Min: time.Hour, Max: time.Hour, Reset: time.Hour})
	env := []string{"NOTIFY_SOCKET=/run/flotilla/fleetd.notify", `ODD=a b "q" 50% \x $HOME`}
	if err := s.Start(Service{Name: "env", Argv: []string{"/bin/sh", "-c", `echo "<$NOTIFY_SOCKET><$ODD>"`}, Env: env, Console: true}); err != nil {
		t.Fatal(err)
	}
	want := `env: </run/flotilla/fleetd.notify><a b "q" 50% \x $HOME>` + "\n"
	testutil.WaitFor(t, "the program's environment", 5*time.Second, func() bool { return strings.Contains(console.String(), want) })
}

// TestServicesCloseStopsAndDoesNotRestart: Close stops a running service
// with SIGTERM and nothing restarts it.
func TestServicesCloseStopsAndDoesNotRestart(t *testing.T) {
	s, console, dir := newTestServices(t, Backoff{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond, Reset: time.Hour})
	pidFile := filepath.Join(dir, "pid")
	if err := s.Start(Service{Name: "sleeper", Argv: []string{"/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 100"}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "sleeper active", 5*time.Second, func() bool {
		st, _ := s.State("sleeper")
		return st.Active == unit.ActiveActive
	})
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s; SIGTERM should end sleep at once", d)
	}
	if n := s.Starts("sleeper"); n != 1 {
		t.Errorf("sleeper started %d times, want 1 (no restart during Close)\n%s", n, console.String())
	}
	if err := s.Start(Service{Name: "late", Argv: []string{"/bin/true"}}); err == nil {
		t.Error("Start after Close succeeded")
	}
}
