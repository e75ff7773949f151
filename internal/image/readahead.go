package image

import (
	"io"
	"sync"
)

// readAhead reads r in its own goroutine, so that decompression and
// hashing overlap with the extractor's writes.
type readAhead struct {
	ch     chan chunk
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	once   sync.Once
	cur    []byte
	buf    []byte // backing buffer of cur, recycled when consumed
	err    error
}

type chunk struct {
	b   []byte
	err error
}

const (
	readAheadChunk = 256 << 10
	readAheadDepth = 8
)

func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		ch:     make(chan chunk, readAheadDepth),
		free:   make(chan []byte, readAheadDepth+2),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go ra.fill(r)
	return ra
}

func (ra *readAhead) fill(r io.Reader) {
	defer close(ra.exited)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		default:
			buf = make([]byte, readAheadChunk)
		}
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if n > 0 {
			select {
			case ra.ch <- chunk{b: buf[:n]}:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			select {
			case ra.ch <- chunk{err: err}:
			case <-ra.done:
			}
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			select {
			case ra.free <- ra.buf[:cap(ra.buf)]:
			default:
			}
			ra.buf = nil
		}
		c := <-ra.ch
		if c.err != nil {
			ra.err = c.err
			return 0, c.err
		}
		ra.cur, ra.buf = c.b, c.b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it, after which the underlying
// reader is no longer used.
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.done) })
	<-ra.exited
	return nil
}
