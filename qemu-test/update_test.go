package qemutest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

var (
	versionsMu sync.Mutex
	versions   = map[string]string{} // version → payload dir
)

// payloadOf builds version v of the OS (broken: with an init that panics)
// once per test binary and returns its payload directory.
func payloadOf(t *testing.T, v, broken string) string {
	t.Helper()
	image(t)
	versionsMu.Lock()
	defer versionsMu.Unlock()
	if dir, ok := versions[v]; ok {
		return dir
	}
	start := time.Now()
	res, err := imagebuild.Build(context.Background(), imagebuild.Options{
		Out: filepath.Join(builtDir, "v"+v), Version: v, SourceDateEpoch: 1700000000, BrokenInit: broken,
		Logf: func(f string, a ...any) { t.Logf("image-build %s: "+f, append([]any{v}, a...)...) },
	})
	if err != nil {
		t.Fatalf("image-build %s: %v", v, err)
	}
	t.Logf("image-build %s took %s", v, time.Since(start).Round(time.Second))
	versions[v] = res.Payload
	return res.Payload
}

// updateServer is `updater serve` on the host's loopback port the images
// poll, over a directory that `updater publish` fills.
type updateServer struct {
	dir, out string
}

func startUpdateServer(t *testing.T, out string) *updateServer {
	t.Helper()
	s := &updateServer{dir: t.TempDir(), out: out}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, updaterBin(out), "serve", "--dir", s.dir, "--listen", fmt.Sprintf("127.0.0.1:%d", updatePort))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	return s
}

func updaterBin(out string) string { return filepath.Join(out, "build", "bin", "updater") }

// publish signs a payload as it stands into the served directory.
func (s *updateServer) publish(t *testing.T, payloadDir string) {
	t.Helper()
	cmd := exec.Command(updaterBin(s.out), "publish", "--key", filepath.Join(builtDir, "update.key"), "--out", s.dir, payloadDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("updater publish %s: %v\n%s", payloadDir, err, out)
	}
}

// machineRow is list-machines' machine, version and update fields.
type machineRow struct{ machine, version, update string }

func machines(t *testing.T, out string, n *node) ([]machineRow, error) {
	o, err := fleetctl(t, out, n, "list-machines", "--no-legend", "--full", "--fields", "machine,version,update")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, o)
	}
	var rows []machineRow
	for _, line := range strings.Split(strings.TrimSpace(o), "\n") {
		f := strings.SplitN(line, "\t", 3)
		for len(f) < 3 {
			f = append(f, "")
		}
		rows = append(rows, machineRow{strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), strings.TrimSpace(f[2])})
	}
	return rows, nil
}

// waitMachine waits until the node's own row shows version and an update
// state containing update.
func waitMachine(t *testing.T, ctx context.Context, out string, n *node, version, update string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last []machineRow
	for time.Since(start) < timeout {
		if rows, err := machines(t, out, n); err == nil && len(rows) == 1 {
			last = rows
			if rows[0].version == version && strings.Contains(rows[0].update, update) {
				return time.Since(start)
			}
		}
		if n.VM.Exited() {
			t.Fatalf("%s: QEMU exited; console:\n%s", n.Name, tail(n.VM.Log(), 4000))
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Second):
		}
	}
	t.Fatalf("%s: not on %s with update %q within %s; last list-machines %v; console:\n%s", n.Name, version, update, timeout, last, tail(n.VM.Log(), 4000))
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestUpdate: a one-node v1 → v2 update applies, reboots into v2 through
// systemd-boot and is blessed; then a v3 whose init panics is tried, runs
// out of boot tries, systemd-boot falls back to v2 on its own, and the
// updater reports v3 as failed.
func TestUpdate(t *testing.T) {
	needVM(t)
	res, out := image(t)
	v2, v3 := payloadOf(t, "1.1.0", ""), payloadOf(t, "1.2.0", "update test v3")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	opts := vmOptions(t, res, out, true)
	opts.Reboots = true
	n, err := vmcluster.Boot(ctx, opts, 1, "update", res.Disk, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.VM.Kill)
	waitReady(t, ctx, n)
	srv := startUpdateServer(t, out)

	published := time.Now()
	srv.publish(t, v2)
	d := waitMachine(t, ctx, out, n, "1.1.0", "blessed", 8*time.Minute)
	fmt.Printf("qemu-test: v1 → v2 (published to running v2 and blessed, one node, TCG): %.1f s\n", d.Seconds())
	t.Logf("v1 → v2: published to blessed in %.1f s (%s after publish)", d.Seconds(), time.Since(published).Round(time.Second))

	srv.publish(t, v3)
	waitMachine(t, ctx, out, n, "1.1.0", "failed:1.2.0", 12*time.Minute)
	log := n.VM.Log()
	if c := strings.Count(log, "built broken on purpose"); c < 1 {
		t.Errorf("v3's init never ran (%d panics seen); the fallback proves nothing:\n%s", c, tail(log, 3000))
	} else {
		t.Logf("v3 panicked %d times before systemd-boot fell back to v2", c)
	}
}

