package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// InitArg is argv[0] of the forked child; InitIfRequested looks for it.
const InitArg = "flotilla-sandbox-init"

// Launch is what the caller forks, and the parent's side of the setup
// protocol (see the package documentation).
type Launch struct {
	Path  string               // what to fork: /proc/self/exe
	Args  []string             // argv; Args[0] = InitArg
	Env   []string             // the child's environment during setup (not the container's)
	Sys   *syscall.SysProcAttr // namespaces (and id mappings with UserNS); the caller may add Setpgid, Pdeathsig
	Files []*os.File           // to place at fds 3, 4, ... in the child

	spec []byte   // encoded Spec
	init *os.File // parent's write end of the spec/go-ahead pipe (child's fd 3)
	errs *os.File // parent's read end of the error pipe (child's fd 4)

	mu     sync.Mutex
	closed bool
}

// Prepare validates s and returns the process to fork for it.
func Prepare(s Spec) (*Launch, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	spec, err := json.Marshal(&s)
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode spec: %w", err)
	}
	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC)
	if !s.HostNetwork {
		flags |= syscall.CLONE_NEWNET
	}
	sys := &syscall.SysProcAttr{Cloneflags: flags}
	if s.UserNS {
		sys.Cloneflags |= syscall.CLONE_NEWUSER
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: HostIDBase, Size: IDRange}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: HostIDBase, Size: IDRange}}
		sys.GidMappingsEnableSetgroups = true
		// Become the namespace's root before exec: host root is not mapped
		// inside, and an unmapped uid would exec without capabilities.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	return newLaunch(InitArg, spec, sys)
}

// newLaunch makes the pipes of the setup protocol for a child started as
// argv0 that will read payload.
func newLaunch(argv0 string, payload []byte, sys *syscall.SysProcAttr) (*Launch, error) {
	initR, initW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		initR.Close()
		initW.Close()
		return nil, fmt.Errorf("sandbox: pipe: %w", err)
	}
	return &Launch{
		Path:  "/proc/self/exe",
		Args:  []string{argv0},
		Env:   []string{},
		Sys:   sys,
		Files: []*os.File{initR, errW},
		spec:  payload,
		init:  initW,
		errs:  errR,
	}, nil
}

// Started is called in the parent right after the fork: it closes the
// child's ends of the pipes and sends the spec.
func (l *Launch) Started(pid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("sandbox: Started after Close")
	}
	l.closeChildEnds()
	msg := make([]byte, 4+len(l.spec))
	binary.BigEndian.PutUint32(msg, uint32(len(l.spec)))
	copy(msg[4:], l.spec)
	if _, err := l.init.Write(msg); err != nil {
		return fmt.Errorf("sandbox: send spec to pid %d: %w", pid, err)
	}
	return nil
}

// Release lets the child finish its setup and exec the entrypoint. It
// returns the child's setup error, naming the step that failed; the child
// then exits 1. A nil error means the entrypoint was exec'd (or the child
// died from a signal; the caller's wait4 tells).
func (l *Launch) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("sandbox: Release after Close")
	}
	defer l.closeLocked()
	l.closeChildEnds()
	if _, err := l.init.Write([]byte{goAhead}); err != nil {
		return fmt.Errorf("sandbox: release child: %w", err)
	}
	msg, err := io.ReadAll(l.errs)
	if err != nil {
		return fmt.Errorf("sandbox: read child's setup result: %w", err)
	}
	if len(msg) > 0 {
		return &SetupError{Msg: string(msg)}
	}
	return nil
}

// SetupError is the child's report of a failed setup step, such as
// "exec /bin/redis: no such file or directory" or "pivot_root: ...".
type SetupError struct{ Msg string }

func (e *SetupError) Error() string { return "sandbox: " + e.Msg }

// Close releases the parent's resources. It is idempotent; a child still
// waiting for its go-ahead reads EOF and exits 1.
func (l *Launch) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeLocked()
}

func (l *Launch) closeLocked() {
	if l.closed {
		return
	}
	l.closed = true
	l.closeChildEnds()
	l.init.Close()
	l.errs.Close()
}

func (l *Launch) closeChildEnds() {
	for _, f := range l.Files {
		f.Close() // a second Close returns os.ErrClosed, harmless
	}
}

const goAhead = 'G'
