package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Running a command in a running container (a health check): the caller
// forks this binary as ExecArg and puts it in the container's cgroup
// before the go-ahead (the Launch protocol, as for InitArg). On its one
// locked thread it checks it shares the cgroup of the container's init,
// joins the init's ipc, uts, net, pid and mount namespaces (after
// unshare(CLONE_FS), which setns into a mount namespace needs in a
// threaded process), confines the thread exactly as the container's init
// was confined (dropPrivileges: bounding set, ids, capabilities, ambient
// set cleared, no_new_privs; then the seccomp filter), and forks the
// command from that thread, so that it inherits all of it and lands in the
// container's pid namespace. It then waits and exits with the command's
// status (128+n for a signal). The helper's own wait runs under the
// container's seccomp filter, like any program in the container.
//
// A container with a user namespace is not joined to it (a threaded
// process cannot setns into a user namespace): the command runs as the
// host ids its user maps to (HostIDBase+uid) with no capabilities at
// all, which is never more than it would have inside.

// ExecArg is argv[0] of stage 1; InitIfRequested looks for it.
const ExecArg = "flotilla-sandbox-exec"

// execRequest is what the helper reads.
type execRequest struct {
	Spec   Spec // the container's spec, Args replaced by the command
	Target int  // host pid of the container's init
}

// PrepareExec returns the helper to fork for running args in the container
// started from s whose init is host pid target. The caller forks it like
// Prepare's launch (fds 3 and 4 from Files; no namespaces of its own),
// calls Started, puts the pid in the container's cgroup, then Release; the
// pid's exit status is the command's.
func PrepareExec(s Spec, target int, args []string) (*Launch, error) {
	s.Args = args
	if target <= 0 {
		return nil, fmt.Errorf("sandbox: exec: no container process (pid %d)", target)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(&execRequest{Spec: s, Target: target})
	if err != nil {
		return nil, fmt.Errorf("sandbox: encode exec request: %w", err)
	}
	return newLaunch(ExecArg, payload, &syscall.SysProcAttr{})
}

// readRequest reads the length-prefixed payload into v and waits for the
// go-ahead; false without an error when the parent went away.
func readRequest(in *os.File, v any) (bool, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(in, hdr[:]); err != nil {
		return false, nil
	}
	n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	buf := make([]byte, n)
	if _, err := io.ReadFull(in, buf); err != nil {
		return false, fmt.Errorf("read spec: %w", err)
	}
	if err := json.Unmarshal(buf, v); err != nil {
		return false, fmt.Errorf("decode spec: %w", err)
	}
	var b [1]byte
	if n, _ := in.Read(b[:]); n != 1 || b[0] != goAhead {
		return false, nil
	}
	in.Close()
	return true, nil
}

// execHelper joins the container and runs the command there; it returns
// the exit code to leave with, or a setup error.
func execHelper(in *os.File, errPipe *os.File) (int, error) {
	var req execRequest
	ok, err := readRequest(in, &req)
	if !ok || err != nil {
		return 1, err
	}
	if err := sameCgroup(req.Target); err != nil {
		return 1, err
	}
	// Open everything from the host's view before the first setns.
	type nsFile struct {
		name string
		typ  int
		fd   int
	}
	nss := []nsFile{{"ipc", unix.CLONE_NEWIPC, -1}, {"uts", unix.CLONE_NEWUTS, -1}, {"net", unix.CLONE_NEWNET, -1},
		{"pid", unix.CLONE_NEWPID, -1}, {"mnt", unix.CLONE_NEWNS, -1}}
	for i := range nss {
		p := fmt.Sprintf("/proc/%d/ns/%s", req.Target, nss[i].name)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 1, fmt.Errorf("open %s: %w", p, err)
		}
		nss[i].fd = fd
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return 1, fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	for _, ns := range nss {
		if err := unix.Setns(ns.fd, ns.typ); err != nil {
			return 1, fmt.Errorf("setns %s of pid %d: %w", ns.name, req.Target, err)
		}
		unix.Close(ns.fd)
	}
	path, err := confine(&req.Spec)
	if err != nil {
		return 1, err
	}
	pid, err := syscall.ForkExec(path, req.Spec.Args, &syscall.ProcAttr{Env: req.Spec.Env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		return 1, fmt.Errorf("exec %s: %w", path, err)
	}
	errPipe.Close() // set up: Release returns nil
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case ws.Exited():
		return ws.ExitStatus(), nil
	case ws.Signaled():
		return 128 + int(ws.Signal()), nil
	}
	return 1, nil
}

// sameCgroup checks that this process shares the cgroup of pid (the caller
// put it there), so the pid is still the container's init and the command
// is accounted and limited with the container.
func sameCgroup(pid int) error {
	mine, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	its, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return fmt.Errorf("container process %d: %w", pid, err)
	}
	if string(mine) != string(its) {
		return fmt.Errorf("not in the cgroup of container process %d (%s): was it put there?", pid, strings.TrimSpace(string(its)))
	}
	return nil
}

// confine sets this thread up as the container's init was (its user
// namespace aside: see above) and returns the command's path.
func confine(s *Spec) (string, error) {
	caps, err := capMask(s.Capabilities)
	if err != nil {
		return "", err
	}
	if s.UserNS {
		caps = 0
		s.UID += HostIDBase
		s.GID += HostIDBase
		for i := range s.Groups {
			s.Groups[i] += HostIDBase
		}
	}
	cwd := s.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return "", fmt.Errorf("chdir %s: %w", cwd, err)
	}
	path, err := lookPath(s.Args[0], s.Env)
	if err != nil {
		return "", err
	}
	if err := dropPrivileges(s, caps); err != nil {
		return "", err
	}
	if err := loadSeccomp(s.Seccomp); err != nil {
		return "", err
	}
	return path, nil
}

// execMain is InitIfRequested for ExecArg; it never returns. A setup
// error goes to the caller's error pipe and the exit code is 127 for a
// missing program (as a shell's), 126 otherwise.
func execMain() {
	errPipe := os.NewFile(errFD, "sandbox-errors")
	closeOnExecFrom(3)
	code, err := execHelper(os.NewFile(initFD, "sandbox-init"), errPipe)
	if err != nil {
		errPipe.WriteString(err.Error())
		code = 126
		if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "not found") {
			code = 127
		}
	}
	os.Exit(code)
}
