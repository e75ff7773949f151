package diskimage

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

func TestESP(t *testing.T) {
	testenv.NeedCommand(t, "fsck.vfat")
	testenv.NeedCommand(t, "mdir")
	testenv.NeedCommand(t, "mtype")
	tr, want := testTree(t)
	if err := tr.AddBytes("EFI/Linux/flotilla-1.2.3+3.efi", want["bin/fleetd"], 0o644); err != nil {
		t.Fatal(err)
	}
	want["EFI/Linux/flotilla-1.2.3+3.efi"] = want["bin/fleetd"]
	dir := t.TempDir()
	img := filepath.Join(dir, "esp.img")
	if err := ESP(tr, DefaultLayout.ESP, img, testEpoch); err != nil {
		t.Fatal(err)
	}
	if tr.Lookup("EFI/BOOT") != nil {
		t.Error("ESP modified the caller's tree")
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() != DefaultLayout.ESP {
		t.Fatalf("stat %s: %v %v", img, fi, err)
	}
	fsck := run(t, "fsck.vfat", "-n", "-v", img)
	for _, bad := range []string{"Fixing", "uninitialized", "differences", "Invalid"} {
		if strings.Contains(fsck, bad) {
			t.Errorf("fsck.vfat -n complains (%q):\n%s", bad, fsck)
		}
	}

	listing := run(t, "mdir", "-i", img, "-/", "-a", "::")
	id, err := fatVolumeID(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range append([]string{"Volume in drive : is ESP", "Volume Serial Number is " + id,
		"2023-11-14  22:13"}, ESPDirs...) {
		if !strings.Contains(listing, w) && !strings.Contains(listing, "Directory for ::/"+w) {
			t.Errorf("mdir lacks %q:\n%s", w, listing)
		}
	}
	if strings.Contains(listing, "  2026-") || strings.Contains(listing, "  2025-") {
		t.Errorf("mdir shows a build-time timestamp:\n%s", listing)
	}
	if id == "0000-0000" {
		t.Error("volume ID is zero")
	}
	for p, b := range want {
		got, err := exec.Command("mtype", "-i", img, "::/"+p).Output()
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("mtype %s: %d bytes, want %d (%v)", p, len(got), len(b), err)
		}
	}

	again := filepath.Join(dir, "again.img")
	if err := ESP(tr, DefaultLayout.ESP, again, testEpoch); err != nil {
		t.Fatal(err)
	}
	sameFile(t, img, again)

	// Different contents, different volume ID.
	if err := tr.AddBytes("flotilla/other", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.img")
	if err := ESP(tr, DefaultLayout.ESP, other, testEpoch); err != nil {
		t.Fatal(err)
	}
	if id2, _ := fatVolumeID(other); id2 == id {
		t.Errorf("volume ID %s did not change with the contents", id)
	}
}

// TestFAT32Sizes runs fsck on sizes where go-diskfs's FAT is too small for
// its data area (64 MiB) and on the smallest FAT32.
func TestFAT32Sizes(t *testing.T) {
	testenv.NeedCommand(t, "fsck.vfat")
	tr, _ := testTree(t)
	for _, size := range []int64{34 * MiB, 64 * MiB, 100 * MiB, 256 * MiB} {
		img := filepath.Join(t.TempDir(), "esp.img")
		if err := ESP(tr, size, img, testEpoch); err != nil {
			t.Errorf("%d MiB: %v", size/MiB, err)
			continue
		}
		fsck := run(t, "fsck.vfat", "-n", img)
		if strings.Count(fsck, "\n") != 2 {
			t.Errorf("%d MiB: fsck.vfat -n says more than its banner and summary:\n%s", size/MiB, fsck)
		}
	}
}

func TestESPMount(t *testing.T) {
	testenv.NeedRoot(t)
	if fss, _ := os.ReadFile("/proc/filesystems"); !bytes.Contains(fss, []byte("\tvfat\n")) {
		t.Skip("the running kernel has no vfat (modprobe vfat); fsck.vfat and mtools still check the image")
	}
	tr, want := testTree(t)
	img := filepath.Join(t.TempDir(), "esp.img")
	if err := ESP(tr, 64*MiB, img, testEpoch); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	run(t, "mount", "-t", "vfat", "-o", "loop,ro", img, mnt)
	defer run(t, "umount", mnt)
	for p, b := range want {
		got, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: %d bytes, want %d (%v)", p, len(got), len(b), err)
		}
	}
	fi, err := os.Stat(filepath.Join(mnt, "loader/loader.conf"))
	if err != nil || fi.ModTime().Unix() != testEpoch {
		t.Errorf("loader.conf mtime %v (%v), want the epoch", fi.ModTime(), err)
	}
}

func TestFAT32Errors(t *testing.T) {
	dir := t.TempDir()
	var tr Tree
	if err := tr.AddSymlink("EFI/x", "y"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"symlink":   FAT32(&tr, 64*MiB, filepath.Join(dir, "a"), "ESP", testEpoch),
		"epoch":     FAT32(&Tree{}, 64*MiB, filepath.Join(dir, "b"), "ESP", 0),
		"label":     FAT32(&Tree{}, 64*MiB, filepath.Join(dir, "c"), "A-LABEL-TOO-LONG", testEpoch),
		"too small": FAT32(&Tree{}, 1*MiB, filepath.Join(dir, "d"), "ESP", testEpoch),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed builds left files: %v", ents)
	}
}
