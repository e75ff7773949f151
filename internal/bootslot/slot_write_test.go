package bootslot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/verity"
)

// TestWriteSlotVerity: WriteSlot does not read the slot back; the slot's
// dm-verity tree is what proves it. A root with its tree, written through
// WriteSlot, verifies against the build's root hash where it lands; a byte
// the disk then loses fails that check (as dm-verity fails its read at
// boot).
func TestWriteSlotVerity(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "root.img")
	if err := os.WriteFile(img, randBytes(ChunkSize+5000), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := verity.AppendTree(img, []byte("salt"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	capacity := int64(3 * ChunkSize)
	slot := fileSlot(t, dir, capacity)
	if err := WriteSlot(context.Background(), slot, bytes.NewReader(data), int64(len(data)), sha(data), nil); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(slot, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := verity.Verify(f, p); err != nil {
		t.Fatalf("slot as written: %v", err)
	}
	if _, err := f.WriteAt([]byte{data[12345] ^ 1}, 12345); err != nil {
		t.Fatal(err)
	}
	if err := verity.Verify(f, p); err == nil {
		t.Fatal("a slot with a flipped data byte verified")
	}
}

// fileSlot makes a file of capacity zero bytes in dir to stand in for a
// slot.
func fileSlot(t *testing.T, dir string, capacity int64) string {
	t.Helper()
	p := filepath.Join(dir, "slot")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, capacity); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkFileSlot: p holds data, then zeros up to its unchanged size.
func checkFileSlot(t *testing.T, p string, data []byte, capacity int64) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != capacity {
		t.Fatalf("slot file is %d bytes, was %d", len(got), capacity)
	}
	if !bytes.Equal(got[:len(data)], data) {
		t.Error("slot file does not hold the data")
	}
	if !bytes.Equal(got[len(data):], make([]byte, len(got)-len(data))) {
		t.Error("slot file changed past the data")
	}
}

// TestWriteSlotUnalignedEnd: a slot whose end is not 4 KiB aligned takes
// a payload that ends in its last, partial 4 KiB (padding the last write
// would pass the end, so it is written without O_DIRECT), or fills it.
func TestWriteSlotUnalignedEnd(t *testing.T) {
	for _, short := range []int64{10, 0} {
		t.Run(fmt.Sprint("short", short), func(t *testing.T) {
			capacity := int64(2*ChunkSize + 1000)
			p := fileSlot(t, t.TempDir(), capacity)
			data := randBytes(int(capacity - short))
			var seen []int64
			if err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), sha(data), func(n int64) { seen = append(seen, n) }); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 3 || seen[0] != ChunkSize || seen[2] != int64(len(data)) {
				t.Errorf("progress %v", seen)
			}
			checkFileSlot(t, p, data, capacity)
		})
	}
}

// TestWriteSlotPlain: where O_DIRECT is refused, plain writes do the same.
func TestWriteSlotPlain(t *testing.T) {
	testNoDirect = true
	t.Cleanup(func() { testNoDirect = false })
	capacity := int64(3*ChunkSize + 512)
	p := fileSlot(t, t.TempDir(), capacity)
	data := randBytes(ChunkSize + 4097)
	if err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), sha(data), nil); err != nil {
		t.Fatal(err)
	}
	checkFileSlot(t, p, data, capacity)
	// Up to the unaligned end: no O_DIRECT, so no special last write.
	data = randBytes(int(capacity) - 3)
	if err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), sha(data), nil); err != nil {
		t.Fatal(err)
	}
	checkFileSlot(t, p, data, capacity)
}

// TestWriteSlotStops: a stream that ends on a chunk boundary short of its
// size, a cancel between chunks, and a wrong hash each fail the write and
// clear the slot.
func TestWriteSlotStops(t *testing.T) {
	capacity := int64(4 * ChunkSize)
	p := fileSlot(t, t.TempDir(), capacity)
	data := randBytes(3 * ChunkSize)
	cleared := func() bool {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 4096)
		f.ReadAt(b, 0)
		return bytes.Equal(b, make([]byte, 4096))
	}

	err := WriteSlot(context.Background(), p, bytes.NewReader(data[:ChunkSize]), int64(len(data)), sha(data), nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("ended %d bytes short", 2*ChunkSize)) || !cleared() {
		t.Errorf("truncated on a chunk boundary: %v (cleared %v)", err, cleared())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = WriteSlot(ctx, p, bytes.NewReader(data), int64(len(data)), sha(data), func(n int64) {
		if n == ChunkSize {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), fmt.Sprintf("stopped at %d of", ChunkSize)) || !cleared() {
		t.Errorf("cancelled after a chunk: %v (cleared %v)", err, cleared())
	}

	other := append([]byte(nil), data...)
	other[len(other)-1] ^= 1
	err = WriteSlot(context.Background(), p, bytes.NewReader(other), int64(len(other)), sha(data), nil)
	if err == nil || !strings.Contains(err.Error(), "download corrupted") || !cleared() {
		t.Errorf("wrong hash: %v (cleared %v)", err, cleared())
	}

	if err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), sha(data), nil); err != nil {
		t.Fatal(err)
	}
	checkFileSlot(t, p, data, capacity)
}
