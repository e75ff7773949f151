package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/flotilla-os/flotilla/internal/bootconfig"
	"github.com/flotilla-os/flotilla/internal/node"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/verity"
)

func sum(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestBuild builds the OS twice from the same inputs and epoch (sharing the
// PKI, which is created once per output directory) and checks that every
// artifact is byte-identical, that the real tools accept the disk, the root
// squashfs and the ESP, and that the sizes stay in budget.
func TestBuild(t *testing.T) {
	testenv.NeedSlow(t)
	for _, c := range []string{"sfdisk", "unsquashfs", "fsck.vfat", "mdir", "objcopy", "mksquashfs"} {
		testenv.NeedCommand(t, c)
	}
	dir := t.TempDir()
	build := func(out string) *Result {
		res, err := Build(context.Background(), Options{Out: out, Version: "1.2.3", Nodes: 3, SourceDateEpoch: 1700000000,
			Logf: func(f string, a ...any) { t.Logf(f, a...) }})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a := build(filepath.Join(dir, "a"))
	if err := os.MkdirAll(filepath.Join(dir, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "a", "pki"), filepath.Join(dir, "b")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	b := build(filepath.Join(dir, "b"))
	pairs := [][2]string{{a.Disk, b.Disk}, {a.Kernel, b.Kernel}, {a.Initramfs, b.Initramfs},
		{filepath.Join(a.Payload, "uki.efi"), filepath.Join(b.Payload, "uki.efi")},
		{filepath.Join(a.Payload, "root.squashfs"), filepath.Join(b.Payload, "root.squashfs")},
		{filepath.Join(a.Payload, "manifest.json"), filepath.Join(b.Payload, "manifest.json")}}
	for k := range a.NodeDisks {
		pairs = append(pairs, [2]string{a.NodeDisks[k], b.NodeDisks[k]})
	}
	for _, p := range pairs {
		if sa, sb := sum(t, p[0]), sum(t, p[1]); sa != sb {
			t.Errorf("not reproducible: %s (%s) and %s (%s)", p[0], sa[:12], p[1], sb[:12])
		}
	}

	// Payload and disk budgets (issue 4; 40 MB with the hash tree, issue 14).
	if n := a.Manifest.UKI.Size + a.Manifest.Root.Size; n > 40e6 {
		t.Errorf("payload is %d bytes, over 40 MB", n)
	}
	checkVerity(t, a)
	var st syscall.Stat_t
	if err := syscall.Stat(a.Disk, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size > 1.2e9 || st.Blocks*512 > 100e6 {
		t.Errorf("disk.img: %d bytes, %d of data; want ≤ 1.2 GB and ≤ 100 MB", st.Size, st.Blocks*512)
	}
	t.Logf("payload %.1f MB, disk %.2f GB with %.1f MB of data", float64(a.Manifest.UKI.Size+a.Manifest.Root.Size)/1e6,
		float64(st.Size)/1e9, float64(st.Blocks*512)/1e6)

	// The GPT, as sfdisk reads it.
	out, err := exec.Command("sfdisk", "--json", a.Disk).Output()
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		PartitionTable struct {
			Label      string
			Partitions []struct {
				Start, Size int64
				Type, Name  string
			}
		}
	}
	if err := json.Unmarshal(out, &table); err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, typ string }{{"ESP", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"},
		{"ROOT-A", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"}, {"ROOT-B", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"},
		{"STATE", "4D21B016-B534-45C2-A9FB-5C16E091FD2D"}}
	parts := table.PartitionTable.Partitions
	if table.PartitionTable.Label != "gpt" || len(parts) != len(want) {
		t.Fatalf("sfdisk: %s", out)
	}
	for i, w := range want {
		if parts[i].Name != w.name || !strings.EqualFold(parts[i].Type, w.typ) {
			t.Errorf("partition %d: %s %s, want %s %s", i+1, parts[i].Name, parts[i].Type, w.name, w.typ)
		}
	}

	// The root squashfs, as unsquashfs lists it.
	out, err = exec.Command("unsquashfs", "-ll", filepath.Join(a.Payload, "root.squashfs")).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	for _, p := range []string{"/sbin/init -> /usr/bin/flotilla", "/usr/bin/flotilla", "/usr/bin/fleetd -> flotilla", "/usr/bin/updater -> flotilla", "/usr/bin/fleetctl", "/usr/bin/flotilla-sandbox-init",
		"/usr/sbin/mke2fs", "/lib64/ld-linux-x86-64.so.2", "/etc/resolv.conf -> /run/resolv.conf", "/etc/os-release",
		"/bin -> usr/bin", "/usr/bin/busybox", "/usr/bin/sh -> busybox", "/usr/bin/sleep -> busybox"} {
		if !strings.Contains(string(out), p) {
			t.Errorf("root squashfs lacks %s", p)
		}
	}

	// The ESP, cut out of the disk and checked by fsck.vfat and mtools.
	esp := filepath.Join(dir, "esp.img")
	cut := exec.Command("dd", "if="+a.Disk, "of="+esp, "bs=512", fmt.Sprintf("skip=%d", parts[0].Start), fmt.Sprintf("count=%d", parts[0].Size), "status=none")
	if out, err := cut.CombinedOutput(); err != nil {
		t.Fatalf("dd: %v: %s", err, out)
	}
	if out, err := exec.Command("fsck.vfat", "-n", esp).CombinedOutput(); err != nil {
		t.Fatalf("fsck.vfat: %v\n%s", err, out)
	}
	for _, p := range []string{"::/EFI/BOOT/BOOTX64.EFI", "::/EFI/Linux/flotilla-1.2.3.efi", "::/loader/loader.conf", "::/flotilla/config.json"} {
		if out, err := exec.Command("mdir", "-i", esp, p).CombinedOutput(); err != nil {
			t.Errorf("ESP lacks %s: %v\n%s", p, err, out)
		}
	}
	cfgJSON, err := exec.Command("mtype", "-i", esp, "::/flotilla/config.json").Output()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := bootconfig.Parse(cfgJSON, "ESP config.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || !cfg.IsMember() {
		t.Errorf("the one-node config has no TLS or is not a member: %+v", cfg)
	}
	for _, f := range []string{"ca.pem", "client.pem", "client-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, "a", "client", f)); err != nil {
			t.Error(err)
		}
	}
}

// TestBuildErrors: a missing kernel names the Debian package; a bad
// version says what a version looks like.
func TestBuildErrors(t *testing.T) {
	_, err := Build(context.Background(), Options{Out: t.TempDir(), Version: "1.0.0", KernelRoot: t.TempDir(), Root: "."})
	if err == nil || !strings.Contains(err.Error(), "linux-image-amd64") {
		t.Errorf("no kernel: %v", err)
	}
	for _, v := range []string{"v1.0.0", "1.0", "1.0.0+3", "one"} {
		_, err := Build(context.Background(), Options{Out: t.TempDir(), Version: v, Root: "."})
		if err == nil || !strings.Contains(err.Error(), "--version") {
			t.Errorf("version %q: %v", v, err)
		}
	}
}

// checkVerity: the root's tree, as veritysetup verifies it, has the root
// hash that the UKI's command line carries.
func checkVerity(t *testing.T, res *Result) {
	t.Helper()
	c, err := node.ParseCmdline(res.Cmdline)
	if err != nil {
		t.Fatal(err)
	}
	if c.Verity != VerityCmdline(res.Verity) || !c.Verity.Enabled() {
		t.Fatalf("command line %q carries verity %+v, the build made %+v", res.Cmdline, c.Verity, res.Verity)
	}
	root := filepath.Join(res.Payload, "root.squashfs")
	f, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := verity.Verify(f, res.Verity); err != nil {
		t.Error(err)
	}
	if _, err := exec.LookPath("veritysetup"); err != nil {
		t.Log("no veritysetup: checked with our own Verify only")
		return
	}
	out, err := exec.Command("veritysetup", "verify", fmt.Sprintf("--hash-offset=%d", c.Verity.HashOffset),
		root, root, c.Verity.RootHash).CombinedOutput()
	if err != nil {
		t.Errorf("veritysetup verify %s: %v\n%s", root, err, out)
	}
}
