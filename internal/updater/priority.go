package updater

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Background is the niceness the node's updater runs at: downloading,
// hashing and writing a slot must not starve etcd and fleetd on the same
// CPU (on a loaded node that cost lease renewals and fenced units), as
// CoreOS's update_engine ran at a low priority.
const Background = 10

// ioprio_set(2): who, and the best-effort class at its lowest level.
const (
	ioprioWhoProcess = 1
	ioprioBestEffort = 2<<13 | 7
)

// LowerPriority sets every thread of this process to nice and to the
// lowest best-effort I/O priority. Linux keeps both per thread, and a new
// thread inherits them from the one that creates it, so the threads are
// walked twice to catch any the Go runtime started during the first walk.
func LowerPriority(nice int) error {
	var errs []error
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("lower priority: %w", err)
		}
		errs = errs[:0]
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("thread %d: nice %d: %w", tid, nice, err))
			}
			if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioBestEffort); e != 0 && e != unix.ESRCH {
				errs = append(errs, fmt.Errorf("thread %d: I/O priority: %w", tid, e))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lower priority: %w", errors.Join(errs...))
	}
	return nil
}
