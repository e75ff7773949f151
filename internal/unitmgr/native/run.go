package native

import (
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// activation is one run of a unit, from Start to inactive or failed,
// restarts included. Its runner goroutine drives every step.
type activation struct {
	u     *svc
	sp    *spec
	logw  *os.File // write end of the log pipe, given to every process
	logfd uintptr
	// errw is stderr's own pipe when output is forwarded (Config.Forward),
	// else nil, and errfd is logfd.
	errw   *os.File
	errfd  uintptr
	x      *execEnv
	stopc  chan struct{} // closed by Stop, Unload, Close and Fence
	fencec chan struct{} // closed by Fence: kill now, run nothing more
	done   chan struct{} // closed when the runner has finished
	once   [2]sync.Once

	job           *job           // this run's start job; guarded by u.mu
	main, control *proc          // runner-only
	run           *container.Run // the container of this cycle; runner-only
	health        *healthRun     // the check of this cycle; runner-only (health.go)

	groups map[int]bool // process groups spawned; guarded by u.mu
	// frozen is the container whose cgroup Freeze and Thaw act on, set
	// while its cgroup exists; guarded by u.mu.
	frozen interface {
		Freeze() error
		Thaw() error
	}
}

// proc is a spawned process; only the runner reads its exit.
type proc struct {
	pid    int
	exit   chan unix.WaitStatus
	ws     unix.WaitStatus
	exited bool
}

// poll records the exit status if it has arrived; true once exited.
func (p *proc) poll() bool {
	if p == nil || p.exited {
		return true
	}
	select {
	case p.ws = <-p.exit:
		p.exited = true
	default:
	}
	return p.exited
}

func newActivation(u *svc, sp *spec, logw, errw *os.File) *activation {
	a := &activation{
		u: u, sp: sp, logw: logw, logfd: logw.Fd(), errw: errw,
		stopc: make(chan struct{}), fencec: make(chan struct{}), done: make(chan struct{}),
		groups: map[int]bool{},
	}
	a.errfd = a.logfd
	if errw != nil {
		a.errfd = errw.Fd()
	}
	return a
}

func (a *activation) requestStop()   { a.once[0].Do(func() { close(a.stopc) }) }
func (a *activation) stopping() bool { return isClosed(a.stopc) }
func (a *activation) fenced() bool   { return isClosed(a.fencec) }

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (a *activation) set(active, sub, reason string) {
	pid := 0
	if a.main != nil && !a.main.poll() {
		pid = a.main.pid
	}
	a.u.mu.Lock()
	defer a.u.mu.Unlock()
	a.u.setLocked(active, sub, reason, pid)
}

// runner drives a from start to its final state, restarting as Restart= says.
func (u *svc) runner(a *activation) {
	a.loop()
	a.logw.Close()
	if a.errw != nil {
		a.errw.Close()
	}
	u.detach(a)
	close(a.done)
}

func (a *activation) loop() {
	name := a.u.name
	if dep := a.u.sup.waitDeps(a); dep != "" {
		a.dependencyFailed(dep)
		return
	}
	if a.stopping() {
		// Stopped while its start waited: as a cancelled systemd start
		// job, nothing of it runs.
		a.final(result{ok: true})
		return
	}
	for n := 0; ; n++ {
		if !a.u.allowStart(a.sp) {
			a.u.event("%s: Start request repeated too quickly.", name)
			a.final(result{reason: "start-limit-hit"})
			return
		}
		res := a.cycle()
		if a.stopping() || !(a.sp.restartOn(res) || a.healthRestart()) {
			a.final(res)
			return
		}
		a.renewJob()
		a.set(unit.ActiveActivating, "auto-restart", res.reason)
		if !a.sleep(a.sp.restartSec) {
			a.final(result{ok: true})
			return
		}
		a.u.event("%s: Scheduled restart job, restart counter is at %d.", name, n+1)
		a.main, a.control, a.health = nil, nil, nil
	}
}

// final sets the end state: inactive, or failed with the reason.
func (a *activation) final(res result) {
	a.finishJob(false) // if it never came up
	if res.ok || a.fenced() {
		a.set(unit.ActiveInactive, "dead", "")
		a.u.event("Stopped %s.", a.u.name)
		return
	}
	a.set(unit.ActiveFailed, "failed", res.reason)
	a.u.event("%s: Failed with result '%s'.", a.u.name, res.reason)
}

func (a *activation) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.stopc:
		return false
	}
}

