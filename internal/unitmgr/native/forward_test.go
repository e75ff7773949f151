package native

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testutil"
)

// With Config.Forward, a unit's stdout and stderr reach it apart, line by
// line, and the unit's log still holds both.
func TestForwardSplitsStderr(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[bool]string{}
	s := newTestSupervisor(t, Config{Forward: func(unit string, stderr bool, p []byte) {
		if unit != "talk.service" {
			t.Errorf("forwarded a line of %q", unit)
		}
		mu.Lock()
		got[stderr] += string(p)
		mu.Unlock()
	}})
	startUnit(t, s, "talk.service", "Type=oneshot\nRemainAfterExit=yes\n"+
		"ExecStart=/bin/sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2'\n")
	waitState(t, s, "talk.service", "active", "exited", 5*time.Second)
	testutil.WaitFor(t, "forwarded lines", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[false] == "out1\nout2\n" && got[true] == "err1\nerr2\n"
	})
	j := journal(t, s, "talk.service", -1)
	for _, l := range []string{"out1\n", "out2\n", "err1\n", "err2\n"} {
		if !strings.Contains(j, l) {
			t.Fatalf("journal %q lacks %q", j, l)
		}
	}
}

// A container unit's stdout and stderr, passed through the container init,
// reach Forward apart too.
func TestForwardContainerStreams(t *testing.T) {
	rt, ref := realRuntime(t)
	var mu sync.Mutex
	got := map[bool]string{}
	s := newTestSupervisor(t, Config{Containers: rt, Forward: func(_ string, stderr bool, p []byte) {
		mu.Lock()
		got[stderr] += string(p)
		mu.Unlock()
	}})
	startUnit(t, s, "box.service", "Type=oneshot\nRemainAfterExit=yes\n[Container]\nImage="+ref+
		"\nNetwork=none\nExec=/bin/sh -c 'echo to-out; echo to-err >&2'\n")
	waitState(t, s, "box.service", "active", "exited", 30*time.Second)
	testutil.WaitFor(t, "the container's lines", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(got[false], "to-out\n") && strings.Contains(got[true], "to-err\n") &&
			!strings.Contains(got[false], "to-err") && !strings.Contains(got[true], "to-out")
	})
}
