package native

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// reaper is process-wide: it reaps every child of this process (wait4(-1))
// and hands exit statuses to whoever spawned them. There is one per process
// because two would steal each other's children; supervisors share it.
type reaper struct {
	mu     sync.Mutex
	procs  map[int]chan unix.WaitStatus // pid -> its exit channel (cap 1)
	gen    chan struct{}                // closed after every reap pass
	refs   int
	quit   chan struct{}
	spawnc chan spawnReq
	once   sync.Once
}

var theReaper = &reaper{
	procs:  map[int]chan unix.WaitStatus{},
	gen:    make(chan struct{}),
	spawnc: make(chan spawnReq),
}

type spawnReq struct {
	path  string
	argv  []string
	attr  *syscall.ProcAttr
	reply chan spawnResult
}

type spawnResult struct {
	pid  int
	exit chan unix.WaitStatus
	err  error
}

// acquire starts the reaper for one more user.
func (r *reaper) acquire() {
	r.once.Do(func() { go r.spawner() })
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs++
	if r.refs == 1 {
		r.quit = make(chan struct{})
		go r.loop(r.quit)
	}
}

// release stops the reaper goroutine when its last user is gone.
func (r *reaper) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs--
	if r.refs == 0 {
		close(r.quit)
	}
}

// loop reaps on every SIGCHLD until quit.
func (r *reaper) loop(quit chan struct{}) {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
	r.reapAll()
	for {
		select {
		case <-quit:
			return
		case <-sigc:
			r.reapAll()
		}
	}
}

// reapAll collects every exited child, dispatches known pids, and wakes
// everyone waiting for a process group to empty.
func (r *reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		r.mu.Lock()
		ch := r.procs[pid]
		delete(r.procs, pid)
		r.mu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
	r.mu.Lock()
	close(r.gen)
	r.gen = make(chan struct{})
	r.mu.Unlock()
}

// changed returns a channel closed after the next reap pass.
func (r *reaper) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// spawn forks and execs on the spawner thread and registers the child
// before the reaper can see it exit.
func (r *reaper) spawn(path string, argv []string, attr *syscall.ProcAttr) (int, chan unix.WaitStatus, error) {
	reply := make(chan spawnResult, 1)
	r.spawnc <- spawnReq{path: path, argv: argv, attr: attr, reply: reply}
	res := <-reply
	return res.pid, res.exit, res.err
}

// spawner runs every fork on one OS thread that never exits: Linux's
// parent-death signal fires when the forking *thread* dies, so forking from
// an arbitrary Go thread could kill a unit when the runtime retires it.
func (r *reaper) spawner() {
	runtime.LockOSThread() // never unlocked, on purpose
	for req := range r.spawnc {
		req.reply <- r.forkExec(req)
	}
}

func (r *reaper) forkExec(req spawnReq) spawnResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(req.path, req.argv, req.attr)
	if err != nil {
		return spawnResult{err: err}
	}
	ch := make(chan unix.WaitStatus, 1)
	r.procs[pid] = ch
	return spawnResult{pid: pid, exit: ch}
}
