package updater

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/rebootwindow"
)

// fakeBoot records what the daemon asks of the boot side. Slots are files.
type fakeBoot struct {
	mu        sync.Mutex
	slot      string
	dir       string
	installed []string
	blessed   []string
	failed    []string
	cleaned   [][]string
	writeErr  error
}

func (b *fakeBoot) Booted() (string, error) { return b.slot, nil }
func (b *fakeBoot) WriteRoot(ctx context.Context, root string, a payload.Artifact, progress func(int64)) (string, error) {
	if b.writeErr != nil {
		return "", b.writeErr
	}
	other := map[string]string{"A": "B", "B": "A"}[b.slot]
	data, err := os.ReadFile(root)
	if err != nil {
		return "", err
	}
	if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != a.SHA256 {
		return "", errors.New("hash")
	}
	progress(int64(len(data)))
	return other, os.WriteFile(filepath.Join(b.dir, "ROOT-"+other), data, 0o600)
}
func (b *fakeBoot) InstallUKI(ctx context.Context, uki string, a payload.Artifact, version, slot string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.installed = append(b.installed, version+"@"+slot)
	return nil
}
func (b *fakeBoot) Bless(v string) error              { b.blessed = append(b.blessed, v); return nil }
func (b *fakeBoot) FailedVersions() ([]string, error) { return b.failed, nil }
func (b *fakeBoot) Cleanup(keep ...string) error {
	b.cleaned = append(b.cleaned, keep)
	return nil
}

type fakeCluster struct {
	mu       sync.Mutex
	held     bool
	free     bool // the lock is free to take
	drained  bool
	healthy  error
	statuses []string
	calls    []string
}

func (c *fakeCluster) log(s string)                    { c.mu.Lock(); c.calls = append(c.calls, s); c.mu.Unlock() }
func (c *fakeCluster) CanReboot(context.Context) error { c.log("canreboot"); return nil }
func (c *fakeCluster) Acquire(context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "acquire")
	if c.free {
		c.held = true
	}
	return c.held, nil
}
func (c *fakeCluster) Held(context.Context) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held, nil
}
func (c *fakeCluster) Refresh(context.Context) error { c.log("refresh"); return nil }
func (c *fakeCluster) Release(context.Context) error {
	c.log("release")
	c.mu.Lock()
	c.held = false
	c.mu.Unlock()
	return nil
}
func (c *fakeCluster) Drain(context.Context) error   { c.log("drain"); c.drained = true; return nil }
func (c *fakeCluster) Undrain(context.Context) error { c.log("undrain"); c.drained = false; return nil }
func (c *fakeCluster) Healthy(context.Context) error { return c.healthy }
func (c *fakeCluster) SetStatus(_ context.Context, s string) error {
	c.mu.Lock()
	c.statuses = append(c.statuses, s)
	c.calls = append(c.calls, "status "+s)
	c.mu.Unlock()
	return nil
}

// world is a published server directory on loopback and one node's parts.
type world struct {
	t       *testing.T
	key     string
	out     string
	url     string
	pub     string
	state   string
	dl      string
	boot    *fakeBoot
	cluster *fakeCluster
	reboots int
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, key: filepath.Join(t.TempDir(), "key"), out: t.TempDir()}
	k, err := payload.LoadOrCreateKey(w.key)
	if err != nil {
		t.Fatal(err)
	}
	w.pub = payload.PublicKeyString(k)
	srv := httptest.NewServer(payload.Handler(w.out, nil))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	node := t.TempDir()
	w.dl = filepath.Join(node, "update")
	w.state = filepath.Join(w.dl, StateFile)
	w.boot = &fakeBoot{slot: "A", dir: node}
	w.cluster = &fakeCluster{free: true, healthy: nil}
	return w
}

