package image

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrTooLarge is wrapped by errors for a layer (or an oci-archive) that
// expands beyond PullOptions' bounds: a decompression bomb, a sparse tar
// entry of a huge size, or simply more than the node takes.
var ErrTooLarge = errors.New("image: layer too large")

// Defaults of PullOptions' bounds.
const (
	// DefaultMaxLayerSize bounds one layer's expanded size: its file
	// content (sparse entries at their full size) and its tar stream.
	DefaultMaxLayerSize = 8 << 30
	// DefaultMaxRatio bounds expanded bytes per compressed byte read,
	// once a layer has expanded past ratioFloor. Real layers compress
	// 2–10×; gzip's ceiling is about 1030×, a sparse entry's unbounded.
	DefaultMaxRatio = 250
	// ratioFloor: below this many expanded bytes no ratio is enforced, so
	// a small layer of zeros is fine.
	ratioFloor = 256 << 20
	// DefaultMinFreeFraction and maxMinFree: a pull keeps 1% of the
	// store's filesystem (at most 256 MiB) free.
	defaultMinFreePercent = 1
	maxMinFree            = 256 << 20
	// restatEvery: free space is read again after this many bytes written.
	restatEvery = 64 << 20
)

// budget enforces the bounds on one tar stream as it is unpacked. Every
// regular file reserves its full size (hdr.Size, which for a sparse entry
// is the expanded size, holes included) before a byte is written.
type budget struct {
	maxSize  int64        // ≤0: no bound
	maxRatio int64        // ≤0: no bound
	read     func() int64 // compressed bytes read from the source so far
	minFree  int64        // -1: no free-space check; 0: the default
	what     string       // "PullOptions.MaxLayerSize" etc. name the knobs

	fd        int   // a directory on the store's filesystem, for fstatfs
	expanded  int64 // bytes reserved so far
	avail     int64 // bytes available at the last fstatfs, minus reserved since
	sinceStat int64
	statted   bool
}

// reserve accounts for n more bytes of file content at name.
func (b *budget) reserve(name string, n int64) error {
	if b == nil {
		return nil
	}
	b.expanded += n
	if b.maxSize > 0 && b.expanded > b.maxSize {
		return fmt.Errorf("%w: /%s (%d bytes) takes it to %d bytes expanded, more than the %d allowed (PullOptions.MaxLayerSize)",
			ErrTooLarge, name, n, b.expanded, b.maxSize)
	}
	if b.maxRatio > 0 && b.read != nil && b.expanded > ratioFloor {
		if c := b.read(); c > 0 && b.expanded/c > b.maxRatio {
			return fmt.Errorf("%w: %d bytes expanded from %d compressed at /%s, a ratio above the %d allowed (PullOptions.MaxRatio): a decompression bomb, or a layer of mostly zeros",
				ErrTooLarge, b.expanded, c, name, b.maxRatio)
		}
	}
	return b.checkFree(name, n)
}

// stream checks the tar stream's own size (headers, padding) against the bound.
func (b *budget) stream(n int64) error {
	if b == nil || b.maxSize <= 0 || n <= b.maxSize {
		return nil
	}
	return fmt.Errorf("%w: the tar stream passed %d bytes, more than the %d allowed (PullOptions.MaxLayerSize)", ErrTooLarge, n, b.maxSize)
}

// checkFree refuses a file that would leave less than minFree on the
// store's filesystem, reading it with fstatfs at the start, after every
// restatEvery bytes, and whenever the estimate says the file won't fit.
func (b *budget) checkFree(name string, n int64) error {
	if b.minFree < 0 || b.fd < 0 {
		return nil
	}
	b.sinceStat += n
	b.avail -= n
	if b.statted && b.sinceStat < restatEvery && b.avail >= b.keep() {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(b.fd, &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	b.statted, b.sinceStat = true, 0
	total := int64(st.Blocks) * st.Bsize
	if b.minFree == 0 {
		b.minFree = min(total*defaultMinFreePercent/100, maxMinFree)
	}
	// What is free now, less what this file is still to write (it was
	// reserved, not yet written).
	b.avail = int64(st.Bavail)*st.Bsize - n
	if b.avail < b.keep() {
		return fmt.Errorf("/%s (%d bytes) would leave %d bytes free on the store's filesystem, less than the %d kept free: %w",
			name, n, max(b.avail, 0), b.keep(), unix.ENOSPC)
	}
	return nil
}

func (b *budget) keep() int64 { return max(b.minFree, 0) }