// cycle runs one start-to-stop pass: ExecStartPre, the start, waiting while
// it runs, then the stop steps.
func (a *activation) cycle() result {
	if !a.takeStartSlot() {
		return result{ok: true} // stopped while waiting its turn
	}
	slot := true
	release := func() {
		if slot {
			<-a.u.sup.starts
			slot = false
		}
	}
	defer release()
	a.u.event("Starting %s...", a.u.name)
	x, err := prepareExec(a.sp)
	if err != nil {
		a.u.event("%s: %v", a.u.name, err)
		return result{reason: err.Error()}
	}
	a.x = x
	a.set(unit.ActiveActivating, "start-pre", "")
	res := a.runAll(a.sp.pre, a.sp.timeoutStart, true)
	started := false
	if res.ok && !a.stopping() {
		res, started = a.startMain()
	}
	release() // started (or failed): the next unit may start
	if started && res.ok && !a.stopping() {
		res = a.waitMain()
	}
	a.stopHealth()
	if a.stopping() && !a.fenced() {
		a.u.sup.waitStopsBefore(a)
	}
	return a.containerExited(a.shutdown(res, started))
}

// startMain runs ExecStart (and ExecStartPost); started reports whether
// the stop steps (ExecStop) apply.
func (a *activation) startMain() (res result, started bool) {
	if a.sp.typ == "oneshot" {
		a.set(unit.ActiveActivating, "start", "")
		if a.sp.container != nil {
			res = a.runContainerOnce()
		} else {
			res = a.runAll(a.sp.start, a.sp.timeoutStart, true)
		}
		if !res.ok || a.stopping() {
			return res, false
		}
	} else {
		spawn := func() (*proc, error) {
			if a.sp.container != nil {
				return a.spawnContainer()
			}
			return a.spawn(a.sp.start[0])
		}
		p, err := spawn()
		if err != nil {
			if permanent(err) {
				return result{reason: err.Error(), permanent: true}, false
			}
			a.u.event("%s: %v", a.u.name, err)
			return result{reason: err.Error()}, false
		}
		a.main = p
		a.startHealth()
		// Notify=healthy: READY=1 at the first passing check, so
		// ExecStartPost= runs after it, as under systemd.
		if a.sp.health != nil && a.sp.health.NotifyHealthy {
			if res = a.waitHealthy(); !res.ok || a.stopping() {
				return res, true
			}
		}
	}
	if len(a.sp.post) > 0 {
		a.set(unit.ActiveActivating, "start-post", "")
		if res = a.runAll(a.sp.post, a.sp.timeoutStart, true); !res.ok {
			return res, true
		}
	}
	switch {
	case a.sp.typ != "oneshot":
		a.set(unit.ActiveActive, "running", "")
	case a.sp.remainAfterExit:
		a.set(unit.ActiveActive, "exited", "")
	}
	a.u.event("Started %s.", a.u.name)
	a.finishJob(true)
	return result{ok: true}, true
}

// waitMain blocks while the unit is up: until the main process exits or a
// stop is requested.
func (a *activation) waitMain() result {
	if a.sp.typ == "oneshot" {
		if a.sp.remainAfterExit {
			<-a.stopc
		}
		return result{ok: true}
	}
	if !a.main.poll() {
		select {
		case a.main.ws = <-a.main.exit:
			a.main.exited = true
		case <-a.stopc:
			return result{ok: true}
		}
	}
	a.u.event("%s: Main process exited, %s", a.u.name, describe(a.main.ws))
	return exitResult(a.main.ws)
}

