package bootslot

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// slotLoop builds a Flotilla GPT disk with diskimage.Disk and attaches
// ROOT-B's byte range as a loop device (the host kernel may lack GPT
// partition scanning; -o/--sizelimit needs none).
func slotLoop(t *testing.T) (dev string, img string, off int64) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "losetup")
	img = filepath.Join(t.TempDir(), "disk.img")
	l := diskimage.Layout{ESP: 8 * diskimage.MiB, Root: 16 * diskimage.MiB, State: 8 * diskimage.MiB}
	if err := diskimage.Disk(img, l.Parts("", "", ""), diskimage.DiskOptions{Seed: "bootslot"}); err != nil {
		t.Fatal(err)
	}
	off = diskimage.MiB + l.ESP + l.Root // ROOT-B
	out, err := exec.Command("losetup", "--find", "--show", "-o", strconv.FormatInt(off, 10),
		"--sizelimit", strconv.FormatInt(l.Root, 10), img).CombinedOutput()
	if err != nil {
		t.Skipf("losetup: %v %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev, img, off
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(int64(n))).Read(b)
	return b
}

func TestWriteSlotLoop(t *testing.T) {
	dev, img, off := slotLoop(t)
	data := randBytes(9*ChunkSize/4 + 777) // not a multiple of a chunk or a sector
	var seen []int64
	if err := WriteSlot(context.Background(), dev, bytes.NewReader(data), int64(len(data)), sha(data), func(n int64) { seen = append(seen, n) }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[2] != int64(len(data)) {
		t.Errorf("progress %v", seen)
	}
	// What the disk image holds at ROOT-B's offset, read without the loop.
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(data))
	if _, err := f.ReadAt(got, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("disk image does not hold the slot data at ROOT-B")
	}
	// ROOT-A (before) and STATE (after) untouched: still zero.
	z := make([]byte, 4096)
	for _, o := range []int64{off - 4096, off + 16*diskimage.MiB} {
		f.ReadAt(z, o)
		if !bytes.Equal(z, make([]byte, 4096)) {
			t.Errorf("bytes at %d changed", o)
		}
	}

	// Too big for the slot.
	big := int64(17 * diskimage.MiB)
	if err := WriteSlot(context.Background(), dev, io.LimitReader(zero{}, big), big, sha(nil), nil); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("too big: %v", err)
	}
	// Truncated stream: error, and the slot's first 4 KiB cleared.
	err = WriteSlot(context.Background(), dev, bytes.NewReader(data[:len(data)-10]), int64(len(data)), sha(data), nil)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	f.ReadAt(z, off)
	if !bytes.Equal(z, make([]byte, 4096)) {
		t.Error("slot not cleared after a failed write")
	}
	// Wrong hash.
	bad := sha([]byte("other"))
	if err := WriteSlot(context.Background(), dev, bytes.NewReader(data), int64(len(data)), bad, nil); err == nil || !strings.Contains(err.Error(), "manifest says "+bad) {
		t.Errorf("hash mismatch: %v", err)
	}
	// Longer than the size.
	if err := WriteSlot(context.Background(), dev, bytes.NewReader(data), int64(len(data)-1), sha(data[:len(data)-1]), nil); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Errorf("longer: %v", err)
	}
	// Cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteSlot(ctx, dev, bytes.NewReader(data), int64(len(data)), sha(data), nil); err == nil {
		t.Error("cancelled write: no error")
	}
}

// TestWriteSlotMounted: the active slot is mounted; WriteSlot refuses it.
func TestWriteSlotMounted(t *testing.T) {
	dev, _, _ := slotLoop(t)
	testenv.NeedCommand(t, "mkfs.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v %s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("mount %s: %v %s", dev, err, out)
	}
	defer exec.Command("umount", mnt).Run()
	data := []byte("x")
	err := WriteSlot(context.Background(), dev, bytes.NewReader(data), 1, sha(data), nil)
	if err == nil || !strings.Contains(err.Error(), "mounted at "+mnt) {
		t.Fatalf("mounted slot: %v", err)
	}
}

// TestWriteSlotFile: a regular file stands in for the device (no root).
func TestWriteSlotFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "slot")
	if err := os.WriteFile(p, make([]byte, 3*ChunkSize), 0o644); err != nil {
		t.Fatal(err)
	}
	data := randBytes(ChunkSize + 5)
	if err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), sha(data), nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got[:len(data)], data) || len(got) != 3*ChunkSize {
		t.Error("file slot content or size wrong")
	}
	if err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), "abc", nil); err == nil {
		t.Error("bad sha accepted")
	}
}

func TestFindSlot(t *testing.T) {
	sys := t.TempDir()
	for name, pn := range map[string]string{"vda1": "ESP", "vda2": "ROOT-A", "vda3": "ROOT-B", "vda": ""} {
		d := filepath.Join(sys, name)
		os.MkdirAll(d, 0o755)
		ue := "DEVNAME=" + name + "\nDEVTYPE=disk\n"
		if pn != "" {
			ue = "MAJOR=254\nDEVNAME=" + name + "\nDEVTYPE=partition\nPARTNAME=" + pn + "\n"
		}
		os.WriteFile(filepath.Join(d, "uevent"), []byte(ue), 0o644)
	}
	slot, dev, err := Inactive(sys, "A")
	if err != nil || slot != "B" || dev != "/dev/vda3" {
		t.Fatalf("Inactive(A) = %s %s %v", slot, dev, err)
	}
	if slot, dev, _ := Inactive(sys, "B"); slot != "A" || dev != "/dev/vda2" {
		t.Errorf("Inactive(B) = %s %s", slot, dev)
	}
	if _, _, err := Inactive(sys, ""); err == nil {
		t.Error("no active slot accepted")
	}
	os.MkdirAll(filepath.Join(sys, "vdb3"), 0o755)
	os.WriteFile(filepath.Join(sys, "vdb3", "uevent"), []byte("DEVNAME=vdb3\nDEVTYPE=partition\nPARTNAME=ROOT-B\n"), 0o644)
	if _, err := FindSlot(sys, "B"); err == nil || !strings.Contains(err.Error(), "2 partitions") {
		t.Errorf("two disks: %v", err)
	}
}

type zero struct{}

func (zero) Read(b []byte) (int, error) { clear(b); return len(b), nil }