// TestUpdatePowerCut cuts the power (SIGKILL of QEMU) while v2 is being
// written to the inactive slot and again when the node starts to drain
// before the ESP is updated. Every restart boots a working system, and the
// update resumes and ends blessed.
func TestUpdatePowerCut(t *testing.T) {
	needVM(t)
	res, out := image(t)
	v2 := payloadOf(t, "1.1.0", "")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	opts := vmOptions(t, res, out, true)
	opts.Reboots = true
	disk, err := vmcluster.CopyDisk(opts, "powercut", res.Disk)
	if err != nil {
		t.Fatal(err)
	}
	boot := func(i int) *node {
		o := opts
		n, err := vmcluster.Start(ctx, o, 1, fmt.Sprintf("powercut-%d", i), disk, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.VM.Kill)
		waitReady(t, ctx, n)
		return n
	}
	n := boot(0)
	srv := startUpdateServer(t, out)
	srv.publish(t, v2)
	for i, at := range []string{"updater: writing 1.1.0", "updater: draining 1.1.0"} {
		if _, err := n.VM.WaitFor(ctx, at, 5*time.Minute, vmcluster.Fatal...); err != nil {
			t.Fatal(err)
		}
		n.VM.Kill()
		t.Logf("power cut at %q", at)
		n = boot(i + 1)
	}
	waitMachine(t, ctx, out, n, "1.1.0", "blessed", 8*time.Minute)
}

// TestRollingUpdate updates a three-node cluster from v1 to v2: at most one
// node is down at any moment, the cluster keeps answering (quorum), and the
// units keep running, moved while their node reboots. All end on v2; the
// total time and the longest gap in unit availability are printed.
func TestRollingUpdate(t *testing.T) {
	needVM(t)
	testenv.NeedRoot(t)
	res, out := image(t)
	v2 := payloadOf(t, "1.1.0", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	opts := vmOptions(t, res, out, true)
	opts.Reboots = true
	c, err := vmcluster.BootCluster(ctx, opts, fmt.Sprintf("flt-roll-%d", os.Getpid()%10000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, n := range c.Nodes {
		waitReady(t, ctx, n)
	}
	dir := t.TempDir()
	var files []string
	for i := 1; i <= 6; i++ {
		files = append(files, writeUnit(t, dir, fmt.Sprintf("roll@%d.service", i),
			"[Service]\nExecStart=/usr/bin/fleetctl --version\nType=oneshot\nRemainAfterExit=yes\n"))
	}
	eventually(t, 2*time.Minute, "start units", func() error {
		o, err := fleetctl(t, out, c.Nodes[0], append([]string{"start"}, files...)...)
		if err != nil {
			return fmt.Errorf("%v: %s", err, o)
		}
		return nil
	})

	srv := startUpdateServer(t, out)
	start := time.Now()
	srv.publish(t, v2)
	var (
		maxDown     int
		apiFailures int
		gapStart    time.Time
		longestGap  time.Duration
		blessedAll  bool
	)
	for !blessedAll && time.Since(start) < 20*time.Minute {
		var rows []machineRow
		var units map[string]unitRow
		var err error
		for _, n := range c.Nodes { // any node that answers
			if rows, err = machines(t, out, n); err == nil {
				units, err = listUnits(t, out, n)
				if err == nil {
					break
				}
			}
		}
		if err != nil {
			apiFailures++
			if apiFailures > 20 {
				t.Fatalf("no node answered for 20 polls in a row (quorum lost?): %v", err)
			}
		} else {
			apiFailures = 0
			down, blessed := 3-len(rows), 0
			for _, r := range rows {
				if strings.Contains(r.update, "draining") || strings.Contains(r.update, "rebooting") {
					down++
				}
				if r.version == "1.1.0" && strings.Contains(r.update, "blessed") {
					blessed++
				}
			}
			if down > 1 && down > maxDown {
				t.Logf("%d nodes down at %s: %d of 3 machines listed, %+v", down, time.Since(start).Round(time.Second), len(rows), rows)
			}
			maxDown = max(maxDown, down)
			blessedAll = blessed == 3 && len(rows) == 3
			active := 0
			for _, u := range units {
				if u.active == "active" {
					active++
				}
			}
			switch {
			case active < 6 && gapStart.IsZero():
				gapStart = time.Now()
			case active == 6 && !gapStart.IsZero():
				longestGap = max(longestGap, time.Since(gapStart))
				gapStart = time.Time{}
			}
		}
		time.Sleep(time.Second)
	}
	if !blessedAll {
		t.Fatalf("not every node on 1.1.0 and blessed after %s", time.Since(start).Round(time.Second))
	}
	if maxDown > 1 {
		t.Errorf("%d nodes were down or rebooting at once; the reboot lock allows 1", maxDown)
	}
	total := time.Since(start)
	fmt.Printf("qemu-test: rolling update of three nodes (TCG): %.0f s; longest gap in unit availability %.1f s\n", total.Seconds(), longestGap.Seconds())
	t.Logf("rolling update: %.0f s, at most %d node down at once, longest unit gap %.1f s", total.Seconds(), maxDown, longestGap.Seconds())
}
