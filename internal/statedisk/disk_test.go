package statedisk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// fakeSys builds a /sys/class/block look-alike: devices/<disk>/<part>/uevent
// with class/block/<name> symlinks, as the kernel lays it out.
func fakeSys(t *testing.T, disks map[string][]string) string {
	root := t.TempDir()
	class := filepath.Join(root, "class", "block")
	os.MkdirAll(class, 0o755)
	for disk, parts := range disks {
		dd := filepath.Join(root, "devices", disk)
		os.MkdirAll(dd, 0o755)
		os.WriteFile(filepath.Join(dd, "uevent"), []byte("MAJOR=254\nDEVNAME="+disk+"\nDEVTYPE=disk\n"), 0o644)
		os.WriteFile(filepath.Join(dd, "size"), []byte("2097152\n"), 0o644)
		os.Symlink(dd, filepath.Join(class, disk))
		for i, pn := range parts {
			name := disk + string(rune('1'+i))
			pd := filepath.Join(dd, name)
			os.MkdirAll(pd, 0o755)
			os.WriteFile(filepath.Join(pd, "uevent"), []byte("MAJOR=254\nDEVNAME="+name+"\nDEVTYPE=partition\nPARTN=1\nPARTNAME="+pn+"\n"), 0o644)
			os.Symlink(pd, filepath.Join(class, name))
		}
	}
	return class
}

func TestFindDisk(t *testing.T) {
	sys := fakeSys(t, map[string][]string{
		"vda": {"ESP", "ROOT-A", "ROOT-B", "STATE"},
		"vdb": {"data"},
	})
	d, err := FindDisk(sys, "ROOT-B")
	if err != nil || d == nil {
		t.Fatalf("FindDisk = %v, %v", d, err)
	}
	if d.Dev != "/dev/vda" || d.Parts["STATE"] != "/dev/vda4" || d.Parts["ESP"] != "/dev/vda1" || d.Parts["data"] != "" {
		t.Errorf("FindDisk = %+v", d)
	}
	if n, err := BlockSize(sys, "vda"); err != nil || n != 1<<30 {
		t.Errorf("BlockSize = %d, %v", n, err)
	}
	if d, _ := FindDisk(sys, "ROOT-C"); d != nil {
		t.Errorf("FindDisk(ROOT-C) = %+v, want nil", d)
	}
}

func TestWaitDiskTimesOutNamingWhatItSaw(t *testing.T) {
	sys := fakeSys(t, map[string][]string{"vda": {"ESP", "ROOT-A"}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := WaitDisk(ctx, sys, "ROOT-A", "STATE")
	if err == nil || !strings.Contains(err.Error(), "vda2(ROOT-A)") || !strings.Contains(err.Error(), "STATE") {
		t.Errorf("WaitDisk error = %v", err)
	}
}

func TestStateAction(t *testing.T) {
	for _, tc := range []struct {
		part, fs int64
		ext4     bool
		want     string
	}{
		{1 << 30, 0, false, "fresh"},
		{1 << 30, 1 << 30, true, "existing"},
		{1<<30 + 512<<10, 1 << 30, true, "existing"},
		{8 << 30, 1 << 30, true, "grown"},
	} {
		if got := StateAction(tc.part, tc.fs, tc.ext4); got != tc.want {
			t.Errorf("StateAction(%d, %d, %v) = %s, want %s", tc.part, tc.fs, tc.ext4, got, tc.want)
		}
	}
}

// TestExt4Size reads the superblock the real mke2fs writes.
func TestExt4Size(t *testing.T) {
	testenv.NeedCommand(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "state.img")
	f, _ := os.Create(img)
	f.Truncate(64 << 20)
	f.Close()
	if _, ok, err := Ext4Size(img); ok || err != nil {
		t.Fatalf("empty file: Ext4Size ok=%v err=%v, want not ext4", ok, err)
	}
	if out, err := exec.Command("mke2fs", "-t", "ext4", "-L", "STATE", "-q", "-F", img, "48M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	size, ok, err := Ext4Size(img)
	if err != nil || !ok || size != 48<<20 {
		t.Errorf("Ext4Size = %d, %v, %v; want %d", size, ok, err, 48<<20)
	}
	if got := StateAction(64<<20, size, ok); got != "grown" {
		t.Errorf("StateAction = %s, want grown", got)
	}
}
