package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SeccompFilter is a compiled seccomp program (internal/seccomp builds it
// in the parent; this package only installs it, so the init binary pays
// for no syscall tables).
type SeccompFilter struct {
	Program []byte // struct sock_filter[] in native byte order, 8 bytes each
	Flags   uint   // SECCOMP_FILTER_FLAG_*
}

func (f *SeccompFilter) check() error {
	if n := len(f.Program); n == 0 || n%8 != 0 || n/8 > 4096 {
		return fmt.Errorf("%d bytes is not a BPF program of 1..4096 instructions", n)
	}
	return nil
}

// loadSeccomp installs f on the calling thread, the one that execs: the
// entrypoint inherits it. It runs after no_new_privs is set, so it needs
// no privilege, and last before exec, so the init's own syscalls need not
// be allowed (only execve).
func loadSeccomp(f *SeccompFilter) error {
	if f == nil {
		return nil
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&f.Program[0]))}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f.Flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if errno != 0 {
		return fmt.Errorf("seccomp: install the filter: %w", errno)
	}
	return nil
}
