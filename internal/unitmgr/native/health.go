package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/container"
	"github.com/flotilla-os/flotilla/internal/health"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Health checks. A unit's check comes from [Container] HealthCmd= (run
// inside the container) or [X-Fleet] HealthCheck= (an HTTP or TCP probe
// from the node). It runs from the moment the main process is spawned
// until the unit starts stopping, in a health.Monitor that sleeps between
// checks; each change of verdict is a change of the unit's state
// (unit.State.Health), so passing checks write nothing. The verdict is ""
// while no check runs. HealthOnFailure= acts when it turns unhealthy:
// kill SIGKILLs the main process (Restart= decides what follows, as under
// Podman with systemd), restart kills it and starts the unit again
// whatever Restart= says, stop stops the unit. Notify=healthy holds the
// unit in activating (sub-state start) until the first passing check,
// within TimeoutStartSec.

// parseHealth sets sp.health from the container's HealthCmd= or the
// [X-Fleet] HealthCheck= keys.
func parseHealth(name string, f *unit.File, sp *spec) error {
	var h *health.Config
	if sp.container != nil {
		h = sp.container.Health
	}
	if n, err := unit.ParseName(name); err == nil {
		fh, err := unit.ParseFleetHealth(n, f)
		if err != nil {
			return err
		}
		if fh != nil {
			h = fh
		}
	}
	if h != nil && sp.typ == "oneshot" {
		sp.warnings = append(sp.warnings, "health checks apply to long-running units: ignored for Type=oneshot")
		h = nil
	}
	sp.health = h
	return nil
}

// healthRun is the check of one cycle of an activation.
type healthRun struct {
	mon      *health.Monitor
	healthy  chan struct{} // closed at the first passing check
	once     sync.Once
	restart  bool // HealthOnFailure=restart fired; guarded by mu
	mu       sync.Mutex
	lastSeen string
}

// startHealth begins checking the main process just spawned.
func (a *activation) startHealth() {
	cfg := a.sp.health
	if cfg == nil || a.main == nil {
		return
	}
	var check health.Check
	if len(cfg.Cmd) > 0 {
		if a.run == nil {
			return
		}
		check = a.containerCheck(a.run, cfg.Cmd)
	} else {
		c, err := health.ProbeCheck(cfg.Probe)
		if err != nil {
			a.u.event("%s: health check: %v", a.u.name, err)
			return
		}
		check = c
	}
	h := &healthRun{healthy: make(chan struct{})}
	pid := a.main.pid
	h.mon = health.Start(*cfg, time.Now(), check, func(verdict string, err error) {
		a.u.setHealth(verdict)
		h.mu.Lock()
		changed := verdict != h.lastSeen
		h.lastSeen = verdict
		h.mu.Unlock()
		switch {
		case verdict == health.Healthy:
			h.once.Do(func() { close(h.healthy) })
		case verdict == health.Unhealthy && changed:
			a.u.event("%s: health check failed, now unhealthy: %v", a.u.name, err)
			a.onUnhealthy(h, pid, cfg.OnFailure)
		}
	})
	a.health = h
}

// onUnhealthy carries out HealthOnFailure=.
func (a *activation) onUnhealthy(h *healthRun, pid int, action string) {
	switch action {
	case health.OnFailureKill, health.OnFailureRestart:
		if action == health.OnFailureRestart {
			h.mu.Lock()
			h.restart = true
			h.mu.Unlock()
		}
		a.u.event("%s: HealthOnFailure=%s: killing the main process.", a.u.name, action)
		unix.Kill(-pid, unix.SIGKILL)
	case health.OnFailureStop:
		a.u.event("%s: HealthOnFailure=stop: stopping the unit.", a.u.name)
		a.requestStop()
	}
}

// stopHealth ends the cycle's check (killing one in flight); the verdict
// goes back to "".
func (a *activation) stopHealth() {
	if a.health == nil {
		return
	}
	a.health.mon.Stop()
	a.u.setHealth("")
}

// healthRestart reports whether HealthOnFailure=restart ended the cycle.
func (a *activation) healthRestart() bool {
	if a.health == nil {
		return false
	}
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	return a.health.restart
}

// waitHealthy holds a Notify=healthy unit in activating until its first
// passing check, the main process's exit, a stop, or TimeoutStartSec.
func (a *activation) waitHealthy() result {
	if a.health == nil {
		return result{ok: true}
	}
	a.set(unit.ActiveActivating, "start", "")
	t := newTimeout(a.sp.timeoutStart)
	defer t.Stop()
	select {
	case <-a.health.healthy:
		return result{ok: true}
	case a.main.ws = <-a.main.exit:
		a.main.exited = true
		a.u.event("%s: Main process exited, %s", a.u.name, describe(a.main.ws))
		if res := exitResult(a.main.ws); !res.ok {
			return res
		}
		// systemd's word for a Type=notify service gone before READY=1.
		return result{reason: "protocol"}
	case <-a.stopc:
		return result{ok: true}
	case <-t.C:
		a.u.event("%s: start operation timed out (no passing health check). Terminating.", a.u.name)
		return result{reason: "timeout", abnormal: true}
	}
}

// setHealth records a new verdict; a change is a change of state.
func (u *svc) setHealth(verdict string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.st.Health == verdict {
		return
	}
	u.st.Health = verdict
	u.sup.changes.Notify(u.name)
}

// healthOutputMax bounds what a failing check's output adds to its error.
const healthOutputMax = 512

// containerCheck runs argv inside the container of run, as Podman's
// healthcheck runs its command with exec: exit 0 passes. The helper is
// forked through the reaper and killed, with the command, at the deadline.
func (a *activation) containerCheck(run *container.Run, argv []string) health.Check {
	return func(ctx context.Context) error {
		l, err := run.PrepareExec(argv)
		if err != nil {
			return err
		}
		defer l.Close()
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		files := []uintptr{a.u.sup.nullFd, w.Fd(), w.Fd()}
		for _, f := range l.Files {
			files = append(files, f.Fd())
		}
		sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		pid, exit, err := theReaper.spawn(l.Path, l.Args, &syscall.ProcAttr{Env: l.Env, Sys: sys, Files: files})
		w.Close()
		if err != nil {
			r.Close()
			return fmt.Errorf("health check: %w", err)
		}
		out := make(chan string, 1)
		go func() {
			defer r.Close()
			b, _ := io.ReadAll(io.LimitReader(r, healthOutputMax))
			io.Copy(io.Discard, r)
			out <- strings.TrimSpace(string(b))
		}()
		setupErr := run.ExecStarted(l, pid)
		select {
		case ws := <-exit:
			// A process the command left behind may hold the pipe open:
			// do not wait for it.
			var msg string
			select {
			case msg = <-out:
			case <-time.After(100 * time.Millisecond):
				r.Close()
			}
			if setupErr != nil {
				return setupErr
			}
			if ws.Exited() && ws.ExitStatus() == 0 {
				return nil
			}
			err := fmt.Errorf("health check %s: %s", describe(ws), msg)
			if msg == "" {
				err = fmt.Errorf("health check %s", describe(ws))
			}
			return err
		case <-ctx.Done():
			unix.Kill(-pid, unix.SIGKILL)
			<-exit
			r.Close()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return errors.New("health check timed out")
			}
			return ctx.Err()
		}
	}
}
