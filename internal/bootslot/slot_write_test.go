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
)

// corruptAfterWrite makes the chunk that covers off read back wrong: once
// WriteSlot's write of it returns (before the read-back), it flips the
// byte at off in path (the disk image behind the loop device, or the file
// standing in for the slot) at fileOff+off, through the page cache that
// the loop device and O_DIRECT reads both see.
func corruptAfterWrite(t *testing.T, path string, fileOff, off int64) {
	t.Helper()
	testHookWritten = func(coff int64, n int) {
		if off < coff || off >= coff+int64(n) {
			return
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, fileOff+off); err != nil {
			t.Error(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, fileOff+off); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { testHookWritten = nil })
}

// TestWriteSlotReadBackCorrupt: bytes the device does not keep are caught
// by the read-back (the stream's hash is right), and the slot is cleared.
func TestWriteSlotReadBackCorrupt(t *testing.T) {
	dev, img, off := slotLoop(t)
	data := randBytes(2*ChunkSize + 4096 + 3)
	bad := int64(ChunkSize + 1234) // in the second chunk
	corruptAfterWrite(t, img, off, bad)
	err := WriteSlot(context.Background(), dev, bytes.NewReader(data), int64(len(data)), sha(data), nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("reads back other bytes than were written, from offset %d", bad)) {
		t.Fatalf("corrupted read-back: %v", err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z := make([]byte, 4096)
	f.ReadAt(z, off)
	if !bytes.Equal(z, make([]byte, 4096)) {
		t.Error("slot not cleared after a failed read-back")
	}
	// The same write, untouched, passes.
	testHookWritten = nil
	if err := WriteSlot(context.Background(), dev, bytes.NewReader(data), int64(len(data)), sha(data), nil); err != nil {
		t.Fatal(err)
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

// TestWriteSlotPlain: where O_DIRECT is refused, plain writes and reads
// (each chunk written out and its pages dropped before it is read back)
// do the same, read-back check included.
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

	corruptAfterWrite(t, p, 0, 77)
	err := WriteSlot(context.Background(), p, bytes.NewReader(data), int64(len(data)), sha(data), nil)
	if err == nil || !strings.Contains(err.Error(), "reads back other bytes than were written, from offset 77") {
		t.Fatalf("corrupted read-back: %v", err)
	}
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