// runAll runs commands in order; the first failure not marked "-" ends it.
func (a *activation) runAll(cmds []command, timeout time.Duration, interruptible bool, env ...string) result {
	for _, c := range cmds {
		if (interruptible && a.stopping()) || a.fenced() {
			return result{ok: true}
		}
		if r := a.runControl(c, timeout, interruptible, env...); !r.ok && !c.ignoreFailure {
			return r
		}
	}
	return result{ok: true}
}

// runControl runs one control command to its end, its timeout, or (when
// interruptible) a stop request; the stop steps then kill it.
func (a *activation) runControl(c command, timeout time.Duration, interruptible bool, env ...string) result {
	p, err := a.spawn(c, env...)
	if err != nil {
		a.u.event("%s: %v", a.u.name, err)
		return result{reason: err.Error()}
	}
	a.control = p
	stopc := a.fencec
	if interruptible {
		stopc = a.stopc
	}
	t := newTimeout(timeout)
	defer t.Stop()
	select {
	case p.ws = <-p.exit:
		p.exited = true
	case <-t.C:
		a.u.event("%s: Control process %q timed out. Killing.", a.u.name, c.line)
		unix.Kill(-p.pid, unix.SIGKILL)
		p.ws = <-p.exit
		p.exited = true
		return result{reason: "timeout", abnormal: true}
	case <-stopc:
		return result{ok: true}
	}
	res := exitResult(p.ws)
	if !res.ok {
		a.u.event("%s: Control process %q exited, %s", a.u.name, c.line, describe(p.ws))
	}
	return res
}

// timeout is a timer whose channel never fires for infinity.
type timeout struct {
	C <-chan time.Time
	t *time.Timer
}

func newTimeout(d time.Duration) timeout {
	if d == infinity {
		return timeout{}
	}
	t := time.NewTimer(d)
	return timeout{C: t.C, t: t}
}

func (t timeout) Stop() {
	if t.t != nil {
		t.t.Stop()
	}
}

// spawn starts one process of the unit in a new process group, with the
// unit's environment, credentials and working directory; output to the log.
func (a *activation) spawn(c command, env ...string) (*proc, error) {
	path, err := lookPath(c.words[0], defaultPath)
	if err != nil {
		return nil, err
	}
	vars := a.x.env
	if len(env) > 0 {
		vars = maps.Clone(vars)
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
	}
	argv := c.argv(vars)
	if c.argv0 {
		argv = argv[1:]
	}
	sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if a.x.cred != nil && !c.privileged {
		sys.Credential = a.x.cred
	}
	attr := &syscall.ProcAttr{
		Dir: a.x.dir, Env: a.x.list(env...), Sys: sys,
		Files: []uintptr{a.u.sup.nullFd, a.logfd, a.errfd},
	}
	pid, exit, err := theReaper.spawn(path, argv, attr)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", path, err)
	}
	a.u.mu.Lock()
	a.groups[pid] = true
	if a.fenced() {
		unix.Kill(-pid, unix.SIGKILL)
	}
	a.u.mu.Unlock()
	return &proc{pid: pid, exit: exit}, nil
}

func (a *activation) mainPIDEnv() []string {
	if a.main == nil || a.main.poll() {
		return nil
	}
	return []string{"MAINPID=" + strconv.Itoa(a.main.pid)}
}

// takeStartSlot waits for one of the MaxParallelStarts tokens; false when
// the unit was stopped meanwhile.
func (a *activation) takeStartSlot() bool {
	select {
	case a.u.sup.starts <- struct{}{}:
		return true
	default:
	}
	a.set(unit.ActiveActivating, "start-pre", "")
	select {
	case a.u.sup.starts <- struct{}{}:
		return true
	case <-a.stopc:
		return false
	}
}
