package bootslot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flotilla-os/flotilla/internal/diskimage"
)

// SysBlock is where the kernel lists block devices.
const SysBlock = "/sys/class/block"

// ChunkSize is the size of each write to a slot: large and page aligned,
// so O_DIRECT writes go to the device whole (see bench/slotwrite_test.go).
const ChunkSize = 4 << 20

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

// ringBufs is how many ChunkSize buffers circulate from the source
// through the write and the hash and back to the source. It bounds how
// far the writer runs ahead of the hash, so how much of it the final
// fsync can overlap.
const ringBufs = 8

// WriteSlot streams size bytes of r into dev (the inactive slot's
// partition) and checks the stream's sha256 against sha256hex (the signed
// manifest's).
//
// It does not read the slot back. The root carries a dm-verity tree whose
// root hash is in the same payload's signed UKI: the stream's hash proves
// that the bytes written are the published ones, and dm-verity checks
// every block the new version reads against them when it boots. A block
// the disk did not keep fails its read there, that boot fails, and boot
// counting falls back to the running slot, as for any bad version.
//
// Reading and writing overlap: one goroutine reads r into a ring of
// ChunkSize buffers; the caller's goroutine writes each to dev (O_DIRECT,
// at its offset) as soon as it is read; the hash follows the writer,
// chunk by chunk, and gives each buffer back to the reader. After the
// last write: fdatasync (the device's cache flush, for durability) while
// the hash finishes; then the hash is compared.
//
// Where the file system refuses O_DIRECT (EINVAL, e.g. tmpfs before 6.6),
// writes are plain ones.
//
// The last chunk is padded with zeros to 4 KiB, so up to 4095 bytes past
// size are zeroed; where that would pass the end of dev, the last chunk is
// written without O_DIRECT instead. progress, if set, gets the bytes
// written so far after each chunk.
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
	wf, wdirect, err := openDirect(dev, unix.O_WRONLY)
	if err != nil {
		return fmt.Errorf("bootslot: open slot %s: %w", dev, err)
	}
	defer wf.Close()
	capacity, err := deviceSize(wf)
	if err != nil {
		return fmt.Errorf("bootslot: size of %s: %w", dev, err)
	}
	if size > capacity {
		return fmt.Errorf("bootslot: rootfs of %d bytes does not fit slot %s (%d bytes): the payload is for a bigger disk layout", size, dev, capacity)
	}
	bufs, free, err := alignedBuffers(ringBufs, ChunkSize)
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
	s := &slotWrite{
		dev: dev, wf: wf, wdirect: wdirect,
		size: size, capacity: capacity, stop: make(chan struct{}),
	}
	wrote = true
	return s.run(ctx, r, want, bufs, progress)
}

// slotWrite is one WriteSlot's shared state.
type slotWrite struct {
	dev            string
	wf             *os.File
	wdirect        bool // wf opened with O_DIRECT
	size, capacity int64

	mu   sync.Mutex
	err  error         // the first failure
	stop chan struct{} // closed on the first failure: every step stops
}

// fail records err if it is the first failure and stops every step.
func (s *slotWrite) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.stop)
	}
}

func (s *slotWrite) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// chunk is n bytes of the stream, at off, in buf (ChunkSize long).
type chunk struct {
	buf []byte
	off int64
	n   int
}

// run passes the ring's buffers from the reader to the writer (this
// goroutine) and the hash, and back to the reader. Every channel has room
// for all the buffers, so no send blocks; a step that stops closes its
// output, and the next one stops when that runs dry.
func (s *slotWrite) run(ctx context.Context, r io.Reader, want []byte, ring [][]byte, progress func(int64)) error {
	free := make(chan []byte, len(ring))
	for _, b := range ring {
		free <- b
	}
	toWrite := make(chan chunk, len(ring))
	toHash := make(chan chunk, len(ring))
	var (
		sum    []byte
		hashed int64
		wg     sync.WaitGroup // the reader
		checks sync.WaitGroup // the hash
	)
	wg.Add(1)
	go func() { defer wg.Done(); s.readSource(r, free, toWrite) }()
	checks.Add(1)
	go func() { defer checks.Done(); sum, hashed = s.hash(toHash, free) }()
	// Every goroutine is joined before returning: they use the mmap'd
	// buffers the caller unmaps. A blocked r.Read delays this (callers
	// close their stream on cancellation), as does a read of dev.
	defer wg.Wait()
	defer checks.Wait()
	defer s.fail(errors.New("bootslot: done")) // stops what still runs; no-op after a failure

	err := s.write(ctx, toWrite, toHash, progress)
	if err == nil {
		if err = unix.Fdatasync(int(s.wf.Fd())); err != nil {
			err = fmt.Errorf("bootslot: fsync %s: %w", s.dev, err)
		}
	}
	if err != nil {
		s.fail(err)
		return s.failed()
	}
	checks.Wait()
	if err := s.failed(); err != nil {
		return err
	}
	if hashed != s.size || sum == nil {
		return fmt.Errorf("bootslot: slot %s: hashed %d of %d bytes", s.dev, hashed, s.size)
	}
	if !equal(sum, want) {
		return fmt.Errorf("bootslot: rootfs stream has sha256 %x, the manifest says %x: download corrupted or wrong payload; slot %s cleared", sum, want, s.dev)
	}
	return nil
}

