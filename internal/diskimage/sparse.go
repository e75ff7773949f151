package diskimage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// sparseChunk is the unit copySparse reads and, when it is all zeros, skips.
const sparseChunk = 64 << 10

// copySparse copies the file src into dst at offset off without writing
// zeros: holes in src (found with SEEK_DATA/SEEK_HOLE) and all-zero chunks
// are skipped, so they stay holes in a freshly truncated dst.
func copySparse(dst *os.File, off int64, src string) error {
	s, err := os.Open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	fi, err := s.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	buf := make([]byte, sparseChunk)
	zero := make([]byte, sparseChunk)
	pos := int64(0)
	for pos < size {
		data, err := unix.Seek(int(s.Fd()), pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			data = pos // no SEEK_DATA here: treat everything as data
		}
		hole, err := unix.Seek(int(s.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		for pos = data; pos < hole; {
			n, err := s.ReadAt(buf[:min(int64(len(buf)), hole-pos)], pos)
			if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
				if _, werr := dst.WriteAt(buf[:n], off+pos); werr != nil {
					return fmt.Errorf("write: %w", werr)
				}
			}
			pos += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", src, err)
			}
		}
		pos = hole
	}
	return nil
}
