package unitmgr_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

func TestQueueCoalesces(t *testing.T) {
	q := unitmgr.NewQueue()
	for _, n := range []string{"a", "b", "a", "c", "b", "a"} {
		q.Add(n)
	}
	select {
	case <-q.Wake():
	default:
		t.Fatal("no wake after Add")
	}
	if got, want := q.Take(), []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Take = %q, want %q (once each, oldest first)", got, want)
	}
	if got := q.Take(); len(got) != 0 {
		t.Fatalf("second Take = %q, want nothing", got)
	}
	// A name taken is queued again by the next Add.
	q.Add("a")
	if n, ok := q.Pop(); !ok || n != "a" {
		t.Fatalf("Pop = %q, %v; want a", n, ok)
	}
	if _, ok := q.Pop(); ok {
		t.Fatal("Pop of an empty queue reported a name")
	}
}

// TestChangesNeverBlock: with nobody reading, thousands of notifications
// return at once; the reader that comes back later gets every name, each
// once, and a later change of a name already delivered arrives again.
func TestChangesNeverBlock(t *testing.T) {
	c := unitmgr.NewChanges()
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10000; i++ {
			c.Notify(fmt.Sprintf("u%d.service", i%100))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked with no reader")
	}
	seen := map[string]int{}
	for len(seen) < 100 {
		select {
		case n := <-c.C():
			seen[n]++
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of 100 names arrived", len(seen))
		}
	}
	// Each name is queued at most once while waiting, plus at most the one
	// the delivery goroutine held when the burst came.
	for n, k := range seen {
		if k > 2 {
			t.Errorf("%s delivered %d times for one wait", n, k)
		}
	}
	select {
	case n := <-c.C():
		if seen[n] > 1 {
			t.Errorf("%s delivered again with no new change", n)
		}
	case <-time.After(50 * time.Millisecond):
	}
	c.Notify("u1.service")
	select {
	case n := <-c.C():
		if n != "u1.service" {
			t.Fatalf("got %q, want u1.service", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a change after delivery never arrived")
	}
}

func TestChangesClose(t *testing.T) {
	c := unitmgr.NewChanges()
	c.Notify("a.service")
	c.Close()
	c.Close() // twice is fine
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-c.C():
			if !ok {
				c.Notify("b.service") // after Close: no panic, no block
				return
			}
		case <-deadline:
			t.Fatal("C not closed by Close")
		}
	}
}
