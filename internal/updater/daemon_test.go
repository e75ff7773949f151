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
	if _, err := payload.Publish(w.key, dir, w.out, false); err != nil {
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
