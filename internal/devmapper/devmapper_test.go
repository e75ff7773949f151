package devmapper

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/initramfs"
	"github.com/flotilla-os/flotilla/internal/kernel"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/verity"
	"github.com/flotilla-os/flotilla/internal/vm"
)

func TestTableBody(t *testing.T) {
	body, err := tableBody([]Target{{Length: 8, Type: "verity", Params: "1 a b"}, {Start: 8, Length: 8, Type: "zero"}})
	if err != nil {
		t.Fatal(err)
	}
	// 40-byte spec + "1 a b\0" = 46 → 48; then 40 + "\0" → 48.
	if len(body) != 96 || string(body[40:45]) != "1 a b" || body[45] != 0 || string(body[48+24:48+28]) != "zero" {
		t.Errorf("body = %q", body)
	}
	if _, err := tableBody([]Target{{Type: strings.Repeat("x", 16)}}); err == nil {
		t.Error("a 16-byte target type was accepted")
	}
	if _, err := Create("a/b", true, Target{Type: "zero"}); err == nil || !strings.Contains(err.Error(), "bad device name") {
		t.Errorf("Create(a/b) = %v", err)
	}
}

// TestVerityInVM boots Debian's kernel (this host's own has no
// device-mapper) on an initramfs whose /init is testdata/dmcheck: it opens
// a disk through dm-verity with this package, reads it whole (status V),
// flips one data byte on the disk and finds that block's read failing with
// EIO while its neighbour still reads (status C).
func TestVerityInVM(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	k, err := kernel.Find("/")
	if errors.Is(err, kernel.ErrNoKernel) {
		t.Skip("needs Debian's linux-image-amd64 installed (the setup script installs it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	mods, err := k.Closure("virtio_pci", "virtio_blk", "dm_verity")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.img")
	data := make([]byte, 600*verity.BlockSize)
	rand.Read(data)
	if err := os.WriteFile(disk, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := verity.AppendTree(disk, []byte("salt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 4<<20); err != nil {
		t.Fatal(err)
	}
	cb, _ := json.Marshal(map[string]any{"Params": p, "FlipBlock": 300})
	check := filepath.Join(dir, "dmcheck.json")
	if err := os.WriteFile(check, cb, 0o644); err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(dir, "dmcheck")
	cmd := exec.Command("go", "build", "-trimpath", "-o", init, "./testdata/dmcheck")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build dmcheck: %v\n%s", err, b)
	}
	rd := filepath.Join(dir, "initramfs.img")
	if err := initramfs.Build(initramfs.Options{Out: rd, Init: init, Kernel: k, Modules: mods,
		Files: map[string]string{"/dmcheck.json": check}, Commands: []string{}, SourceDateEpoch: 1,
		TempDir: dir, Logf: t.Logf}); err != nil {
		t.Fatal(err)
	}
	v, err := vm.Run(context.Background(), vm.Options{Name: "dmcheck", Dir: vm.LogDir(t), Disk: disk,
		Kernel: k.Image, Initrd: rd, Append: "console=ttyS0 panic=-1 loglevel=4", NoUserNet: true, Logf: t.Logf},
		150*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	log := v.Log()
	if !strings.Contains(log, "DMCHECK PASS") {
		t.Fatalf("dmcheck did not pass; console:\n%s", log)
	}
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "DMCHECK") || strings.Contains(l, "verity") {
			t.Log(strings.TrimSpace(l))
		}
	}
}
