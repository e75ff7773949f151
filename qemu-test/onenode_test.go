package qemutest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/imagebuild"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

// containerUnit runs the busybox image baked into the root, on the node's
// bridge, and logs a marker.
const containerUnit = `[Unit]
Description=hello from a container on a booted Flotilla node

[Service]
MemoryMax=64M

[Container]
Image=docker-archive:` + imagebuild.ImagesDir + `/busybox.tar
Exec=sh -c 'echo hello-from-flotilla; ip -4 addr show eth0 | grep -q inet && echo bridge-ok; exec sleep 3600'
`

// TestOneNode boots DIR/disk.img alone, through the -kernel fast path and
// through OVMF and systemd-boot, and drives it from the host: fleetctl lists
// the machine over mutual TLS through a port forward, a container unit runs
// and logs, and the serial debug shell runs typed commands, one of which
// reads the unit's MemoryMax back from its cgroup.
func TestOneNode(t *testing.T) {
	needVM(t)
	res, out := image(t)
	for _, path := range []struct {
		name string
		uefi bool
	}{{"kernel", false}, {"uefi", true}} {
		t.Run(path.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			n, err := vmcluster.Boot(ctx, vmOptions(t, res, out, path.uefi), 1, "one-"+path.name, res.Disk, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(n.VM.Kill)
			t.Logf("QEMU: %s", strings.Join(n.VM.Cmdline, " "))
			if _, err := n.VM.WaitFor(ctx, "flotilla: stage1 slot=A", bootTimeout, vmcluster.Fatal...); err != nil {
				t.Fatal(err)
			}
			waitReady(t, ctx, n)
			log := n.VM.Log()
			if !strings.Contains(log, "flotilla: state mounted /var fresh") && !strings.Contains(log, "flotilla: state mounted /var grown") {
				t.Errorf("first boot did not format or grow STATE:\n%s", log)
			}

			var machines string
			eventually(t, 60*time.Second, "list-machines", func() error {
				o, err := fleetctl(t, out, n, "list-machines", "--no-legend", "--full")
				if err != nil {
					return fmt.Errorf("%v: %s", err, o)
				}
				if len(strings.Fields(o)) == 0 {
					return fmt.Errorf("no machines yet")
				}
				machines = o
				return nil
			})
			if lines := strings.Split(strings.TrimSpace(machines), "\n"); len(lines) != 1 {
				t.Fatalf("list-machines shows %d machines, want 1:\n%s", len(lines), machines)
			}
			t.Logf("list-machines: %s", strings.TrimSpace(machines))

			unit := writeUnit(t, t.TempDir(), "hello.service", containerUnit)
			if o, err := fleetctl(t, out, n, "start", unit); err != nil {
				t.Fatalf("fleetctl start: %v\n%s", err, o)
			}
			eventually(t, 120*time.Second, "hello.service active with its output in the journal", func() error {
				o, err := fleetctl(t, out, n, "journal", "--lines", "20", "hello.service")
				if err != nil {
					return fmt.Errorf("%v: %s", err, o)
				}
				if !strings.Contains(o, "hello-from-flotilla") || !strings.Contains(o, "bridge-ok") {
					st, _ := fleetctl(t, out, n, "status", "hello.service")
					return fmt.Errorf("journal so far:\n%s\nstatus:\n%s", o, st)
				}
				return nil
			})
			o, err := fleetctl(t, out, n, "list-units", "--no-legend")
			if err != nil || !strings.Contains(o, "active") {
				t.Fatalf("list-units: %v\n%s", err, o)
			}
			t.Logf("list-units: %s", strings.TrimSpace(o))
			// The image store is init's, served beside its unit manager on
			// the root-only socket: fleetd's API lists it from there.
			o, err = fleetctl(t, out, n, "images", "--no-legend")
			if err != nil || strings.TrimSpace(o) == "" {
				t.Fatalf("fleetctl images (the busybox archive the unit ran should be stored): %v\n%s", err, o)
			}
			t.Logf("images: %s", strings.TrimSpace(o))

			// flotilla.debug=1: stage 2's debug shell answers on the serial console.
			if _, err := n.VM.WaitFor(ctx, "flotilla: debug shell /bbin/gosh on", time.Minute, vmcluster.Fatal...); err != nil {
				t.Fatal(err)
			}
			// gosh's line editor first queries the terminal (colours, cursor
			// position; unanswered here, each waits out a timeout) and reads
			// raw keys: type only once its prompt is drawn, and end the line
			// with a carriage return, as the Enter key sends.
			if _, err := n.VM.WaitFor(ctx, "toggle key help", 2*time.Minute, vmcluster.Fatal...); err != nil {
				t.Fatalf("gosh drew no prompt: %v", err)
			}
			shell(t, ctx, n, "echo shell-$((6*7))-answers", "shell-42-answers")
			// The container unit's MemoryMax=64M, read back from its cgroup
			// on the node's pure cgroup v2.
			shell(t, ctx, n, "cat /sys/fs/cgroup/flotilla/hello.service/memory.max", "67108864")
		})
	}
}

// shell types line into gosh on the serial console and waits for want in
// the output. gosh's line editor (bubbletea) sometimes returns a line only
// once one more key arrives: its input reader on a serial tty is not
// always cancelled when the line ends. So when want is slow to come, one
// more Enter (an empty line, harmless) is typed.
func shell(t *testing.T, ctx context.Context, n *node, line, want string) {
	t.Helper()
	if err := n.VM.Type(line + "\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.VM.WaitFor(ctx, want, 20*time.Second, vmcluster.Fatal...); err == nil {
		return
	}
	t.Logf("no %q 20 s after typing %q; typing Enter once more", want, line)
	if err := n.VM.Type("\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.VM.WaitFor(ctx, want, time.Minute, vmcluster.Fatal...); err != nil {
		t.Fatalf("the debug shell did not answer %q with %q: %v\n%s", line, want, err, tail(n.VM.Log(), 2000))
	}
}
