package native

import (
	"bytes"
	"context"
	"io"
	"os"

	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// Journal writes the last lines of the unit's log (all of it when lines < 0)
// to w, reading across rotated files; with follow it then streams every new
// byte as the writer stores it, until ctx is done.
func (s *Supervisor) Journal(ctx context.Context, name string, lines int, follow bool, w io.Writer) error {
	u := s.lookup(name)
	if u == nil {
		return unitmgr.ErrNotLoaded
	}
	l := u.log
	l.mu.Lock()
	tail := l.tailLocked(lines)
	var f *follower
	if follow {
		f = &follower{wake: make(chan struct{}, 1)}
		l.followers[f] = struct{}{}
	}
	l.mu.Unlock()
	if _, err := w.Write(tail); err != nil || !follow {
		l.dropFollower(f)
		return err
	}
	defer l.dropFollower(f)
	return f.stream(ctx, w)
}

func (f *follower) stream(ctx context.Context, w io.Writer) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		}
		b, dropped := f.take()
		if dropped {
			b = append(b, "-- supervisor: follower too slow, output dropped --\n"...)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
}

func (l *logWriter) dropFollower(f *follower) {
	if f == nil {
		return
	}
	l.mu.Lock()
	delete(l.followers, f)
	l.mu.Unlock()
}

// tailLocked returns the last n lines, reading files newest first and only
// as many as needed.
func (l *logWriter) tailLocked(n int) []byte {
	if n == 0 {
		return nil
	}
	var data []byte
	for i := 0; i <= l.keep; i++ {
		b, err := os.ReadFile(l.rotated(i))
		if err != nil {
			break
		}
		data = append(b, data...)
		if n > 0 && bytes.Count(data, []byte{'\n'}) > n {
			break
		}
	}
	return lastLines(data, n)
}

// lastLines returns the last n lines of b (a final unterminated line counts).
func lastLines(b []byte, n int) []byte {
	if n < 0 {
		return b
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
