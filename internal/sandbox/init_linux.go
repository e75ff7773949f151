package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Child's fds, placed by the caller from Launch.Files.
const (
	initFD = 3 // spec, then the go-ahead byte
	errFD  = 4 // setup error; close-on-exec
)

// InitIfRequested runs the container side when os.Args[0] is InitArg and
// never returns then; otherwise it returns at once. Call it first in main
// (and in TestMain of tests that start containers).
func InitIfRequested() {
	if len(os.Args) == 0 {
		return
	}
	switch os.Args[0] {
	case InitArg:
	case ExecArg:
		runtime.LockOSThread()
		execMain()
	default:
		return
	}
	// Credentials, capabilities and no_new_privs are per thread; execve
	// takes the calling thread's. Do everything on this one.
	runtime.LockOSThread()
	errPipe := os.NewFile(errFD, "sandbox-errors")
	// No fd but stdio reaches the entrypoint: the setup pipes, and whatever
	// the forking process inherited without close-on-exec.
	closeOnExecFrom(3)
	err := childMain(os.NewFile(initFD, "sandbox-init"))
	if err != nil {
		errPipe.WriteString(err.Error())
	}
	os.Exit(1)
}

// closeOnExecFrom marks every fd >= from close-on-exec.
func closeOnExecFrom(from int) {
	if unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	entries, _ := os.ReadDir("/proc/self/fd") // kernels before 5.11
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= from {
			unix.CloseOnExec(fd)
		}
	}
}

// childMain reads the spec, waits for the go-ahead, sets up and execs. It
// only returns on failure (or a parent that went away: nil).
func childMain(in *os.File) error {
	var hdr [4]byte
	if _, err := io.ReadFull(in, hdr[:]); err != nil {
		return nil // the parent closed without Started
	}
	buf := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(in, buf); err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(buf, &s); err != nil {
		return fmt.Errorf("decode spec: %w", err)
	}
	var b [1]byte
	if n, _ := in.Read(b[:]); n != 1 || b[0] != goAhead {
		return nil // the parent closed without Release
	}
	in.Close()
	return setup(&s)
}

// setup builds the container's filesystem and process state and execs the
// entrypoint. Each error names its step.
func setup(s *Spec) error {
	caps, err := capMask(s.Capabilities)
	if err != nil {
		return err
	}
	if err := setupRootfs(s); err != nil {
		return err
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", s.Hostname, err)
		}
	}
	env := s.Env
	path, err := lookPath(s.Args[0], env)
	if err != nil {
		return err
	}
	if err := dropPrivileges(s, caps); err != nil {
		return err
	}
	cwd := s.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("chdir %s: %w", cwd, err)
	}
	if err := loadSeccomp(s.Seccomp); err != nil {
		return err
	}
	err = unix.Exec(path, s.Args, env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// lookPath resolves name like execvp with PATH from env (DefaultPath if unset).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %s: executable file not found in PATH %s", name, pathVar)
}

// dropPrivileges reduces the bounding set to caps, switches to the unit's
// ids (keeping capabilities across setuid), then sets the permitted and
// effective sets to caps, clears the inheritable and ambient sets and sets
// no_new_privs. After execve a non-root user keeps no effective
// capabilities (no ambient set), as with Docker.
func dropPrivileges(s *Spec, caps uint64) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		if caps&(1<<uint(c)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	// syscall's Setgroups/Setgid/Setuid apply to every thread of the runtime.
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", s.Groups, err)
	}
	if err := syscall.Setgid(int(s.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", s.GID, err)
	}
	if err := syscall.Setuid(int(s.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", s.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(caps), Permitted: uint32(caps)},
		{Effective: uint32(caps >> 32), Permitted: uint32(caps >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset %#x: %w", caps, err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
	}
	return nil
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	var n int
	if _, err := fmt.Sscan(string(b), &n); err != nil {
		return 0, fmt.Errorf("parse cap_last_cap %q: %w", b, err)
	}
	return n, nil
}
