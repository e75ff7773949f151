package remote_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestFleetdMovesHostBridge is the OS wiring of the cluster network: a
// host (as init) sets its bridge up on the boot-time subnet and serves the
// unit manager; fleetd, given --unit-manager unix:, claims its subnet of
// the cluster network and the host's bridge moves there before any unit
// runs. All in a network namespace of the test's.
func TestFleetdMovesHostBridge(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "ip")
	testenv.NeedCommand(t, "nsenter")
	ns := clustertest.NewNetns(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	logf, err := os.Create(filepath.Join(dir, "host.log"))
	if err != nil {
		t.Fatal(err)
	}
	host := exec.Command("nsenter", "--net=/run/netns/"+ns.Name, buildHost(t), "serve", "-socket", sock, "-dir", filepath.Join(dir, "data"),
		"-bridge-subnet", "10.88.0.0/24")
	host.Stdout, host.Stderr = logf, logf
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = host.Process.Signal(syscall.SIGTERM)
		_ = host.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("---- host log ----\n%s", b)
		}
	})
	dial(t, sock).Close() // waits for the socket

	c := clustertest.New(t, 1, 0)
	c.EnableTLS(ns.HostIP, ns.NsIP)
	n := c.Nodes[0]
	n.Netns, n.Host = ns.Name, ns.NsIP
	n.Extra = []string{"--unit-manager", "unix:" + sock, "--bridge-subnet", "10.88.7.0/24", "--network-backend", "host-gw"}
	c.StartAll()

	if err := testutil.Eventually(10*time.Second, func() error {
		out, err := exec.Command("ip", "-n", ns.Name, "-4", "addr", "show", "flotilla0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "10.88.7.1/24") || strings.Contains(string(out), "10.88.0.1/") {
			return fmt.Errorf("host bridge: %v\n%s", err, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cli, err := c.EtcdClient(n)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subs, _, err := registry.New(cli).Subnets(ctx)
	if err != nil || subs["10.88.7.0/24"].Machine != n.MachineID() {
		t.Fatalf("subnets %v, %v; want 10.88.7.0/24 held by %s", subs, err, n.MachineID())
	}
}