// readSource reads size bytes of r into buffers from free and sends them
// to out in order, then checks that r has nothing more. It closes out.
func (s *slotWrite) readSource(r io.Reader, free <-chan []byte, out chan<- chunk) {
	defer close(out)
	for off := int64(0); off < s.size; {
		var b []byte
		select {
		case b = <-free:
		case <-s.stop:
			return
		}
		n := int(min(int64(len(b)), s.size-off))
		if _, err := io.ReadFull(r, b[:n]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				err = fmt.Errorf("rootfs stream ended %d bytes short of its size %d: download truncated", s.size-off, s.size)
			}
			s.fail(fmt.Errorf("bootslot: %w", err))
			return
		}
		out <- chunk{buf: b, off: off, n: n}
		off += int64(n)
	}
	// More bytes than the manifest says is as wrong as fewer.
	var one [1]byte
	if n, _ := r.Read(one[:]); n > 0 {
		s.fail(fmt.Errorf("bootslot: rootfs stream is longer than its size %d: wrong payload", s.size))
	}
}

// write writes the chunks from in to dev and passes them on to out, which
// it closes. It returns when the reader is done (so a stream longer than
// size has been seen) or on the first failure.
func (s *slotWrite) write(ctx context.Context, in <-chan chunk, out chan<- chunk, progress func(int64)) error {
	defer close(out)
	var done int64
	for c := range in {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bootslot: slot write stopped at %d of %d bytes: %w", done, s.size, err)
		}
		if err := s.failed(); err != nil {
			return err
		}
		f, n := s.wf, c.n
		if pad := roundUp(int64(n)) - int64(n); pad > 0 {
			if c.off+int64(n)+pad <= s.capacity {
				clear(c.buf[n : n+int(pad)])
				n += int(pad)
			} else if s.wdirect {
				// dev does not end on a 4 KiB boundary: write the
				// unaligned last chunk through the page cache. The
				// fdatasync on wf writes it out (same inode).
				bf, err := os.OpenFile(s.dev, os.O_WRONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return fmt.Errorf("bootslot: open slot %s for its unaligned end: %w", s.dev, err)
				}
				defer bf.Close()
				f = bf
			}
		}
		if _, err := f.WriteAt(c.buf[:n], c.off); err != nil {
			return fmt.Errorf("bootslot: write slot at offset %d: %w", c.off, err)
		}
		out <- c
		done = c.off + int64(c.n)
		if progress != nil {
			progress(done)
		}
	}
	if err := s.failed(); err != nil {
		return err
	}
	if done != s.size {
		return fmt.Errorf("bootslot: wrote %d of %d bytes", done, s.size)
	}
	return nil
}

// hash hashes the chunks from in, in order, and gives their buffers back
// to free. It returns the sha256 and how many bytes it hashed.
func (s *slotWrite) hash(in <-chan chunk, free chan<- []byte) ([]byte, int64) {
	h := sha256.New()
	var done int64
	for c := range in {
		if s.failed() != nil {
			return nil, done
		}
		h.Write(c.buf[:c.n])
		done += int64(c.n)
		free <- c.buf
	}
	return h.Sum(nil), done
}

// testNoDirect, when set (tests), makes openDirect act as on a file
// system that refuses O_DIRECT.
var testNoDirect bool

// openDirect opens path with O_DIRECT, or without it where the file system
// refuses it (EINVAL: e.g. tmpfs before Linux 6.6).
func openDirect(path string, flag int) (*os.File, bool, error) {
	if !testNoDirect {
		f, err := os.OpenFile(path, flag|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err == nil {
			return f, true, nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return nil, false, err
		}
	}
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC, 0)
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
