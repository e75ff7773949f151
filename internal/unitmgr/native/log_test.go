package native

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
)

func TestLogRotationAndTail(t *testing.T) {
	t.Parallel()
	const max, keep = 4096, 2
	s := newTestSupervisor(t, Config{LogMaxBytes: max, LogKeep: keep})
	startUnit(t, s, "chatty.service", "Type=oneshot\n"+
		"ExecStart=/bin/sh -c 'i=0; while [ $$i -lt 3000 ]; do i=$$((i+1)); echo \"line $$i padding padding\"; done'\n")
	testutil.WaitFor(t, "the last line in the journal", 10*time.Second, func() bool {
		return strings.Contains(journal(t, s, "chatty.service", 20), "line 3000 ")
	})
	var total int64
	files, _ := filepath.Glob(filepath.Join(s.logDir, "chatty.service.log*"))
	for _, f := range files {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	if len(files) != keep+1 || total > (keep+1)*max {
		t.Fatalf("%d log files, %d bytes; want %d files, at most %d bytes", len(files), total, keep+1, (keep+1)*max)
	}
	// The last 100 output lines span rotated files; they must be whole and in order.
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(journal(t, s, "chatty.service", 110), "\n"), "\n") {
		if strings.HasPrefix(l, "line ") {
			out = append(out, l)
		}
	}
	for i, l := range out {
		want := fmt.Sprintf("line %d padding padding", 3000-len(out)+1+i)
		if l != want {
			t.Fatalf("tail line %d = %q, want %q", i, l, want)
		}
	}
	if len(out) < 100 {
		t.Fatalf("tail gave %d output lines", len(out))
	}
	if got := journal(t, s, "chatty.service", 5); strings.Count(got, "\n") != 5 {
		t.Fatalf("Journal(5) gave %q", got)
	}
}

func TestJournalFollow(t *testing.T) {
	t.Parallel()
	s := newTestSupervisor(t, Config{})
	dir := t.TempDir()
	startUnit(t, s, "talk.service", fmt.Sprintf("WorkingDirectory=%s\n"+
		"ExecStart=/bin/sh -c 'echo first; while [ ! -e go ]; do sleep 0.02; done; echo second; exec sleep 1000'\n", dir))
	testutil.WaitFor(t, "first line", 5*time.Second, func() bool { return strings.Contains(journal(t, s, "talk.service", -1), "first\n") })
	ctx, cancel := context.WithCancel(t.Context())
	var buf testutil.Buffer
	done := make(chan error, 1)
	go func() { done <- s.Journal(ctx, "talk.service", 1, true, &buf) }()
	testutil.WaitFor(t, "the tail line", 5*time.Second, func() bool { return buf.String() != "" })
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o644)
	testutil.WaitFor(t, "the followed line", 5*time.Second, func() bool { return strings.Contains(buf.String(), "second\n") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Journal did not return after ctx was cancelled")
	}
	if strings.Count(buf.String(), "first") != 0 && !strings.HasPrefix(buf.String(), "first") {
		t.Fatalf("follow output %q", buf.String())
	}
}

// A unit name may be 255 bytes (systemd's limit, checked at submit); its
// log must still be written and read, though "<name>.log" is no file name.
func TestLongUnitNameLogs(t *testing.T) {
	s := newTestSupervisor(t, Config{})
	name := strings.Repeat("a", 255-len(".service")) + ".service"
	other := strings.Repeat("a", 254-len(".service")) + "b.service"
	startUnit(t, s, name, "Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo long-name-line\n")
	startUnit(t, s, other, "Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/echo other-line\n")
	waitState(t, s, name, "active", "exited", 5*time.Second)
	waitState(t, s, other, "active", "exited", 5*time.Second)
	if got := journal(t, s, name, 10); !strings.Contains(got, "long-name-line") || strings.Contains(got, "other-line") {
		t.Fatalf("journal of the 255-byte unit = %q, want its own line only", got)
	}
	if got := journal(t, s, other, 10); !strings.Contains(got, "other-line") {
		t.Fatalf("journal of the second long unit = %q", got)
	}
}
