package updater

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/rebootwindow"
)

// Defaults of Daemon's durations.
const (
	DefaultLockRetry      = 10 * time.Second
	DefaultHealthDeadline = 10 * time.Minute
	DefaultRefresh        = time.Minute
)

// Daemon is `updater daemon`: it polls, downloads, writes the inactive
// slot, installs the UKI, takes the reboot lock, drains and reboots, and
// on the next boot waits for health, blesses and releases. Its State is
// saved at every step, so a power cut anywhere resumes or restarts cleanly.
type Daemon struct {
	StatePath string
	Fetcher   *payload.Fetcher
	Boot      Boot
	Cluster   Cluster
	Running   string        // the running version (internal/version)
	BootID    string        // this boot's /proc/sys/kernel/random/boot_id
	Interval  time.Duration // between checks, ±20% jitter
	// Reboot asks PID 1 to reboot (initd.Signal(1, initd.Reboot)).
	Reboot func() error
	// LockRetry is the pause between tries for the reboot lock.
	LockRetry time.Duration
	// HealthDeadline: a new boot not healthy by then is rebooted unblessed,
	// so that systemd-boot's counter runs down and it falls back.
	HealthDeadline time.Duration
	Refresh        time.Duration // how often a held lock is refreshed
	Logf           func(format string, args ...any)
	Rand           func() float64 // in [0,1); nil: math/rand
	// Window, when set, is the only time the daemon tries for the reboot
	// lock (and so drains and reboots); it downloads and stages at any
	// time. nil: any time. A machine that holds the lock already goes on.
	Window *rebootwindow.Window
	// RootState says whether the running root is verified (RootVerified,
	// RootCorrupt, RootUnverified); nil: not shown.
	RootState func() string
	// Now is the clock Window is read with; nil: time.Now.
	Now func() time.Time
	// After is how the daemon sleeps in the lock step (for the window or
	// between tries); nil: a time.Timer.
	After func(time.Duration) <-chan time.Time

	mu        sync.Mutex
	st        *State
	next      time.Time
	checkNow  chan struct{}
	lastSave  time.Time
	lastShown string
}

func (d *Daemon) defaults() {
	if d.LockRetry <= 0 {
		d.LockRetry = DefaultLockRetry
	}
	if d.HealthDeadline <= 0 {
		d.HealthDeadline = DefaultHealthDeadline
	}
	if d.Refresh <= 0 {
		d.Refresh = DefaultRefresh
	}
	if d.Logf == nil {
		d.Logf = func(string, ...any) {}
	}
	if d.Rand == nil {
		d.Rand = rand.Float64
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.checkNow == nil {
		d.checkNow = make(chan struct{}, 1)
	}
}

// Load reads the saved state; Run calls it.
func (d *Daemon) Load() error {
	d.defaults()
	st, err := LoadState(d.StatePath)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.st = st
	d.mu.Unlock()
	return nil
}

// CheckNow asks Run for a check at once (`updater check`).
func (d *Daemon) CheckNow() {
	d.defaults()
	select {
	case d.checkNow <- struct{}{}:
	default:
	}
}

// Status is a snapshot for `updater status`.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{Running: d.Running, NextCheck: d.next}
	if d.st != nil {
		st.State = *d.st
		st.State.Failed = slices.Clone(d.st.Failed)
	}
	st.Summary = st.State.Label()
	if d.Boot != nil {
		st.Booted, _ = d.Boot.Booted()
	}
	if d.RootState != nil {
		st.Root = d.RootState()
	}
	return st
}

