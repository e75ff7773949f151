package native

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// logWriter is one unit's log: Dir/logs/<unit>.log, rotated by size to
// <unit>.log.1 (newest) ... <unit>.log.<keep>. Program output is stored as
// written; supervisor events are whole lines "<RFC 3339 UTC ms> supervisor: <msg>".
// Followers get every byte after it is written, pushed by the writer.
type logWriter struct {
	path string
	max  int64
	keep int

	mu        sync.Mutex
	f         *os.File // opened on first write, closed when the unit idles
	size      int64
	midLine   bool // last byte written was not '\n'
	followers map[*follower]struct{}
}

// followMax bounds what a slow follower may have pending before output is dropped.
const followMax = 1 << 20

type follower struct {
	mu      sync.Mutex
	buf     []byte
	dropped bool
	wake    chan struct{}
}

func newLogWriter(path string, max int64, keep int) *logWriter {
	return &logWriter{path: path, max: max, keep: keep, followers: map[*follower]struct{}{}}
}

// Write appends program output.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLocked(p)
	return len(p), nil
}

// event appends one supervisor line, starting a new line if output left one open.
func (l *logWriter) event(msg string) {
	line := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00") + " supervisor: " + msg + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.midLine {
		l.writeLocked([]byte{'\n'})
	}
	l.writeLocked([]byte(line))
}

// writeLocked writes p, rotating at line boundaries when the file would
// pass max (a line longer than max is split).
func (l *logWriter) writeLocked(p []byte) {
	if len(p) == 0 {
		return
	}
	l.notify(p)
	l.midLine = p[len(p)-1] != '\n'
	for len(p) > 0 {
		room := l.max - l.size
		if int64(len(p)) <= room {
			l.append(p)
			return
		}
		cut := int64(0)
		if room > 0 {
			if i := bytes.LastIndexByte(p[:room], '\n'); i >= 0 {
				cut = int64(i) + 1
			}
		}
		if cut == 0 && l.size == 0 {
			cut = min(int64(len(p)), l.max)
		}
		l.append(p[:cut])
		p = p[cut:]
		l.rotate()
	}
}

func (l *logWriter) append(p []byte) {
	if len(p) == 0 {
		return
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return
		}
		l.f = f
		if st, err := f.Stat(); err == nil {
			l.size = st.Size()
		}
	}
	n, _ := l.f.Write(p)
	l.size += int64(n)
}

// rotate shifts <unit>.log to .1, .1 to .2, ..., dropping the oldest.
func (l *logWriter) rotate() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.size = 0
	if l.keep <= 0 {
		os.Remove(l.path)
		return
	}
	for i := l.keep; i >= 1; i-- {
		os.Rename(l.rotated(i-1), l.rotated(i))
	}
}

// rotated names the i-th file: 0 is the live one.
func (l *logWriter) rotated(i int) string {
	if i == 0 {
		return l.path
	}
	return l.path + "." + strconv.Itoa(i)
}

// idle closes the file; the next write reopens it.
func (l *logWriter) idle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func (l *logWriter) notify(p []byte) {
	for f := range l.followers {
		f.push(p)
	}
}

func (f *follower) push(p []byte) {
	f.mu.Lock()
	if len(f.buf)+len(p) > followMax {
		f.dropped = true
	} else {
		f.buf = append(f.buf, p...)
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take returns and clears what is pending.
func (f *follower) take() ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, d := f.buf, f.dropped
	f.buf, f.dropped = nil, false
	return b, d
}
