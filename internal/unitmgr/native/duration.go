package native

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// infinity is the duration systemd spells "infinity": no timeout.
const infinity = time.Duration(math.MaxInt64)

var durationUnits = map[string]float64{
	"us": 1e3, "usec": 1e3, "µs": 1e3,
	"ms": 1e6, "msec": 1e6,
	"": 1e9, "s": 1e9, "sec": 1e9, "second": 1e9, "seconds": 1e9,
	"m": 60e9, "min": 60e9, "minute": 60e9, "minutes": 60e9,
	"h": 3600e9, "hr": 3600e9, "hour": 3600e9, "hours": 3600e9,
	"d": 86400e9, "day": 86400e9, "days": 86400e9,
	"w": 604800e9, "week": 604800e9, "weeks": 604800e9,
	"M": 2629800e9, "month": 2629800e9, "months": 2629800e9,
	"y": 31557600e9, "year": 31557600e9, "years": 31557600e9,
}

// parseDuration parses a systemd time span: "infinity", a bare number of
// seconds, or a sum of number+unit terms such as "1min 30s" or "1.5h".
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return infinity, nil
	}
	if s == "" {
		return 0, fmt.Errorf("empty time span")
	}
	var total float64
	for s != "" {
		n := numberLen(s)
		if n == 0 {
			return 0, fmt.Errorf("bad time span: expected a number at %q", s)
		}
		v, err := strconv.ParseFloat(s[:n], 64)
		if err != nil {
			return 0, fmt.Errorf("bad time span number %q", s[:n])
		}
		s = strings.TrimLeft(s[n:], " ")
		u := unitLen(s)
		mult, ok := durationUnits[s[:u]]
		if !ok {
			return 0, fmt.Errorf("unknown time unit %q", s[:u])
		}
		total += v * mult
		s = strings.TrimLeft(s[u:], " ")
	}
	if total >= math.MaxInt64 {
		return infinity, nil
	}
	return time.Duration(total), nil
}

func numberLen(s string) int {
	n := 0
	for n < len(s) && (s[n] == '.' || (s[n] >= '0' && s[n] <= '9')) {
		n++
	}
	return n
}

func unitLen(s string) int {
	n := 0
	for n < len(s) && s[n] != ' ' && s[n] != '.' && (s[n] < '0' || s[n] > '9') {
		n++
	}
	return n
}

// parseTimeout is parseDuration where 0 also means no timeout, as systemd's
// Timeout*Sec= read it.
func parseTimeout(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err == nil && d == 0 {
		d = infinity
	}
	return d, err
}

// parseSignal accepts "SIGTERM", "TERM" or a number.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// signalName is "TERM" for SIGTERM, as systemd's Reason shows it.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}
