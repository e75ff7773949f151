package lifeline

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
)

// EnvMarker is set in the child's environment (to the outer process's pid)
// so that Enter knows it is already inside; Enter removes it again.
const EnvMarker = "FLOTILLA_LIFELINE"

var inside bool

// Inside reports whether Enter found the program inside its namespace.
func Inside() bool { return inside }

// Enter moves the program into its own PID namespace, as described in the
// package comment. In the outer process it never returns. In the child it
// returns nil. It returns an error, having started nothing, when the
// program must run without the namespace.
func Enter() error {
	switch v := os.Getenv(EnvMarker); v {
	case "":
	case "0":
		return errors.New("lifeline: disabled by " + EnvMarker + "=0")
	default:
		os.Unsetenv(EnvMarker)
		inside = true
		openWatchdog()
		return mountProc()
	}
	if os.Geteuid() != 0 {
		return errors.New("lifeline: not root, cannot create a pid namespace")
	}
	cmd := command()
	// The watchdog pipe: the child writes its deadlines to w, we read r.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("lifeline: watchdog pipe: %w", err)
	}
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = append(cmd.Env, EnvWatchdog+"=3")
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := startLocked(cmd); err != nil {
		signal.Stop(sigc)
		r.Close()
		w.Close()
		return fmt.Errorf("lifeline: re-exec in a new pid namespace: %w", err)
	}
	w.Close()
	go forward(sigc, cmd.Process)
	wd := newWatchdog(cmd.Process, log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds).Printf)
	go wd.read(r)
	cmd.Wait()
	if wd.Fired() {
		os.Exit(WatchdogExit)
	}
	exitLike(cmd.ProcessState)
	return nil // not reached
}

func command() *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), EnvMarker+"="+strconv.Itoa(os.Getpid()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// A mount namespace too, so that the child can mount a /proc of its own
	// pid namespace: pids it gets from fork must mean the same in /proc.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startLocked starts cmd from a goroutine that locks its OS thread and
// never unlocks it, so the thread (and with it the child's parent-death
// signal) lives as long as the process.
func startLocked(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- cmd.Start()
		select {}
	}()
	return <-errc
}

func forward(sigc <-chan os.Signal, p *os.Process) {
	for sig := range sigc {
		p.Signal(sig)
	}
}

// exitLike ends the process the way the child ended: same exit code, or the
// same signal.
func exitLike(st *os.ProcessState) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		sig := ws.Signal()
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig)
		os.Exit(128 + int(sig))
	}
	os.Exit(st.ExitCode())
}

// mountProc, inside, mounts a /proc that shows the new pid namespace. Mounts
// are made slaves first: the host's mounts still reach us, ours (this /proc,
// container roots) stay private and vanish with the namespace.
func mountProc() error {
	if err := syscall.Mount("", "/", "", syscall.MS_SLAVE|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("lifeline: make mounts slaves: %w", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("lifeline: mount /proc for the pid namespace: %w", err)
	}
	return nil
}
