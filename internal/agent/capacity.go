package agent

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// HostCapacity is what units may reserve on this machine: each field of
// override that is set, else the host's: the CPUs this process may run on
// and the memory /proc/meminfo reports (MemTotal). It is read once, at
// start, and registered with the machine.
func HostCapacity(override unit.Resources) unit.Resources {
	c := override
	if c.MilliCPU == 0 {
		c.MilliCPU = int64(runtime.NumCPU()) * 1000
	}
	if c.Memory == 0 {
		c.Memory = memTotal("/proc/meminfo")
	}
	return c
}

// memTotal reads MemTotal (kB) from a meminfo file; 0 if it cannot.
func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
