package lifeline

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EnvWatchdog names, in the child's environment, the inherited file
// descriptor of the watchdog pipe's write end; Enter removes it again.
const EnvWatchdog = "FLOTILLA_LIFELINE_WATCHDOG"

// WatchdogExit is the outer process's exit status after its watchdog
// killed the child: a failure, so that a supervisor restarts fleetd.
const WatchdogExit = 1

// watchdogFD is the write end inside the child, -1 when there is none.
var watchdogFD = -1

// Alive tells the outer process, from inside, by when it must hear from
// the program again: if deadline passes with no newer message, it
// SIGKILLs the program and with it every process of the namespace. A zero
// deadline disarms it. Without a lifeline (Enter returned an error) Alive
// does nothing. It never blocks: one 8-byte write to a non-blocking pipe,
// dropped if the pipe is full (the reader is then long stuck itself).
func Alive(deadline time.Time) {
	if watchdogFD < 0 {
		return
	}
	var at int64 // CLOCK_MONOTONIC, shared by both processes; 0 disarms
	if !deadline.IsZero() {
		at = monotonic() + int64(time.Until(deadline))
		if at <= 0 {
			at = 1
		}
	}
	var msg [8]byte
	binary.LittleEndian.PutUint64(msg[:], uint64(at))
	_, _ = syscall.Write(watchdogFD, msg[:])
}

// HasWatchdog reports whether Alive reaches an outer process.
func HasWatchdog() bool { return watchdogFD >= 0 }

func monotonic() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("lifeline: clock_gettime(CLOCK_MONOTONIC): %v", err))
	}
	return ts.Nano()
}

// openWatchdog, inside, takes over the inherited write end: close-on-exec
// so units never inherit it, non-blocking so a stuck reader cannot stall
// the program.
func openWatchdog() {
	v := os.Getenv(EnvWatchdog)
	os.Unsetenv(EnvWatchdog)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		return
	}
	watchdogFD = fd
}

// watchdog is the outer process's side: it reads deadlines from the pipe
// and kills the child when an armed one passes.
type watchdog struct {
	p     *os.Process
	logf  func(format string, args ...any)
	mu    sync.Mutex
	timer *time.Timer
	at    int64 // armed deadline (CLOCK_MONOTONIC ns), 0 when disarmed
	fired bool
}

func newWatchdog(p *os.Process, logf func(string, ...any)) *watchdog {
	w := &watchdog{p: p, logf: logf}
	w.timer = time.AfterFunc(time.Hour, w.expire)
	w.timer.Stop()
	return w
}

// read follows the pipe until the child's end closes (it exited).
func (w *watchdog) read(r io.Reader) {
	var msg [8]byte
	for {
		if _, err := io.ReadFull(r, msg[:]); err != nil {
			return
		}
		w.set(int64(binary.LittleEndian.Uint64(msg[:])))
	}
}

func (w *watchdog) set(at int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired {
		return
	}
	w.at = at
	if at == 0 {
		w.timer.Stop()
		return
	}
	w.timer.Reset(time.Duration(at - monotonic()))
}

func (w *watchdog) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	late := monotonic() - w.at
	if w.fired || w.at == 0 || late < 0 {
		return // re-armed or disarmed meanwhile
	}
	w.fired = true
	w.logf("lifeline: watchdog: pid %d gave no sign of life by its deadline (missed by %v): SIGKILL to it and every process of its namespace", w.p.Pid, time.Duration(late).Round(time.Millisecond))
	if err := w.p.Signal(syscall.SIGKILL); err != nil {
		w.logf("lifeline: watchdog: kill pid %d: %v", w.p.Pid, err)
	}
}

// Fired reports whether the watchdog killed the child.
func (w *watchdog) Fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}
