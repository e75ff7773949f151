package native

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// svc is one loaded unit. mu guards everything below it; the runner
// goroutine of the current activation is the only writer of state.
type svc struct {
	sup  *Supervisor
	name string
	log  *logWriter

	mu           sync.Mutex
	spec         *spec
	st           unit.State
	act          *activation // nil when nothing runs
	removed      bool
	pendingStart bool        // Start while stopping: start again after
	starts       []time.Time // start times, for the start limit
	runHash      string      // the spec hash of the current or last run
	job          *job        // the latest start job: the current or last run's, or one queued behind a stop
	// resumeOn names the units whose stop, failure or restart stopped this
	// one: it starts again when one of them is next active (jobs.go).
	resumeOn map[string]bool

	deps *unitDeps // dependencies; guarded by sup.mu, not mu
	addr string    // the running container's bridge address (container.go)
}

func newSvc(s *Supervisor, name string, l *logWriter) *svc {
	u := &svc{sup: s, name: name, log: l}
	u.st = unit.State{Load: unit.LoadLoaded, Active: unit.ActiveInactive, Sub: "dead", Since: time.Now()}
	return u
}

func (u *svc) define(sp *spec) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.spec = sp
	u.removed = false
}

func (u *svc) isRemoved() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.removed
}

func (u *svc) state() unit.State {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.st
	st.Hash = u.runHash
	st.Addr = u.addr
	return st
}

// setLocked records a new state and notifies; u.mu is held.
func (u *svc) setLocked(active, sub, reason string, pid int) {
	if u.st.Active == active && u.st.Sub == sub && u.st.Reason == reason && u.st.PID == pid {
		return
	}
	was := u.st
	u.st = unit.State{Load: unit.LoadLoaded, Active: active, Sub: sub, Reason: reason, PID: pid, Since: time.Now(), Health: was.Health}
	u.sup.changes.Notify(u.name)
	if u.sup.anyDeps.Load() && (was.Active != active || sub == "auto-restart" && was.Sub != sub) {
		u.sup.queueEvent(depEvent{name: u.name, active: active, sub: sub})
	}
}

// event logs a supervisor event for this unit, in its log and to Logf.
func (u *svc) event(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	u.log.event(msg)
	u.sup.cfg.Logf("%s", msg)
}

// start begins an activation unless one runs.
func (u *svc) start() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.resumeOn = nil
	if u.act != nil {
		// A runner that is stopping, or has reported its final state and
		// not yet detached, is ending: start again once it has.
		if u.act.stopping() || u.st.Active == unit.ActiveInactive || u.st.Active == unit.ActiveFailed {
			u.pendingStart = true
			u.queueJobLocked()
		}
		return nil
	}
	return u.activateLocked()
}

func (u *svc) activateLocked() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("supervisor: %s: log pipe: %w", u.name, err)
	}
	var er, ew *os.File
	if u.sup.cfg.Forward != nil {
		if er, ew, err = os.Pipe(); err != nil {
			r.Close()
			w.Close()
			return fmt.Errorf("supervisor: %s: stderr pipe: %w", u.name, err)
		}
	}
	a := newActivation(u, u.spec, w, ew)
	u.runHash = u.spec.hash
	go u.pump(r, false)
	if er != nil {
		go u.pump(er, true)
	}
	u.starts = nil
	u.act = a
	a.job = u.takeJobLocked()
	u.setLocked(unit.ActiveActivating, "start-pre", "", 0)
	go u.runner(a)
	return nil
}

// pump copies the unit's stdout/stderr into its log until every writer is
// gone. It writes whole lines, so that supervisor events never land inside
// one; a partial line is held until its newline, until it reaches
// maxPartial, or until the output closes. With Config.Forward, stdout and
// stderr have a pump each (stderr says which), and each write is also
// handed to Forward.
func (u *svc) pump(r *os.File, stderr bool) {
	defer r.Close()
	buf := make([]byte, 16<<10)
	held := 0
	for {
		n, err := r.Read(buf[held:])
		held += n
		if i := bytes.LastIndexByte(buf[:held], '\n'); i >= 0 || held >= maxPartial {
			cut := i + 1
			if i < 0 {
				cut = held
			}
			u.output(buf[:cut], stderr)
			held = copy(buf, buf[cut:held])
		}
		if err != nil {
			if held > 0 {
				u.output(buf[:held], stderr)
			}
			return
		}
	}
}

// output logs p and forwards it when forwarding is on.
func (u *svc) output(p []byte, stderr bool) {
	u.log.Write(p)
	if fwd := u.sup.cfg.Forward; fwd != nil {
		fwd(u.name, stderr, p)
	}
}

// maxPartial bounds a held partial line (buf must be larger).
const maxPartial = 8 << 10

func (u *svc) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pendingStart {
		u.pendingStart = false
		u.dropQueuedJobLocked()
	}
	u.resumeOn = nil
	if u.act != nil {
		u.act.requestStop()
	}
}

// unload marks the unit removed and stops it; true when it can go now.
func (u *svc) unload() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.removed = true
	if u.pendingStart {
		u.pendingStart = false
		u.dropQueuedJobLocked()
	}
	u.resumeOn = nil
	if u.act == nil {
		return true
	}
	u.act.requestStop()
	return false
}

func (u *svc) runnerDone() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.act == nil {
		return nil
	}
	return u.act.done
}

// allowStart applies StartLimitBurst in StartLimitIntervalSec.
func (u *svc) allowStart(sp *spec) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	kept := u.starts[:0]
	for _, t := range u.starts {
		if now.Sub(t) < sp.limitInterval {
			kept = append(kept, t)
		}
	}
	u.starts = kept
	if sp.limitBurst > 0 && sp.limitInterval > 0 && len(u.starts) >= sp.limitBurst {
		return false
	}
	u.starts = append(u.starts, now)
	return true
}

// detach ends activation a; it restarts or forgets the unit as asked meanwhile.
func (u *svc) detach(a *activation) {
	u.mu.Lock()
	u.act = nil
	restart := u.pendingStart && !u.removed
	u.pendingStart = false
	removed := u.removed
	if restart {
		if err := u.activateLocked(); err != nil {
			u.sup.cfg.Logf("%v", err)
			u.dropQueuedJobLocked()
		}
	}
	u.mu.Unlock()
	if !restart {
		u.log.idle()
	}
	if removed {
		u.sup.forget(u)
	}
}
