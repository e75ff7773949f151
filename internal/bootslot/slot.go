package bootslot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/flotilla-os/flotilla/internal/diskimage"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SysBlock is where the kernel lists block devices.
const SysBlock = "/sys/class/block"

// ChunkSize is the size of each write to a slot: large and page aligned,
// so O_DIRECT writes go to the device whole (see bench/slotwrite_test.go).
const ChunkSize = 4 << 20

// chunks is how many buffers circulate between the reader (which also
// hashes) and the writer, so reading, hashing and writing overlap.
const chunks = 3

// directAlign is the alignment O_DIRECT needs for lengths and offsets on
// the disks we write (512-byte logical sectors; 4096 covers 4Kn too).
const directAlign = 4096

// PartName is the GPT partition name of slot "A" or "B": ROOT-A, ROOT-B.
func PartName(slot string) string { return "ROOT-" + slot }

// Other is the slot that is not active: B for A, A for B.
func Other(active string) (string, error) {
	switch active {
	case "A":
		return "B", nil
	case "B":
		return "A", nil
	}
	return "", fmt.Errorf("bootslot: active slot %q: want A or B (flotilla.slot= on the kernel command line)", active)
}

// FindSlot scans sysBlock (SysBlock) for the partition named ROOT-<slot>
// (PARTNAME= in its uevent) and returns its device node, /dev/<DEVNAME>.
// More than one such partition (two Flotilla disks attached) is an error:
// writing the wrong one would be worse than not updating.
func FindSlot(sysBlock, slot string) (string, error) {
	want := PartName(slot)
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", fmt.Errorf("bootslot: %w", err)
	}
	var found []string
	for _, e := range ents {
		ue := diskimage.ReadUevent(filepath.Join(sysBlock, e.Name(), "uevent"))
		if ue["DEVTYPE"] == "partition" && ue["PARTNAME"] == want && ue["DEVNAME"] != "" {
			found = append(found, "/dev/"+ue["DEVNAME"])
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("bootslot: no partition named %s in %s: is this a Flotilla disk?", want, sysBlock)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("bootslot: %d partitions named %s (%s): detach the other Flotilla disk", len(found), want, strings.Join(found, ", "))
}

// Inactive returns the slot that is not active and its partition's device,
// e.g. ("B", "/dev/vda3") when active is "A".
func Inactive(sysBlock, active string) (slot, dev string, err error) {
	if slot, err = Other(active); err != nil {
		return "", "", err
	}
	dev, err = FindSlot(sysBlock, slot)
	return slot, dev, err
}

// WriteSlot streams size bytes of r into dev (the inactive slot's
// partition), hashing them as they go, and checks them against sha256hex
// twice: the stream's hash when it ends, then the device's contents read
// back after fsync and after dropping the device's cached pages.
//
// Writes are ChunkSize O_DIRECT writes at aligned offsets (plain writes
// where the file system refuses O_DIRECT, e.g. tmpfs in tests); the last
// chunk is padded with zeros to 4 KiB, so up to 4095 bytes past size are
// zeroed. progress, if set, gets the bytes written so far after each chunk.
//
// It refuses a dev that is mounted (the active slot is: it is the root)
// and a size larger than dev. On a failure after the first write the
// slot's first 4 KiB are zeroed, so a half-written slot holds no
// squashfs superblock.
func WriteSlot(ctx context.Context, dev string, r io.Reader, size int64, sha256hex string, progress func(done int64)) (err error) {
	want, err := hex.DecodeString(sha256hex)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("bootslot: sha256 %q is not 64 hex digits", sha256hex)
	}
	if size <= 0 {
		return fmt.Errorf("bootslot: size %d: want the payload's rootfs size in bytes", size)
	}
	if err := notMounted(dev, "/proc/self/mountinfo"); err != nil {
		return err
	}
	f, _, err := openDirect(dev, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("bootslot: open slot %s: %w", dev, err)
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	capacity, err := deviceSize(f)
	if err != nil {
		return fmt.Errorf("bootslot: size of %s: %w", dev, err)
	}
	if size > capacity {
		return fmt.Errorf("bootslot: rootfs of %d bytes does not fit slot %s (%d bytes): the payload is for a bigger disk layout", size, dev, capacity)
	}
	bufs, free, err := alignedBuffers(chunks, ChunkSize)
	if err != nil {
		return err
	}
	defer free()

	wrote := false
	defer func() {
		if err != nil && wrote {
			if ierr := invalidate(dev); ierr != nil {
				err = fmt.Errorf("%w (and clearing the half-written slot failed: %v)", err, ierr)
			}
		}
	}()
	h := sha256.New()
	wrote = true
	if err := pipe(ctx, f, r, size, h, bufs, capacity, progress); err != nil {
		return err
	}
	if got := h.Sum(nil); !equal(got, want) {
		return fmt.Errorf("bootslot: rootfs stream has sha256 %x, the manifest says %x: download corrupted or wrong payload; slot %s cleared", got, want, dev)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("bootslot: fsync %s: %w", dev, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fmt.Errorf("bootslot: close %s: %w", dev, err)
	}
	got, err := readBack(dev, size, bufs)
	if err != nil {
		return err
	}
	if !equal(got, want) {
		return fmt.Errorf("bootslot: slot %s reads back with sha256 %x, want %x: the disk did not keep what was written", dev, got, want)
	}
	return nil
}

type chunk struct {
	buf []byte
	n   int
	err error
}

// pipe reads r into the buffers and hashes it in one goroutine while the
// caller's goroutine writes full buffers to f.
func pipe(ctx context.Context, f *os.File, r io.Reader, size int64, h hash.Hash, bufs [][]byte, capacity int64, progress func(int64)) error {
	free := make(chan []byte, len(bufs))
	for _, b := range bufs {
		free <- b
	}
	// One more than the buffers: the reader's last word (an error) never
	// blocks on a writer that has given up.
	full := make(chan chunk, len(bufs)+1)
	stop := make(chan struct{})
	// The reader fills mmap'd buffers that the caller unmaps: wait for it
	// to finish before returning (a blocked r.Read delays this; callers
	// close their stream on cancellation).
	defer func() {
		close(stop)
		for range full {
		}
	}()
	go func() {
		defer close(full)
		for left := size; left > 0; {
			var b []byte
			select {
			case b = <-free:
			case <-stop:
				return
			}
			n := int(min(int64(len(b)), left))
			if _, err := io.ReadFull(r, b[:n]); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					err = fmt.Errorf("rootfs stream ended %d bytes short of its size %d: download truncated", left, size)
				}
				full <- chunk{err: err}
				return
			}
			h.Write(b[:n])
			left -= int64(n)
			full <- chunk{buf: b, n: n}
		}
		// More bytes than the manifest says is as wrong as fewer.
		var one [1]byte
		if n, _ := r.Read(one[:]); n > 0 {
			full <- chunk{err: fmt.Errorf("rootfs stream is longer than its size %d: wrong payload", size)}
		}
	}()
	var off int64
	for c := range full {
		if c.err != nil {
			return fmt.Errorf("bootslot: %w", c.err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bootslot: slot write stopped at %d of %d bytes: %w", off, size, err)
		}
		n := c.n
		if pad := roundUp(int64(n)) - int64(n); pad > 0 && off+int64(n)+pad <= capacity {
			clear(c.buf[n : n+int(pad)])
			n += int(pad)
		}
		if _, err := f.WriteAt(c.buf[:n], off); err != nil {
			return fmt.Errorf("bootslot: write slot at offset %d: %w", off, err)
		}
		off += int64(c.n)
		if progress != nil {
			progress(off)
		}
		free <- c.buf
	}
	if off != size {
		return fmt.Errorf("bootslot: wrote %d of %d bytes", off, size)
	}
	return nil
}

// readBack drops dev's cached pages and hashes its first size bytes as
// read from the device (O_DIRECT where possible). Reading and hashing
// overlap: one goroutine reads into the buffers in turn while this one
// hashes the previous, so the check costs about the slower of the two.
func readBack(dev string, size int64, bufs [][]byte) ([]byte, error) {
	if err := dropCaches(dev); err != nil {
		return nil, err
	}
	f, _, err := openDirect(dev, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("bootslot: reopen %s to verify: %w", dev, err)
	}
	defer f.Close()
	type chunk struct {
		buf []byte
		err error
	}
	full := make(chan chunk, len(bufs))
	free := make(chan []byte, len(bufs))
	for _, b := range bufs {
		free <- b
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(full)
		for off := int64(0); off < size; {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			n := int(min(int64(len(buf)), roundUp(size-off)))
			m, err := f.ReadAt(buf[:n], off)
			if int64(m) < min(int64(n), size-off) {
				full <- chunk{err: fmt.Errorf("bootslot: read back %s at %d: %d bytes: %v", dev, off, m, err)}
				return
			}
			full <- chunk{buf: buf[:min(int64(m), size-off)]}
			off += int64(m)
		}
	}()
	defer func() { close(stop); <-done }()
	h := sha256.New()
	for c := range full {
		if c.err != nil {
			return nil, c.err
		}
		h.Write(c.buf)
		free <- c.buf[:cap(c.buf)]
	}
	return h.Sum(nil), nil
}

// dropCaches writes back and drops dev's page cache: BLKFLSBUF for a
// block device, then POSIX_FADV_DONTNEED.
func dropCaches(dev string) error {
	f, err := os.Open(dev)
	if err != nil {
		return fmt.Errorf("bootslot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeDevice != 0 {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKFLSBUF, 0); e != 0 {
			return fmt.Errorf("bootslot: BLKFLSBUF %s: %w", dev, e)
		}
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("bootslot: fadvise %s: %w", dev, err)
	}
	return nil
}

// openDirect opens path with O_DIRECT, or without it where the file system
// refuses it (EINVAL: tmpfs).
func openDirect(path string, flag int) (*os.File, bool, error) {
	f, err := os.OpenFile(path, flag|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, flag|unix.O_CLOEXEC, 0)
	return f, false, err
}

// deviceSize is a block device's size (BLKGETSIZE64) or a regular file's.
func deviceSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Mode()&os.ModeDevice == 0 {
		if !fi.Mode().IsRegular() {
			return 0, fmt.Errorf("%s is neither a block device nor a file", f.Name())
		}
		return fi.Size(), nil
	}
	var n uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&n))); e != 0 {
		return 0, fmt.Errorf("BLKGETSIZE64: %w", e)
	}
	return int64(n), nil
}