// Run resumes what state.json says was under way, then checks every
// Interval (jittered) or when CheckNow asks, until ctx ends.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.Load(); err != nil {
		return err
	}
	d.publish(ctx)
	resume := d.phase() != Idle && d.phase() != Blessed && d.phase() != Failed
	if err := d.AfterBoot(ctx); err != nil && ctx.Err() == nil {
		d.Logf("updater: %v", err)
	}
	for {
		if resume {
			resume = false
		} else if !d.wait(ctx) {
			return ctx.Err()
		}
		if err := d.Cycle(ctx); err != nil && ctx.Err() == nil {
			d.Logf("updater: %v", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// wait sleeps until the next jittered check or a CheckNow.
func (d *Daemon) wait(ctx context.Context) bool {
	delay := time.Duration(float64(d.Interval) * (0.8 + 0.4*d.Rand()))
	d.mu.Lock()
	d.next = time.Now().Add(delay)
	d.mu.Unlock()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-d.checkNow:
	}
	d.mu.Lock()
	d.next = time.Time{}
	d.mu.Unlock()
	return true
}

func (d *Daemon) phase() Phase {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Phase
}

func (d *Daemon) state() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := *d.st
	s.Failed = slices.Clone(d.st.Failed)
	return s
}

// set changes the state with f, saves it and publishes it.
func (d *Daemon) set(ctx context.Context, f func(*State)) error {
	d.mu.Lock()
	old := d.st.Phase
	f(d.st)
	if d.st.Phase != old {
		d.st.Progress = 0
		d.st.BootID = d.BootID
		d.Logf("updater: %s", d.st.Label())
	}
	d.st.Changed = time.Now().UTC()
	s := *d.st
	d.lastSave = time.Now()
	d.mu.Unlock()
	if err := s.Save(d.StatePath); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	d.publish(ctx)
	return nil
}

// progress records percent done, saving and publishing at most every
// 2 s or 10%.
func (d *Daemon) progress(ctx context.Context, done, total int64) {
	pct := 0
	if total > 0 {
		pct = int(done * 100 / total)
	}
	d.mu.Lock()
	changed := pct/10 != d.st.Progress/10 || time.Since(d.lastSave) > 2*time.Second
	d.st.Progress = pct
	d.mu.Unlock()
	if changed {
		d.set(ctx, func(*State) {})
	}
}

// shown is what publish writes: the state's label, and on a second line
// the root's state when RootState is set (the registry shows the two as a
// machine's Update and Root). d.mu is held.
func (d *Daemon) shown() string {
	label := d.st.Label()
	if d.RootState != nil {
		label += "\n" + d.RootState()
	}
	return label
}

// publish puts the state label in the registry, when it changed.
func (d *Daemon) publish(ctx context.Context) {
	if d.Cluster == nil {
		return
	}
	d.mu.Lock()
	label := d.shown()
	same := label == d.lastShown
	d.mu.Unlock()
	if same {
		return
	}
	if err := d.Cluster.SetStatus(ctx, label); err != nil {
		d.Logf("updater: publishing status %q: %v", label, err)
		return
	}
	d.mu.Lock()
	d.lastShown = label
	d.mu.Unlock()
}

func (d *Daemon) fail(ctx context.Context, err error) error {
	d.set(ctx, func(s *State) { s.LastError = err.Error() })
	return err
}

// Cycle runs the update from where the state stands as far as it can go:
// to up-to-date, to a refusal or error (kept as LastError), or to the
// reboot.
func (d *Daemon) Cycle(ctx context.Context) error {
	d.defaults()
	if vs, err := d.Boot.FailedVersions(); err == nil && len(vs) > 0 {
		d.set(ctx, func(s *State) { s.addFailed(vs...) })
	}
	for {
		st := d.state()
		var err error
		switch st.Phase {
		case Idle, Blessed, Failed, Downloading:
			err = d.download(ctx, st)
		case Writing:
			err = d.write(ctx, st)
		case Staged:
			opens := d.windowShutUntil()
			err = d.set(ctx, func(s *State) { s.Phase, s.WindowOpens = WaitingLock, opens })
		case WaitingLock:
			err = d.lock(ctx)
		case Draining:
			err = d.drain(ctx)
		case Rebooting:
			return nil // asked already; the machine is going down
		}
		if errors.Is(err, errDone) {
			return nil
		}
		if err != nil && ctx.Err() != nil {
			return err // shutting down: the state says where to resume
		}
		if err != nil {
			return d.fail(ctx, err)
		}
	}
}

// errDone ends a Cycle without an error: nothing (more) to do.
var errDone = errors.New("done")

func (d *Daemon) download(ctx context.Context, st State) error {
	m, err := d.Fetcher.Check(ctx, payload.CheckOptions{Current: d.Running, Failed: st.Failed,
		LastSerial: st.PointerSerial,
		// Kept durably (state.json, atomically) before anything else
		// happens, so that a restart still refuses older pointers.
		Seen: func(serial uint64) error {
			if serial <= st.PointerSerial {
				return nil
			}
			return d.set(ctx, func(s *State) { s.PointerSerial = max(s.PointerSerial, serial) })
		}})
	if errors.Is(err, payload.ErrUpToDate) {
		d.set(ctx, func(s *State) {
			s.LastError = ""
			if s.Phase == Downloading {
				s.Phase, s.Target = Idle, ""
			}
		})
		return errDone
	}
	if err != nil {
		return err
	}
	if err := d.set(ctx, func(s *State) {
		s.Phase, s.Target, s.From, s.Slot, s.LastError = Downloading, m.Version, d.Running, "", ""
	}); err != nil {
		return err
	}
	d.Fetcher.Progress = func(done, total int64) { d.progress(ctx, done, total) }
	if _, err := d.Fetcher.Download(ctx, m); err != nil {
		return err
	}
	return d.set(ctx, func(s *State) { s.Phase = Writing })
}

// write puts the verified download's root on the inactive slot. It starts
// over after a power cut: nothing boots that slot until its UKI is on the
// ESP, and the UKI goes there only under the reboot lock (drain).
func (d *Daemon) write(ctx context.Context, st State) error {
	m, root, err := d.local(ctx, st.Target, func(m *payload.Manifest) payload.Artifact { return m.Root })
	if err == nil {
		var slot string
		slot, err = d.Boot.WriteRoot(ctx, root, m.Root, func(done int64) { d.progress(ctx, done, m.Root.Size) })
		if err == nil {
			d.set(ctx, func(s *State) { s.Slot, s.Progress = slot, 100 })
		}
	}
	if err != nil {
		// Not writable as downloaded: check and download again next time.
		d.set(ctx, func(s *State) { s.Phase = Downloading })
		return fmt.Errorf("write %s: %w", st.Target, err)
	}
	return d.set(ctx, func(s *State) { s.Phase = Staged })
}

// local re-verifies the kept download of version v: the manifest's
// signature, and the hash of the one file (which) the step uses; it
// returns that file's path.
func (d *Daemon) local(ctx context.Context, v string, which func(*payload.Manifest) payload.Artifact) (*payload.Manifest, string, error) {
	m, err := d.Fetcher.Local(v)
	if err != nil {
		return nil, "", err
	}
	path, err := d.Fetcher.Fetch(ctx, m, which(m))
	return m, path, err
}

// windowRecheck bounds a sleep until the reboot window opens: the wall
// clock may jump meanwhile (set by NTP after boot), and the timer does not
// follow it.
const windowRecheck = time.Minute

// lock waits until a reboot is safe and this machine holds the lock, only
// trying for it inside the reboot window.
func (d *Daemon) lock(ctx context.Context) error {
	for {
		if err := d.awaitWindow(ctx); err != nil {
			return err
		}
		err := d.Cluster.CanReboot(ctx)
		if err == nil {
			var held bool
			if held, err = d.Cluster.Acquire(ctx); held && err == nil {
				return d.set(ctx, func(s *State) { s.Phase, s.LastError = Draining, "" })
			}
			if err == nil {
				err = errors.New("the reboot lock is held by other machines")
			}
		}
		d.set(ctx, func(s *State) { s.LastError = "waiting for the reboot lock: " + err.Error() })
		if err := d.sleep(ctx, d.LockRetry); err != nil {
			return err
		}
	}
}

// awaitWindow returns once the reboot window is open, at once without a
// window or when this machine holds the lock already (it took it before a
// restart): the window only gates taking the lock. While it waits, the
// state's LastError says until when, WindowOpens holds that time, and the
// registry shows "waiting-window <version>".
func (d *Daemon) awaitWindow(ctx context.Context) error {
	if d.Window == nil {
		return nil
	}
	for {
		opens := d.windowShutUntil()
		if !opens.IsZero() {
			held, err := d.Cluster.Held(ctx)
			if err == nil && held {
				opens = time.Time{}
			}
		}
		if opens.IsZero() {
			if !d.state().WindowOpens.IsZero() {
				d.set(ctx, func(s *State) { s.WindowOpens = time.Time{} })
			}
			return nil
		}
		msg := fmt.Sprintf("waiting for the reboot window %s (opens %s)", d.Window, opens.Format(time.RFC3339))
		if st := d.state(); st.LastError != msg || !st.WindowOpens.Equal(opens) {
			d.set(ctx, func(s *State) { s.LastError, s.WindowOpens = msg, opens })
		}
		if err := d.sleep(ctx, min(opens.Sub(d.Now()), windowRecheck)); err != nil {
			return err
		}
	}
}

// windowShutUntil is when the reboot window opens next if it is shut now,
// else the zero time.
func (d *Daemon) windowShutUntil() time.Time {
	if d.Window == nil {
		return time.Time{}
	}
	now := d.Now()
	if d.Window.Contains(now) {
		return time.Time{}
	}
	return d.Window.Next(now).UTC()
}

// sleep waits for dur or the end of ctx.
func (d *Daemon) sleep(ctx context.Context, dur time.Duration) error {
	var c <-chan time.Time
	if d.After != nil {
		c = d.After(dur)
	} else {
		t := time.NewTimer(dur)
		defer t.Stop()
		c = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c:
		return nil
	}
}

func (d *Daemon) drain(ctx context.Context) error {
	if err := d.Cluster.Drain(ctx); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	// Only now, holding the lock with the units gone, does the new version
	// become bootable: before this, any reboot (a power cut while waiting
	// for the lock) boots the running version again.
	st := d.state()
	m, uki, err := d.local(ctx, st.Target, func(m *payload.Manifest) payload.Artifact { return m.UKI })
	if err == nil {
		err = d.Boot.InstallUKI(ctx, uki, m.UKI, m.Version, st.Slot)
	}
	if err != nil {
		return fmt.Errorf("install the %s UKI: %w", st.Target, err)
	}
	if err := d.set(ctx, func(s *State) { s.Phase = Rebooting }); err != nil {
		return err
	}
	d.Logf("updater: rebooting into %s", d.state().Target)
	if err := d.Reboot(); err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	return errDone
}

// AfterBoot settles an update that a reboot interrupted or completed: on
// the target version it waits for health, blesses the entry, undrains and
// releases the lock; on the old version the target failed to boot and is
// recorded as failed. Anything else is left to Cycle.
func (d *Daemon) AfterBoot(ctx context.Context) error {
	d.defaults()
	st := d.state()
	if st.Target == "" || st.Phase == Idle || st.Phase == Blessed || st.Phase == Failed {
		return nil
	}
	if d.Running == st.Target {
		return d.confirm(ctx, st)
	}
	// Only from Rebooting was the target's UKI surely on the ESP; from an
	// earlier phase a reboot was a power cut, and Cycle resumes.
	if st.Phase == Rebooting && st.BootID != d.BootID {
		return d.fallback(ctx, st)
	}
	return nil
}

// fallback: the machine rebooted with the target installed but runs the
// old version, so systemd-boot gave up on the target.
func (d *Daemon) fallback(ctx context.Context, st State) error {
	d.Logf("updater: %s did not boot (running %s): marked failed, not retried", st.Target, d.Running)
	var errs []error
	if err := d.set(ctx, func(s *State) {
		s.addFailed(st.Target)
		s.Phase, s.LastError = Failed, fmt.Sprintf("%s did not boot; fell back to %s", st.Target, d.Running)
	}); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, d.Cluster.Undrain(ctx), d.release(ctx), d.Boot.Cleanup(d.Running))
	d.Fetcher.Prune()
	return errors.Join(errs...)
}

