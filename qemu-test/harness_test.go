package qemutest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/vm"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

const bootTimeout = 4 * time.Minute

var (
	// updatePort is where the tests' update server listens on the host's
	// loopback; guests reach it at 10.0.2.2 through QEMU's user network.
	updatePort int
	buildOnce  sync.Once
	built      *imagebuild.Result
	builtDir   string
	buildErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" && os.Getenv("FLOTILLA_KEEP") == "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// needVM skips unless slow tests are asked for and QEMU is installed.
func needVM(t *testing.T) {
	t.Helper()
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	testenv.NeedCommand(t, "ip")
}

// image builds the OS once per test binary: three-node configs and a
// busybox image archive baked in.
func image(t *testing.T) (*imagebuild.Result, string) {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "flotilla-qemu-test-")
		if buildErr != nil {
			return
		}
		clustertest.BusyboxAll(t) // skips without Debian's busybox-static
		archive := filepath.Join(builtDir, "busybox.tar")
		if buildErr = clustertest.WriteBusyboxArchive(archive); buildErr != nil {
			return
		}
		updatePort = clustertest.FreePorts(t, 1)[0]
		key, err := payload.LoadOrCreateKey(filepath.Join(builtDir, "update.key"))
		if err != nil {
			buildErr = err
			return
		}
		start := time.Now()
		built, buildErr = imagebuild.Build(context.Background(), imagebuild.Options{
			Out: filepath.Join(builtDir, "out"), Version: "1.0.0", Nodes: 3,
			Images: []string{archive}, SourceDateEpoch: 1700000000, DebugShell: true,
			Update: &bootconfig.Update{URL: fmt.Sprintf("http://10.0.2.2:%d/", updatePort),
				PublicKey: payload.PublicKeyString(key), Interval: "5s", Channel: "stable"},
			Logf: func(f string, a ...any) { t.Logf("image-build: "+f, a...) },
		})
		t.Logf("image-build took %s", time.Since(start).Round(time.Second))
	})
	if buildErr != nil {
		t.Fatalf("image-build: %v", buildErr)
	}
	return built, filepath.Join(builtDir, "out")
}

// node is one booted VM with its API forwarded to a host loopback port.
type node = vmcluster.Node

// vmOptions are the options every test boots with; serial logs go to
// $FLOTILLA_VM_LOGS/<test> when set, else to the test's temp dir.
func vmOptions(t *testing.T, res *imagebuild.Result, out string, uefi bool) vmcluster.Options {
	return vmcluster.Options{Res: res, Out: out, UEFI: uefi, Grow: 2 << 30, Dir: vm.LogDir(t), DiskDir: t.TempDir()}
}

func waitReady(t *testing.T, ctx context.Context, n *node) time.Duration {
	t.Helper()
	d, err := n.WaitReady(ctx, bootTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: fleetd ready %.1f s after QEMU started", n.Name, d.Seconds())
	return d
}

// fleetctl runs the image's fleetctl on the host against n's forwarded API
// with the client bundle.
func fleetctl(t *testing.T, out string, n *node, args ...string) (string, error) {
	t.Helper()
	full := append(vmcluster.FleetctlArgs(out, n.Port), append([]string{"--request-timeout", "10"}, args...)...)
	b, err := exec.Command(vmcluster.Fleetctl(out), full...).CombinedOutput()
	return string(b), err
}

// eventually polls f once a second until it returns nil, and fails the test
// when timeout passes. Each poll is a fleetctl process, a TLS handshake and
// registry reads that the node asked pays for with its one emulated CPU:
// polling back to back (testutil.Eventually's 50 ms, right for loopback) kept
// node-1 of the three-node cluster so busy that its lease renewals failed
// and it fenced its units again and again.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	eventuallyEvery(t, time.Second, timeout, what, f)
}

// eventuallyEvery is eventually with its own interval, for the short waits
// whose length is the figure measured (failover).
func eventuallyEvery(t *testing.T, every, timeout time.Duration, what string, f func() error) {
	t.Helper()
	if err := testutil.EventuallyEvery(every, timeout, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func writeUnit(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
