package systemd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// fakeJournalctl writes a script that prints its arguments, then two lines,
// then with -f a line every 10ms until killed.
func fakeJournalctl(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "journalctl")
	script := `#!/bin/sh
echo "args: $*"
echo line1
echo line2
case " $* " in *" -f "*) while :; do echo more; sleep 0.01; done;; esac
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJournalRunsJournalctl(t *testing.T) {
	m, _ := newTest(t)
	m.cfg.Journalctl = fakeJournalctl(t)
	if err := m.Load("web.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := m.Journal(context.Background(), "web.service", 20, false, &out); err != nil {
		t.Fatal(err)
	}
	want := "args: --no-pager -q -u web.service -n 20 -o cat\nline1\nline2\n"
	if out.String() != want {
		t.Errorf("journal output %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := m.Journal(context.Background(), "web.service", -1, false, &out); err != nil || !strings.Contains(out.String(), "-n all") {
		t.Errorf("lines < 0: %v, %q; want -n all", err, out.String())
	}

	// Follow streams until ctx ends, then returns nil.
	ctx, cancel := context.WithCancel(context.Background())
	var sb testutil.Buffer
	errc := make(chan error, 1)
	go func() { errc <- m.Journal(ctx, "web.service", 5, true, &sb) }()
	deadline := time.Now().Add(3 * time.Second)
	for strings.Count(sb.String(), "more") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("follow produced %q", sb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("follow ended by ctx: %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Journal kept following after ctx was cancelled")
	}
	if !strings.HasPrefix(sb.String(), "args: --no-pager -q -u web.service -n 5 -o cat -f\n") {
		t.Errorf("follow args: %q", sb.String())
	}
}

func TestJournalErrors(t *testing.T) {
	m, _ := newTest(t)
	if err := m.Journal(context.Background(), "ghost.service", 5, false, &bytes.Buffer{}); !errors.Is(err, unitmgr.ErrNotLoaded) || !strings.Contains(err.Error(), "ghost.service") {
		t.Errorf("journal of an unknown unit: %v", err)
	}
	if err := m.Load("web.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	m.cfg.Journalctl = ""
	t.Setenv("PATH", t.TempDir())
	err := m.Journal(context.Background(), "web.service", 5, false, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "journalctl is not installed") || !strings.Contains(err.Error(), "web.service") {
		t.Errorf("journal without journalctl: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "journalctl")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'Failed to add match: Invalid argument' >&2\nexit 1\n"), 0o755)
	m.cfg.Journalctl = bad
	err = m.Journal(context.Background(), "web.service", 5, false, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "web.service") || !strings.Contains(err.Error(), "Invalid argument") {
		t.Errorf("failing journalctl: %v, want its stderr and the unit", err)
	}
}

// TestJournalRealJournalctl runs the installed journalctl. Without journald
// (as on a host where systemd is not PID 1) there are no journal files and
// it prints nothing; the test checks the arguments are ones it accepts.
func TestJournalRealJournalctl(t *testing.T) {
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("needs journalctl on PATH (systemd's journalctl package)")
	}
	m, _ := newTest(t)
	if err := m.Load("web.service", file(t, sleeper)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := m.Journal(context.Background(), "web.service", 10, false, &out); err != nil {
		t.Fatalf("journalctl rejected our arguments: %v", err)
	}
	if err := m.Journal(context.Background(), "web.service", -1, false, &out); err != nil {
		t.Fatalf("journalctl rejected -n all: %v", err)
	}
}
