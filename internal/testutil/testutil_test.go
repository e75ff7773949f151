package testutil

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEventuallySucceedsOnceFDoes(t *testing.T) {
	calls := 0
	err := EventuallyEvery(time.Millisecond, time.Minute, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("EventuallyEvery = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestEventuallyTimesOutWithLastError(t *testing.T) {
	sentinel := errors.New("still down")
	calls := 0
	start := time.Now()
	err := Eventually(120*time.Millisecond, func() error { calls++; return fmt.Errorf("try %d: %w", calls, sentinel) })
	took := time.Since(start)
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v does not wrap f's error", err)
	}
	if want := fmt.Sprintf("after 120ms: try %d: still down", calls); err.Error() != want {
		t.Errorf("error %q, want %q (the last try's)", err, want)
	}
	if took < 120*time.Millisecond {
		t.Errorf("gave up after %s, before the 120ms timeout", took)
	}
	// 50 ms apart: a try at 0, 50, 100 and one past the deadline at 150.
	if calls < 2 || calls > 5 {
		t.Errorf("%d tries in %s, want about 4 at 50ms intervals", calls, took)
	}
}

// fakeT records Fatalf instead of stopping the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	panic(f)
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, "three polls", time.Minute, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("WaitFor returned after %d polls, want 3", n)
	}

	ft := &fakeT{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != ft {
				panic(r)
			}
		}()
		WaitFor(ft, "the moon", 30*time.Millisecond, func() bool { return false })
	}()
	if want := "timed out after 30ms waiting for the moon"; ft.failed != want {
		t.Errorf("WaitFor failed with %q, want %q", ft.failed, want)
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 400) {
		t.Errorf("buffer holds %d bytes, want 400", len(got))
	}
}
