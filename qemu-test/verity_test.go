package qemutest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/payload"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

// corruptPayload copies payloadDir with one byte of the root's first data
// block flipped, and its manifest made to match (the publisher's key signs
// it): the update downloads and writes, and only dm-verity, against the
// root hash in the same version's UKI, can tell.
func corruptPayload(t *testing.T, payloadDir string, off int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", payloadDir+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	root := filepath.Join(dir, "root.squashfs")
	f, err := os.OpenFile(root, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mpath := filepath.Join(dir, "manifest.json")
	mb, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m payload.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	rb, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(rb)
	m.Root.SHA256 = hex.EncodeToString(h[:])
	mb, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(mpath, append(mb, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestVerityFallback: v1 boots with its root through dm-verity, and the
// updater and list-machines say so. Then a v2 whose root has one flipped
// byte in its first data block (the squashfs superblock's block, read by
// every mount) is published with a manifest that matches it: the node
// downloads and writes it (its hash is the signed one), reboots into it,
// dm-verity fails the mount, stage 1 reboots, and once systemd-boot's
// tries run out the node is back on v1 with v2 marked failed.
func TestVerityFallback(t *testing.T) {
	needVM(t)
	res, out := image(t)
	if res.Verity.DataBlocks == 0 {
		t.Fatal("image-build made no dm-verity tree")
	}
	v2 := corruptPayload(t, payloadOf(t, "1.1.0", ""), 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	opts := vmOptions(t, res, out, true)
	opts.Reboots = true
	n, err := vmcluster.Boot(ctx, opts, 1, "verity", res.Disk, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.VM.Kill)
	if _, err := n.VM.WaitFor(ctx, "flotilla: ROOT-A opened through dm-verity", bootTimeout, vmcluster.Fatal...); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ctx, n)
	eventually(t, 2*time.Minute, "list-machines shows the root verified", func() error {
		o, err := fleetctl(t, out, n, "list-machines", "--no-legend", "--full", "--fields", "machine,version,root")
		if err != nil || !strings.Contains(o, "verified") {
			return &waitErr{o, err}
		}
		t.Logf("list-machines: %s", strings.TrimSpace(o))
		return nil
	})

	srv := startUpdateServer(t, out)
	srv.publish(t, v2)
	waitMachine(t, ctx, out, n, "1.0.0", "failed:1.1.0", 15*time.Minute)
	log := n.VM.Log()
	for _, want := range []string{"device-mapper: verity", "is corrupted", "FATAL: mount ROOT-B"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, tail(log, 4000))
		}
	}
	t.Logf("v2's corrupt root failed %d boots before systemd-boot fell back to v1", strings.Count(log, "FATAL: mount ROOT-B"))
}

type waitErr struct {
	out string
	err error
}

func (e *waitErr) Error() string {
	if e.err != nil {
		return e.err.Error() + ": " + e.out
	}
	return "got: " + e.out
}