// confirm: the target runs. Bless it once this boot is healthy; give up
// (reboot unblessed, spending one of its tries) after HealthDeadline.
func (d *Daemon) confirm(ctx context.Context, st State) error {
	if st.Phase != Rebooting {
		d.set(ctx, func(s *State) { s.Phase = Rebooting })
	}
	deadline := time.Now().Add(d.HealthDeadline)
	lastRefresh := time.Time{}
	for {
		if time.Since(lastRefresh) >= d.Refresh {
			if held, _ := d.Cluster.Held(ctx); held {
				d.Cluster.Refresh(ctx)
			}
			lastRefresh = time.Now()
		}
		err := d.Cluster.Healthy(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			d.fail(ctx, fmt.Errorf("%s not healthy after %s (%v): rebooting unblessed", st.Target, d.HealthDeadline, err))
			return d.Reboot()
		}
		d.set(ctx, func(s *State) { s.LastError = "waiting to be healthy: " + err.Error() })
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d.LockRetry / 5):
		}
	}
	if err := d.Boot.Bless(st.Target); err != nil {
		return d.fail(ctx, fmt.Errorf("bless %s: %w", st.Target, err))
	}
	// The registry shows this node blessed before its reboot slot is given
	// back: released first, it would still read "rebooting" while the next
	// holder drains, two nodes down to anyone watching.
	uerr := d.Cluster.Undrain(ctx)
	d.set(ctx, func(s *State) {
		s.Phase, s.LastError = Blessed, ""
		if uerr != nil {
			s.LastError = uerr.Error()
		}
	})
	d.publishWithin(ctx, 30*time.Second)
	rerr := d.release(ctx)
	if rerr != nil {
		d.set(ctx, func(s *State) { s.LastError = errors.Join(uerr, rerr).Error() })
	}
	if cerr := d.Boot.Cleanup(st.Target, st.From); cerr != nil {
		d.Logf("updater: cleanup: %v", cerr)
	}
	d.Fetcher.Prune()
	return errors.Join(uerr, rerr)
}

// publishWithin retries publish, for at most limit, until the registry
// shows the current state (an etcd write can time out on a loaded node).
func (d *Daemon) publishWithin(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		d.publish(ctx)
		d.mu.Lock()
		shown := d.lastShown == d.shown()
		d.mu.Unlock()
		if shown || time.Now().After(deadline) || d.sleep(ctx, time.Second) != nil {
			return
		}
	}
}

func (d *Daemon) release(ctx context.Context) error {
	held, err := d.Cluster.Held(ctx)
	if err != nil || !held {
		return err
	}
	return d.Cluster.Release(ctx)
}
