package unit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Resources is an amount of CPU and memory: what a unit reserves on its
// machine, or what a machine offers. A zero field is none (for a machine:
// not reported, so it takes no reservation of that resource).
type Resources struct {
	MilliCPU int64 `json:"milliCPU,omitempty"` // thousandths of one CPU: 1500 is 1.5 CPUs
	Memory   int64 `json:"memory,omitempty"`   // bytes
}

// IsZero reports whether r reserves nothing.
func (r Resources) IsZero() bool { return r.MilliCPU == 0 && r.Memory == 0 }

// String shows r as the [X-Fleet] keys would write it ("memory 2 GiB, 1.5 CPUs").
func (r Resources) String() string {
	var parts []string
	if r.Memory > 0 {
		parts = append(parts, "memory "+FormatBytes(r.Memory))
	}
	if r.MilliCPU > 0 {
		parts = append(parts, FormatCPU(r.MilliCPU))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// FormatBytes shows n bytes in the largest binary unit that keeps one
// decimal: 2 GiB, 1.2 GiB, 512 MiB, 100 B.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, k := float64(n), 0
	for v >= 1024 && k < len(units)-1 {
		v /= 1024
		k++
	}
	s := strconv.FormatFloat(math.Floor(v*10)/10, 'f', -1, 64)
	return s + " " + units[k]
}

// FormatCPU shows thousandths of a CPU as CPUs: "1 CPU", "1.5 CPUs", "0.25 CPUs".
func FormatCPU(milli int64) string {
	s := strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
	if milli == 1000 {
		return s + " CPU"
	}
	return s + " CPUs"
}

// Reservation keys. [X-Fleet] ReserveMemory= and ReserveCPU= say what a
// unit reserves; without them, the unit's own limits do: [Service]
// MemoryMax= and CPUQuota= (systemd), or a Quadlet [Container] Memory=.
const (
	reserveMemoryKey = "ReserveMemory"
	reserveCPUKey    = "ReserveCPU"
)

// parseReserve reads what the unit in f reserves (see Fleet.Reserve).
// bad builds the error for an [X-Fleet] key; the unit's own limits are
// checked by its unit manager, so a value this cannot read (MemoryMax=50%,
// infinity) reserves nothing.
func parseReserve(f *File, expand func(string) string, bad func(field, format string, args ...any) error) (Resources, error) {
	var r Resources
	if v, ok := f.Value(FleetSection, reserveMemoryKey); ok && strings.TrimSpace(v) != "" {
		n, err := ParseMemory(expand(strings.TrimSpace(v)))
		if err != nil {
			return r, bad(reserveMemoryKey, "%q: %v", v, err)
		}
		r.Memory = n
	} else if v, ok := f.Value("Service", "MemoryMax"); ok {
		r.Memory, _ = ParseMemory(strings.TrimSpace(v))
	} else if v, ok := f.Value("Container", "Memory"); ok {
		r.Memory, _ = ParseMemory(strings.TrimSpace(v))
	}
	if v, ok := f.Value(FleetSection, reserveCPUKey); ok && strings.TrimSpace(v) != "" {
		n, err := ParseCPU(expand(strings.TrimSpace(v)))
		if err != nil {
			return r, bad(reserveCPUKey, "%q: %v", v, err)
		}
		r.MilliCPU = n
	} else if v, ok := f.Value("Service", "CPUQuota"); ok {
		if pct, ok := strings.CutSuffix(strings.TrimSpace(v), "%"); ok {
			r.MilliCPU, _ = ParseCPU(pct + "%")
		}
	}
	return r, nil
}

// ParseMemory reads an amount of memory as systemd (MemoryMax=2G) and
// Podman (--memory 512m, 1.5GiB) write it: a number, optionally with a
// fraction, and an optional binary suffix K, M, G, T (any case, optionally
// followed by B or iB). A bare number is bytes.
func ParseMemory(v string) (int64, error) {
	s := strings.ToLower(v)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "ib"), "b")
	mult := 1.0
	if s != "" {
		if k := strings.IndexByte("kmgtp", s[len(s)-1]); k >= 0 {
			mult = math.Pow(1024, float64(k+1))
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "eEx+-") || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("want an amount of memory such as 512M, 2G or 1.5GiB")
	}
	b := n * mult
	if b >= 1<<62 {
		return 0, fmt.Errorf("too large")
	}
	if b < 1 {
		return 0, fmt.Errorf("must be at least one byte")
	}
	return int64(b), nil
}

// ParseCPU reads a number of CPUs, "1.5", or a percentage of one CPU as
// systemd's CPUQuota= writes it, "150%"; both are 1500 thousandths.
func ParseCPU(v string) (int64, error) {
	s, pct := strings.CutSuffix(v, "%")
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "eEx+-") || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("want a number of CPUs such as 0.5 or 2, or a percentage of one CPU such as 150%%")
	}
	if pct {
		n /= 100
	}
	if n > 1e6 {
		return 0, fmt.Errorf("too large")
	}
	m := int64(math.Ceil(math.Round(n*1e6) / 1000)) // 0.1 is 100, not 101
	if m < 1 {
		return 0, fmt.Errorf("must be more than zero")
	}
	return m, nil
}
