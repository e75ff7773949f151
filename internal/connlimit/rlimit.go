package connlimit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// WantFDs is the descriptor limit fleetd asks for: enough for tens of
// thousands of connections on every listener, etcd's included.
const WantFDs = 1 << 20

// RaiseFDLimit raises the soft and hard RLIMIT_NOFILE to WantFDs, or to
// fs.nr_open if that is lower. Without CAP_SYS_RESOURCE the hard limit
// cannot move, and the soft limit is raised to it. It returns the limit in
// force afterwards and the one before; err says why the target was missed,
// and the limit returned is still the one in force.
//
// Children inherit the raised limits (Go restores the original soft limit
// in a child only while nobody has set it).
func RaiseFDLimit() (now, before uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("connlimit: getrlimit NOFILE: %w", err)
	}
	before = lim.Cur
	want := uint64(WantFDs)
	if n, err := nrOpen(); err == nil && n < want {
		want = n
	}
	if lim.Cur >= want {
		return lim.Cur, before, nil
	}
	target := syscall.Rlimit{Cur: want, Max: max(want, lim.Max)}
	rerr := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &target)
	if rerr != nil && lim.Cur < lim.Max {
		// No CAP_SYS_RESOURCE: the hard limit is as far as we may go.
		soft := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &soft); err != nil {
			return lim.Cur, before, fmt.Errorf("connlimit: raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, before, fmt.Errorf("connlimit: getrlimit NOFILE: %w", err)
	}
	if rerr != nil {
		return lim.Cur, before, fmt.Errorf("connlimit: raise RLIMIT_NOFILE to %d (needs CAP_SYS_RESOURCE): %w", want, rerr)
	}
	return lim.Cur, before, nil
}

func nrOpen() (uint64, error) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// Ceiling bounds each of the API's two caps whatever the descriptor limit:
// no legitimate use of one node's API needs more connections.
const Ceiling = 8192

// Share gives an API listener its caps for a process whose descriptor
// limit is fds: a sixteenth of it each for handshaking and for established
// connections, at most Ceiling each and at least 16. fleetd's two API
// listeners (TLS on TCP, and the unix socket, which has no handshakes)
// then hold at most 3/16 of the limit, and etcd keeps the rest.
func Share(fds uint64) Limits {
	n := min(fds/16, Ceiling)
	n = max(n, 16)
	return Limits{MaxHandshakes: int(n), MaxConns: int(n)}
}

// WithSoftFDLimit runs f with the soft RLIMIT_NOFILE lowered to n (if it
// is higher), then restores it. etcd's embed sizes its client listener's
// connection cap from the soft limit when it starts (the limit less 150),
// and a flood that fills that cap leaves etcd no descriptor for its WAL:
// starting etcd under a lower soft limit keeps the rest for everything
// else. Nothing else may open files meanwhile that needs the full limit.
func WithSoftFDLimit(n uint64, f func() error) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur <= n || n < 512 {
		return f()
	}
	low := syscall.Rlimit{Cur: n, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		return f()
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	return f()
}

// EtcdClientShare is the soft limit etcd's client listener is sized from
// (see WithSoftFDLimit): half the descriptors, so that etcd's client
// connections, the API's share (3/16) and etcd's own files, peers and
// fleetd never run out together.
func EtcdClientShare(fds uint64) uint64 { return fds / 2 }

// SoftFDLimit is the soft RLIMIT_NOFILE in force, 0 if unknown.
func SoftFDLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}