func (w *world) publish(version string) {
	dir := filepath.Join(w.t.TempDir(), "payload")
	os.MkdirAll(dir, 0o755)
	m := payload.Manifest{Version: version, Channel: "stable", Arch: payload.Arch}
	for _, a := range []*payload.Artifact{&m.UKI, &m.Root} {
		b := make([]byte, 50_000)
		rand.Read(b)
		s := sha256.Sum256(b)
		name := map[*payload.Artifact]string{&m.UKI: "uki.efi", &m.Root: "root.squashfs"}[a]
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
		*a = payload.Artifact{Path: name, Size: int64(len(b)), SHA256: hex.EncodeToString(s[:])}
	}
	os.WriteFile(filepath.Join(dir, "manifest.json"), payload.Marshal(m), 0o644)
	if _, err := payload.Publish(w.key, dir, w.out, payload.PublishOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

// daemon is the node's daemon for one boot running version.
func (w *world) daemon(running, bootID string) *Daemon {
	pk, _ := payload.ParsePublicKey(w.pub)
	d := &Daemon{StatePath: w.state, Running: running, BootID: bootID, Interval: time.Hour,
		Fetcher: &payload.Fetcher{URL: w.url, PublicKey: pk, Channel: "stable", Dir: w.dl},
		Boot:    w.boot, Cluster: w.cluster, LockRetry: 20 * time.Millisecond,
		Reboot: func() error { w.reboots++; return nil },
		Logf:   w.t.Logf}
	if err := d.Load(); err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *world) saved() *State {
	s, err := LoadState(w.state)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func TestUpdateAndBless(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.publish("1.0.0")
	d := w.daemon("1.0.0", "boot1")
	if err := d.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.saved(); s.Phase != Idle || s.LastError != "" {
		t.Fatalf("up to date: %+v", s)
	}
	w.publish("1.1.0")
	if err := d.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	s := w.saved()
	if s.Phase != Rebooting || s.Target != "1.1.0" || s.From != "1.0.0" || s.Slot != "B" || s.BootID != "boot1" {
		t.Fatalf("after the cycle: %+v", s)
	}
	if w.reboots != 1 || !w.cluster.held || !w.cluster.drained || !slices.Equal(w.boot.installed, []string{"1.1.0@B"}) {
		t.Fatalf("reboots %d held %v drained %v installed %v", w.reboots, w.cluster.held, w.cluster.drained, w.boot.installed)
	}
	for _, want := range []string{"downloading 1.1.0 0%", "writing 1.1.0 0%", "staged 1.1.0", "waiting-lock 1.1.0", "draining 1.1.0", "rebooting 1.1.0"} {
		if !slices.Contains(w.cluster.statuses, want) {
			t.Errorf("registry status never showed %q: %q", want, w.cluster.statuses)
		}
	}
	// The next boot runs 1.1.0 from B: not healthy at first, then healthy.
	w.boot.slot = "B"
	w.cluster.healthy = errors.New("fleetd not up")
	d2 := w.daemon("1.1.0", "boot2")
	go func() {
		time.Sleep(100 * time.Millisecond)
		w.cluster.mu.Lock()
		w.cluster.healthy = nil
		w.cluster.mu.Unlock()
	}()
	if err := d2.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	s = w.saved()
	if s.Phase != Blessed || s.LastError != "" {
		t.Fatalf("after boot: %+v", s)
	}
	if !slices.Equal(w.boot.blessed, []string{"1.1.0"}) || w.cluster.held || w.cluster.drained {
		t.Errorf("blessed %v held %v drained %v", w.boot.blessed, w.cluster.held, w.cluster.drained)
	}
	// Blessed shows in the registry before the reboot slot is given back,
	// so no watcher sees this node "rebooting" while the next one drains.
	shown, released := slices.Index(w.cluster.calls, "status blessed 1.1.0"), slices.Index(w.cluster.calls, "release")
	if shown < 0 || released < 0 || shown > released {
		t.Errorf("status blessed at call %d, release at %d: %q", shown, released, w.cluster.calls)
	}
	if got := w.boot.cleaned[len(w.boot.cleaned)-1]; !slices.Equal(got, []string{"1.1.0", "1.0.0"}) {
		t.Errorf("cleanup kept %v", got)
	}
	if st := d2.Status(); st.Summary != "blessed 1.1.0" || st.Booted != "B" || st.Running != "1.1.0" {
		t.Errorf("status %+v", st)
	}
	if _, err := os.Stat(filepath.Join(w.dl, "1.1.0")); !os.IsNotExist(err) {
		t.Errorf("download of 1.1.0 kept after blessing: %v", err)
	}
}

func TestFallbackNeverRetried(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.publish("2.0.0")
	d := w.daemon("1.0.0", "boot1")
	if err := d.Cycle(ctx); err != nil || w.saved().Phase != Rebooting {
		t.Fatalf("cycle: %v %+v", err, w.saved())
	}
	// systemd-boot gave up on 2.0.0: the next boot is 1.0.0 again.
	d2 := w.daemon("1.0.0", "boot2")
	if err := d2.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	s := w.saved()
	if s.Phase != Failed || !slices.Equal(s.Failed, []string{"2.0.0"}) || w.cluster.held || w.cluster.drained {
		t.Fatalf("after the fallback: %+v held %v", s, w.cluster.held)
	}
	if st := d2.Status(); st.Summary != "failed:2.0.0" || !strings.Contains(st.Table(), "FAILED           2.0.0") {
		t.Errorf("status %+v\n%s", st, st.Table())
	}
	installs := len(w.boot.installed)
	err := d2.Cycle(ctx)
	if !errors.Is(err, payload.ErrFailedVersion) || len(w.boot.installed) != installs || w.saved().Phase != Failed {
		t.Fatalf("2.0.0 retried: %v, %+v", err, w.saved())
	}
	if !strings.Contains(w.saved().LastError, "2.0.0 failed to boot on this node") {
		t.Errorf("last error %q", w.saved().LastError)
	}
	w.publish("2.0.1")
	if err := d2.Cycle(ctx); err != nil || w.saved().Target != "2.0.1" || w.saved().Phase != Rebooting {
		t.Fatalf("newer version: %v %+v", err, w.saved())
	}
}

// TestPowerCut: the daemon dies while writing the slot; the next boot
// (still the old version, no UKI installed) writes it again from the
// verified download, without fetching again.
func TestPowerCut(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.publish("1.1.0")
	w.boot.writeErr = errors.New("power cut")
	d := w.daemon("1.0.0", "boot1")
	d.Cycle(ctx)
	// A power cut leaves the state saved before the write began.
	s := w.saved()
	s.Phase = Writing
	s.Save(w.state)
	w.boot.writeErr = nil
	d2 := w.daemon("1.0.0", "boot2")
	if err := d2.AfterBoot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d2.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.saved(); s.Phase != Rebooting || !slices.Equal(w.boot.installed, []string{"1.1.0@B"}) {
		t.Fatalf("%+v installed %v", s, w.boot.installed)
	}
	// A cut after the UKI went in boots the target: AfterBoot confirms it
	// even though the state never got to rebooting.
	s = w.saved()
	s.Phase = Staged
	s.Save(w.state)
	w.boot.slot = "B"
	if err := w.daemon("1.1.0", "boot3").AfterBoot(ctx); err != nil || w.saved().Phase != Blessed {
		t.Fatalf("%v %+v", err, w.saved())
	}
}

func TestWaitsForLock(t *testing.T) {
	w := newWorld(t)
	w.cluster.free = false
	w.publish("1.1.0")
	d := w.daemon("1.0.0", "boot1")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	d.Cycle(ctx)
	s := w.saved()
	if s.Phase != WaitingLock || w.reboots != 0 || !strings.Contains(s.LastError, "held by other machines") {
		t.Fatalf("%+v reboots %d", s, w.reboots)
	}
	if len(w.boot.installed) != 0 {
		t.Fatalf("the UKI went on the ESP (%v) before the lock was held: a power cut now would boot it", w.boot.installed)
	}
	w.cluster.free = true
	if err := w.daemon("1.0.0", "boot1").Cycle(context.Background()); err != nil || w.reboots != 1 {
		t.Fatalf("%v reboots %d", err, w.reboots)
	}
}

func TestControlSocket(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the control socket only answers root")
	}
	w := newWorld(t)
	d := w.daemon("1.0.0", "b")
	sock := filepath.Join(t.TempDir(), "updater.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ServeControl(ctx, d, sock)
	var st *Status
	var err error
	for i := 0; i < 50; i++ {
		if st, err = FetchStatus(ctx, sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || st.Running != "1.0.0" || st.Summary != "idle" {
		t.Fatalf("%+v %v", st, err)
	}
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %o", fi.Mode().Perm())
	}
	if err := RequestCheck(ctx, sock); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.checkNow:
	default:
		t.Error("check request did not reach the daemon")
	}
}

// fakeClock is the daemon's wall clock in the reboot-window tests: it
// moves only when a test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// fired is a channel that has fired at t.
func fired(t time.Time) <-chan time.Time {
	ch := make(chan time.Time, 1)
	ch <- t
	return ch
}

// thursday4 is the window of the reboot-window tests: Thursday 04:00 UTC
// for an hour. 2026-11-23 is a Monday; the window opens on 2026-11-26.
func thursday4(t *testing.T) *rebootwindow.Window {
	win, err := rebootwindow.Parse("Thu 04:00", "1h")
	if err != nil {
		t.Fatal(err)
	}
	return &win
}

// windowed is a daemon whose reboot window is Thursday 04:00 for an hour,
// read on clock.
func (w *world) windowed(running, bootID string, clock *fakeClock) *Daemon {
	d := w.daemon(running, bootID)
	d.Window, d.Now = thursday4(w.t), clock.Now
	return d
}

// TestRebootWindow: outside its window the daemon downloads and stages,
// then waits without ever asking for the lock; inside it, it takes the
// lock, drains and reboots.
func TestRebootWindow(t *testing.T) {
	w := newWorld(t)
	w.publish("1.1.0")
	clock := &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	d := w.windowed("1.0.0", "boot1", clock)
	var sleeps []time.Duration
	d.After = func(dur time.Duration) <-chan time.Time { sleeps = append(sleeps, dur); return nil } // never fires
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Cycle(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cycle outside the window: %v", err)
	}
	const want = "waiting for the reboot window Thu 04:00 +1h (opens 2026-11-26T04:00:00Z)"
	s := w.saved()
	if s.Phase != WaitingLock || s.Target != "1.1.0" || s.Slot != "B" || s.LastError != want {
		t.Fatalf("outside the window: %+v, want waiting-lock 1.1.0 on B, %q", s, want)
	}
	if slices.Contains(w.cluster.calls, "acquire") || slices.Contains(w.cluster.calls, "canreboot") || w.cluster.held {
		t.Fatalf("asked for the lock outside the window: %q", w.cluster.calls)
	}
	if w.reboots != 0 || w.cluster.drained || len(w.boot.installed) != 0 {
		t.Fatalf("reboots %d drained %v installed %v outside the window", w.reboots, w.cluster.drained, w.boot.installed)
	}
	if len(sleeps) != 1 || sleeps[0] <= 0 || sleeps[0] > windowRecheck {
		t.Errorf("slept %v, want one sleep of at most %s", sleeps, windowRecheck)
	}
	if st := d.Status(); !strings.Contains(st.Table(), want) {
		t.Errorf("updater status does not say it waits for the window:\n%s", st.Table())
	}
	if !slices.Contains(w.cluster.statuses, "waiting-window 1.1.0") || slices.Contains(w.cluster.statuses, "waiting-lock 1.1.0") {
		t.Errorf("registry status shows %q, want waiting-window 1.1.0 and never waiting-lock while the window is shut", w.cluster.statuses)
	}
	if opens := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC); !s.WindowOpens.Equal(opens) {
		t.Errorf("state says the window opens %v, want %v", s.WindowOpens, opens)
	}

	// Thursday 04:10: inside the window.
	clock.Set(time.Date(2026, 11, 26, 4, 10, 0, 0, time.UTC))
	d2 := w.windowed("1.0.0", "boot1", clock)
	if err := d2.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.saved(); s.Phase != Rebooting || s.LastError != "" || !s.WindowOpens.IsZero() || w.reboots != 1 || !w.cluster.held || !w.cluster.drained ||
		!slices.Equal(w.boot.installed, []string{"1.1.0@B"}) {
		t.Fatalf("inside the window: %+v reboots %d held %v drained %v installed %v", s, w.reboots, w.cluster.held, w.cluster.drained, w.boot.installed)
	}
}

// TestRebootWindowOpensWhileWaiting: the daemon sleeps at most
// windowRecheck at a time, so a clock that jumps (NTP after boot) is seen
// on the next wake; once the window opens it takes the lock.
func TestRebootWindowOpensWhileWaiting(t *testing.T) {
	w := newWorld(t)
	w.publish("1.1.0")
	clock := &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	d := w.windowed("1.0.0", "boot1", clock)
	var sleeps []time.Duration
	d.After = func(dur time.Duration) <-chan time.Time {
		sleeps = append(sleeps, dur)
		w.cluster.log("sleep " + dur.String())
		if len(sleeps) == 1 {
			// The clock was days behind: NTP sets it to Thursday 03:59:30.
			clock.Set(time.Date(2026, 11, 26, 3, 59, 30, 0, time.UTC))
			return fired(clock.Now())
		}
		return fired(clock.Advance(dur))
	}
	if err := d.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sleeps, []time.Duration{windowRecheck, 30 * time.Second}) {
		t.Errorf("slept %v, want [%s 30s]", sleeps, windowRecheck)
	}
	acquire := slices.Index(w.cluster.calls, "acquire")
	if acquire < 0 || acquire < slices.Index(w.cluster.calls, "sleep 30s") || w.reboots != 1 {
		t.Fatalf("reboots %d, calls %q", w.reboots, w.cluster.calls)
	}
	if s := w.saved(); s.Phase != Rebooting || s.LastError != "" {
		t.Fatalf("%+v", s)
	}
}

// TestRebootWindowHeldLock: a machine that holds the lock already (it took
// it before a restart) does not wait for the window again, nor does one
// that was draining.
func TestRebootWindowHeldLock(t *testing.T) {
	w := newWorld(t)
	w.publish("1.1.0")
	clock := &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	never := func(time.Duration) <-chan time.Time { return nil }
	d := w.windowed("1.0.0", "boot1", clock)
	d.After = never
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d.Cycle(ctx)
	if s := w.saved(); s.Phase != WaitingLock || !strings.HasPrefix(s.LastError, "waiting for the reboot window") {
		t.Fatalf("%+v", s)
	}
	// The lock was taken just before a power cut, the state not yet saved.
	w.cluster.held = true
	d2 := w.windowed("1.0.0", "boot2", clock)
	d2.After = never
	// A regression would wait for the window forever: bound it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := d2.Cycle(ctx2); err != nil || w.reboots != 1 || w.saved().Phase != Rebooting {
		t.Fatalf("holding the lock outside the window: %v reboots %d %+v", err, w.reboots, w.saved())
	}
	// A restart while draining drains and reboots, window or not.
	s := w.saved()
	s.Phase = Draining
	s.Save(w.state)
	d3 := w.windowed("1.0.0", "boot3", clock)
	d3.After = never
	if err := d3.Cycle(ctx2); err != nil || w.reboots != 2 || w.saved().Phase != Rebooting {
		t.Fatalf("draining outside the window: %v reboots %d %+v", err, w.reboots, w.saved())
	}
}

