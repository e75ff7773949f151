package testutil

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Eventually polls f every 50 ms until it returns nil or timeout passes,
// and then returns f's last error prefixed with the timeout.
func Eventually(timeout time.Duration, f func() error) error {
	return EventuallyEvery(50*time.Millisecond, timeout, f)
}

// EventuallyEvery is Eventually polling every interval. f runs at least
// once, and once more after the deadline passes if the last try was before it.
func EventuallyEvery(interval, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// WaitFor polls cond every 10 ms until it holds, and fails the test with
// "timed out after <within> waiting for <what>" when within passes first.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Buffer is a bytes.Buffer that one goroutine may write while another reads
// it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
