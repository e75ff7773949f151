package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Resources are a unit's limits; a zero field is unset.
type Resources struct {
	MemoryMax, MemoryHigh int64  // bytes
	CPUQuota              int    // percent of one CPU (CPUQuota=50% → 50; 200 = two CPUs)
	CPUWeight             uint64 // 1..10000
	TasksMax              int64
	IOWeight              uint64 // 1..10000
	// Devices is the device allow-list: nil leaves devices uncontrolled,
	// non-nil (even empty) denies every device it does not list.
	Devices []Device
}

// System facts for percentages; tests replace them.
var (
	physicalMemory = func() (uint64, error) {
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return 0, err
		}
		return uint64(si.Totalram) * uint64(si.Unit), nil
	}
	// systemMaxTasks is what systemd takes TasksMax percentages of:
	// the smaller of kernel.pid_max and kernel.threads-max.
	systemMaxTasks = func() (uint64, error) {
		var max uint64 = math.MaxUint64
		for _, f := range []string{"/proc/sys/kernel/pid_max", "/proc/sys/kernel/threads-max"} {
			b, err := os.ReadFile(f)
			if err != nil {
				return 0, err
			}
			n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", f, err)
			}
			max = min(max, n)
		}
		return max, nil
	}
)

// ParseResources reads systemd's [Service] keys MemoryMax, MemoryHigh,
// CPUQuota, CPUWeight, TasksMax and IOWeight through get. Absent keys,
// empty values and "infinity" leave a limit unset. Errors name the key and
// the value.
func ParseResources(get func(key string) (string, bool)) (Resources, error) {
	var r Resources
	var errs []error
	parse := func(key string, f func(v string) error) {
		v, ok := get(key)
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			return
		}
		if err := f(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%s: %w", key, v, err))
		}
	}
	parse("MemoryMax", func(v string) (err error) { r.MemoryMax, err = parseBytes(v); return })
	parse("MemoryHigh", func(v string) (err error) { r.MemoryHigh, err = parseBytes(v); return })
	parse("CPUQuota", func(v string) (err error) { r.CPUQuota, err = parseCPUQuota(v); return })
	parse("CPUWeight", func(v string) (err error) { r.CPUWeight, err = parseWeight(v); return })
	parse("IOWeight", func(v string) (err error) { r.IOWeight, err = parseWeight(v); return })
	parse("TasksMax", func(v string) (err error) { r.TasksMax, err = parseTasks(v); return })
	return r, errors.Join(errs...)
}

// parseBytes reads "512M", "1.5G", "1073741824", "infinity" or "25%" (of
// physical memory). Suffixes are base 1024, as in systemd.
func parseBytes(v string) (int64, error) {
	if v == "infinity" {
		return 0, nil
	}
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := parsePercent(pct)
		if err != nil {
			return 0, err
		}
		total, err := physicalMemory()
		if err != nil {
			return 0, fmt.Errorf("read physical memory size: %w", err)
		}
		return max(1, int64(float64(total)*p/100)), nil
	}
	mult := 1.0
	if i := len(v) - 1; i >= 0 {
		if k := strings.IndexByte("KMGTPE", v[i]); k >= 0 {
			mult = math.Pow(1024, float64(k+1))
			v = v[:i]
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) || strings.ContainsAny(v, "eEx") {
		return 0, errors.New(`want bytes with an optional K, M, G, T, P or E suffix, a percentage of RAM, or "infinity"`)
	}
	b := n * mult
	if b >= math.MaxInt64 {
		return 0, errors.New("too large")
	}
	if b < 1 {
		return 0, errors.New(`must be at least 1 byte (use "infinity" for no limit)`)
	}
	return int64(b), nil
}

func parsePercent(v string) (float64, error) {
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || p <= 0 || math.IsInf(p, 0) || strings.ContainsAny(v, "eExX") {
		return 0, errors.New("want a positive percentage such as 50%")
	}
	return p, nil
}

// parseCPUQuota reads "50%" (half a CPU) or "200%" (two CPUs); fractions
// round up to a whole percent.
func parseCPUQuota(v string) (int, error) {
	pct, ok := strings.CutSuffix(v, "%")
	if !ok {
		return 0, errors.New("want a percentage of one CPU such as 50% or 200%")
	}
	p, err := parsePercent(pct)
	if err != nil {
		return 0, err
	}
	if p > 1e6 {
		return 0, errors.New("too large")
	}
	return int(math.Ceil(p)), nil
}

func parseWeight(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < 1 || n > 10000 {
		return 0, errors.New("want a weight from 1 to 10000")
	}
	return n, nil
}

// parseTasks reads a count, "infinity" or a percentage of the system's
// task limit.
func parseTasks(v string) (int64, error) {
	if v == "infinity" {
		return 0, nil
	}
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := parsePercent(pct)
		if err != nil {
			return 0, err
		}
		total, err := systemMaxTasks()
		if err != nil {
			return 0, fmt.Errorf("read the system's task limit: %w", err)
		}
		return max(1, int64(float64(total)*p/100)), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, errors.New(`want a positive number of tasks, a percentage, or "infinity"`)
	}
	return n, nil
}