// clockedCluster notes the fake clock's time at each Acquire.
type clockedCluster struct {
	*fakeCluster
	now      func() time.Time
	acquired []time.Time
}

func (c *clockedCluster) Acquire(ctx context.Context) (bool, error) {
	c.acquired = append(c.acquired, c.now())
	return c.fakeCluster.Acquire(ctx)
}

// TestRebootWindowCloses: the window closes while another machine holds
// the lock; the daemon stops trying until the next week's window.
func TestRebootWindowCloses(t *testing.T) {
	w := newWorld(t)
	w.publish("1.1.0")
	w.cluster.free = false
	clock := &fakeClock{now: time.Date(2026, 11, 26, 4, 59, 59, 990_000_000, time.UTC)}
	cl := &clockedCluster{fakeCluster: w.cluster, now: clock.Now}
	d := w.daemon("1.0.0", "boot1")
	d.Window, d.Now, d.Cluster = thursday4(t), clock.Now, cl
	nextWeek := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	var sawWait bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.After = func(dur time.Duration) <-chan time.Time {
		if len(cl.acquired) > 2 { // trying outside the window: stop
			cancel()
		}
		now := clock.Advance(dur)
		if strings.Contains(d.state().LastError, "(opens 2026-12-03T04:00:00Z)") {
			sawWait = true
		}
		if !now.Before(nextWeek) { // the other machine is done
			w.cluster.mu.Lock()
			w.cluster.free = true
			w.cluster.mu.Unlock()
		}
		return fired(now)
	}
	// The download and write happen at the frozen 04:59:59.99.
	if err := d.Cycle(ctx); err != nil || w.reboots != 1 {
		t.Fatalf("%v reboots %d, tried for the lock at %v", err, w.reboots, cl.acquired)
	}
	if !sawWait {
		t.Error("never said it waits for the next week's window")
	}
	if len(cl.acquired) != 2 {
		t.Fatalf("acquired at %v, want once this week and once the next", cl.acquired)
	}
	for _, at := range cl.acquired {
		if !d.Window.Contains(at) {
			t.Errorf("asked for the lock at %s, outside %s", at, d.Window)
		}
	}
	if got := cl.acquired[1]; !got.Equal(time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)) {
		t.Errorf("second try at %s, want as the window opens", got)
	}
}

