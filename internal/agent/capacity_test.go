package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

func TestHostCapacity(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "meminfo")
	if err := os.WriteFile(p, []byte("MemFree:         1000 kB\nMemTotal:       16314444 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := memTotal(p); got != 16314444<<10 {
		t.Errorf("memTotal = %d, want %d", got, int64(16314444)<<10)
	}
	if got := memTotal(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("memTotal of a missing file = %d, want 0", got)
	}
	// Flags win; what they leave unset comes from the host.
	c := HostCapacity(unit.Resources{Memory: 2 << 30})
	if c.Memory != 2<<30 || c.MilliCPU != int64(runtime.NumCPU())*1000 {
		t.Errorf("HostCapacity with memory given = %+v", c)
	}
	if c := HostCapacity(unit.Resources{}); c.Memory <= 0 {
		t.Errorf("HostCapacity read no memory from /proc/meminfo: %+v", c)
	}
}