// notMounted refuses dev when it (the same device number) is mounted
// anywhere: the active slot is mounted as the root.
func notMounted(dev, mountinfo string) error {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return fmt.Errorf("bootslot: slot %s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil
	}
	b, err := os.ReadFile(mountinfo)
	if err != nil {
		return fmt.Errorf("bootslot: %w", err)
	}
	want := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	for _, l := range strings.Split(string(b), "\n") {
		fs := strings.Fields(l)
		if len(fs) > 4 && fs[2] == want {
			return fmt.Errorf("bootslot: slot %s is mounted at %s: it is the active slot (or in use); refusing to write it", dev, fs[4])
		}
	}
	return nil
}

// invalidate zeroes the first 4 KiB of dev so a half-written slot holds no
// file system.
func invalidate(dev string) error {
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, directAlign), 0); err != nil {
		return err
	}
	return f.Sync()
}

// alignedBuffers maps n page-aligned buffers of size bytes (O_DIRECT needs
// aligned memory, which Go's allocator does not promise).
func alignedBuffers(n, size int) ([][]byte, func(), error) {
	mem, err := unix.Mmap(-1, 0, n*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("bootslot: mmap %d bytes of buffers: %w", n*size, err)
	}
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return bufs, func() { unix.Munmap(mem) }, nil
}

func roundUp(n int64) int64 { return (n + directAlign - 1) / directAlign * directAlign }

func equal(a, b []byte) bool { return string(a) == string(b) }
