package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/bootslot"
	"github.com/flotilla-os/flotilla/internal/diskimage"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/verity"
)

// BenchmarkSlotWrite writes a 200 MiB root with its dm-verity tree
// appended (as image-build makes it) into ROOT-B of a Flotilla disk (a
// loop device over diskimage.Disk's byte range for ROOT-B) with
// bootslot.WriteSlot (write, hash, fsync; no read-back: dm-verity checks
// the blocks at boot), and the same bytes with `dd bs=4M oflag=direct
// conv=fsync` to the same device, side by side, alternating. It reports
// both in MB/s and their ratio (target >= 0.9). WriteSlot's figure
// includes its hash of the stream.
//
//	go test -run '^$' -bench SlotWrite -benchtime 3x ./bench
func BenchmarkSlotWrite(b *testing.B) {
	testenv.NeedRoot(b)
	testenv.NeedCommand(b, "losetup")
	testenv.NeedCommand(b, "dd")
	const dataSize = 200 << 20
	dir := b.TempDir()
	img := filepath.Join(dir, "disk.img")
	l := diskimage.Layout{ESP: 8 * diskimage.MiB, Root: 256 * diskimage.MiB, State: 8 * diskimage.MiB}
	if err := diskimage.Disk(img, l.Parts("", "", ""), diskimage.DiskOptions{Seed: "bench"}); err != nil {
		b.Fatal(err)
	}
	off := diskimage.MiB + l.ESP + l.Root
	out, err := exec.Command("losetup", "--find", "--show", "-o", strconv.FormatInt(off, 10),
		"--sizelimit", strconv.FormatInt(l.Root, 10), img).CombinedOutput()
	if err != nil {
		b.Skipf("losetup: %v %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", dev).Run()

	// Incompressible payload in a file, so both read the same source.
	payload := make([]byte, dataSize)
	rand.New(rand.NewSource(1)).Read(payload)
	src := filepath.Join(dir, "root.squashfs")
	if err := os.WriteFile(src, payload, 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := verity.AppendTree(src, []byte("bench")); err != nil {
		b.Fatal(err)
	}
	if payload, err = os.ReadFile(src); err != nil {
		b.Fatal(err)
	}
	size := int64(len(payload))
	sum := sha256.Sum256(payload)
	hexSum := hex.EncodeToString(sum[:])
	payload = nil

	var slotT, writeT, ddT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		// The write phase ends when the last chunk is written (before
		// the fsync and the rest of the hash and read-back).
		done := func(n int64) {
			if n == size {
				writeT += time.Since(t0)
			}
		}
		if err := bootslot.WriteSlot(context.Background(), dev, f, size, hexSum, done); err != nil {
			b.Fatal(err)
		}
		slotT += time.Since(t0)
		f.Close()

		t0 = time.Now()
		if out, err := exec.Command("dd", "if="+src, "of="+dev, "bs=4M", "oflag=direct", "conv=fsync", "status=none").CombinedOutput(); err != nil {
			b.Fatalf("dd: %v %s", err, out)
		}
		ddT += time.Since(t0)
	}
	b.StopTimer()
	mbs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbs(slotT), "slot-MB/s")
	b.ReportMetric(mbs(ddT), "dd-MB/s")
	b.ReportMetric(mbs(slotT)/mbs(ddT), "ratio")
	b.ReportMetric(mbs(writeT), "slot-write-phase-MB/s")
	b.Logf("WriteSlot %.0f MB/s (write+hash+fsync; its write phase alone %.0f MB/s), dd %.0f MB/s (write+fsync), ratio %.2f",
		mbs(slotT), mbs(writeT), mbs(ddT), mbs(slotT)/mbs(ddT))
}