// TestReplayedPointerAfterRestart: the highest pointer serial a node has
// accepted is kept in state.json, so a daemon started again (after a
// reboot or a crash) still refuses an older signed pointer that a server
// replays, and says why.
func TestReplayedPointerAfterRestart(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.publish("1.0.0")
	w.publish("1.1.0") // serial 2
	old := map[string][]byte{}
	for _, n := range []string{"stable.json", "stable.json.sig"} {
		old[n], _ = os.ReadFile(filepath.Join(w.out, n))
	}
	w.publish("1.2.0") // serial 3
	if err := w.daemon("1.2.0", "boot1").Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w.saved(); s.Phase != Idle || s.PointerSerial != 3 {
		t.Fatalf("after checking serial 3: %+v", s)
	}
	for n, b := range old {
		os.WriteFile(filepath.Join(w.out, n), b, 0o644)
	}
	err := w.daemon("1.2.0", "boot2").Cycle(ctx)
	if !errors.Is(err, payload.ErrReplayed) {
		t.Fatalf("replayed pointer after a restart: %v, want ErrReplayed", err)
	}
	if s := w.saved(); s.PointerSerial != 3 || !strings.Contains(s.LastError, "older than the last seen serial 3") {
		t.Errorf("state after the replay: %+v", s)
	}
}
