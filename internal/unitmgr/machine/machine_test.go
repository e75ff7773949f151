package machine_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unit"
	"github.com/flotilla-os/flotilla/internal/unitmgr/machine"
)

func TestNewNeedsDir(t *testing.T) {
	if _, err := machine.New(machine.Config{}); err == nil {
		t.Fatal("New without Dir: no error")
	}
}

// TestCloseStopsUnits: the manager runs a unit with its logs under
// Dir/units, and Close stops it.
func TestCloseStopsUnits(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	m, err := machine.New(machine.Config{Dir: dir, NoContainers: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Containers != nil {
		t.Fatal("NoContainers, yet a container runtime")
	}
	f, err := unit.Parse("s.service", []byte("[Service]\nExecStart=/bin/sleep 1000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load("s.service", f); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("s.service"); err != nil {
		t.Fatal(err)
	}
	var st unit.State
	for deadline := time.Now().Add(10 * time.Second); st.PID == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("unit not running: %+v", st)
		}
		st, _ = m.State("s.service")
	}
	if _, err := os.Stat(filepath.Join(dir, "units", "logs", "s.service.log")); err != nil {
		t.Fatalf("unit log not under Dir/units/logs: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/stat"); err == nil {
		t.Fatalf("pid %d still there after Close: %s", st.PID, b)
	}
}
