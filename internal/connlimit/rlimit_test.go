package connlimit

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestShare(t *testing.T) {
	for _, c := range []struct {
		fds  uint64
		want int
	}{{64, 16}, {1024, 64}, {4096, 256}, {20000, 1250}, {1 << 20, Ceiling}} {
		l := Share(c.fds)
		if l.MaxHandshakes != c.want || l.MaxConns != c.want {
			t.Errorf("Share(%d) = %+v, want %d each", c.fds, l, c.want)
		}
		if c.fds >= 256 && uint64(3*c.want) > c.fds/4 {
			t.Errorf("Share(%d): the API's listeners may hold %d, over a quarter", c.fds, 3*c.want)
		}
	}
}

// TestRaiseFDLimit: as root, the limit goes up to WantFDs (or fs.nr_open),
// soft and hard. It changes the test process's limit, which only helps.
func TestRaiseFDLimit(t *testing.T) {
	testenv.NeedRoot(t)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	now, before, err := RaiseFDLimit()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != now || before != old.Cur {
		t.Errorf("RaiseFDLimit: now %d, before %d; getrlimit before %+v, after %+v", now, before, old, lim)
	}
	if !hasCap(t, sysResource) {
		// A container without CAP_SYS_RESOURCE (this CI host): only the
		// soft limit moves, to the hard one, and the error says why.
		if err == nil || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") || now != old.Max {
			t.Errorf("without CAP_SYS_RESOURCE: now %d (hard %d), err %v; want the hard limit and an error naming the capability", now, old.Max, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(WantFDs)
	if n, err := nrOpen(); err == nil && n < want {
		want = n
	}
	if now < want || lim.Max < now {
		t.Errorf("RaiseFDLimit: now %d, getrlimit %+v; want at least %d", now, lim, want)
	}
}

const sysResource = 24 // CAP_SYS_RESOURCE

func hasCap(t *testing.T, bit uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n&(1<<bit) != 0
		}
	}
	t.Fatal("no CapEff in /proc/self/status")
	return false
}
