package native

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestContainerFreezeCatchesSessions: Freeze stops a container's process
// that left the unit's process group for a session of its own (SIGSTOP to
// the groups misses it; the cgroup freezer does not), Thaw resumes it, and
// a Fence of a frozen container kills it.
func TestContainerFreezeCatchesSessions(t *testing.T) {
	rt, ref := realRuntime(t)
	s := newTestSupervisor(t, Config{Containers: rt})
	out := t.TempDir()
	startUnit(t, s, "frz.service", "[Container]\nImage="+ref+"\nNetwork=none\nVolume="+out+":/out\n"+
		"Exec=/bin/sh -c 'setsid /bin/sh -c \"while :; do echo x >> /out/ticks; sleep 0.02; done\" & sleep 1000'\n")
	waitState(t, s, "frz.service", unit.ActiveActive, "running", 30*time.Second)
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(out, "ticks"))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	grows := func() bool {
		a := size()
		time.Sleep(400 * time.Millisecond)
		return size() > a
	}
	deadline := time.Now().Add(10 * time.Second)
	for !grows() {
		if time.Now().After(deadline) {
			t.Fatal("the container's writer never wrote")
		}
	}
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a write begun before the freeze lands
	if grows() {
		t.Error("the writer in its own session wrote while the unit was frozen")
	}
	if err := s.Thaw(); err != nil {
		t.Fatal(err)
	}
	if !grows() {
		t.Error("the writer does not write after Thaw")
	}
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := s.Fence(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "frz.service", unit.ActiveInactive, "", 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	if grows() {
		t.Error("the writer outlived the fence of its frozen container")
	}
}
