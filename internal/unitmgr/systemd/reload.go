package systemd

import (
	"context"
	"sync"
	"time"
)

// reloader coalesces daemon-reloads. Every unit file write bumps want;
// a reload that begins after a write covers it. mark asks for a reload soon
// (after a short quiet period, so a burst of Loads costs one reload); sync
// asks for one now and waits until every write before it is covered.
type reloader struct {
	do    func() error
	delay time.Duration // quiet period after mark
	retry time.Duration // retry after a failed background reload
	logf  func(string, ...any)

	soon, now chan struct{}
	quit      chan struct{}
	exited    chan struct{}

	mu      sync.Mutex
	want    uint64        // writes so far
	have    uint64        // writes covered by a successful reload
	started uint64        // reload attempts begun
	failed  uint64        // attempt number of the last failure
	covered uint64        // want when the last failed attempt began
	err     error         // error of the last failed attempt
	done    chan struct{} // closed, and replaced, when an attempt ends
}

func newReloader(do func() error, delay, retry time.Duration, logf func(string, ...any)) *reloader {
	r := &reloader{
		do: do, delay: delay, retry: retry, logf: logf,
		soon: make(chan struct{}, 1), now: make(chan struct{}, 1),
		quit: make(chan struct{}), exited: make(chan struct{}),
		done: make(chan struct{}),
	}
	go r.loop()
	return r
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// mark records a unit file write and schedules a reload.
func (r *reloader) mark() {
	r.mu.Lock()
	r.want++
	r.mu.Unlock()
	poke(r.soon)
}

// sync returns once a reload that began after every write so far has
// succeeded, or with the error of such a reload, or when ctx ends.
func (r *reloader) sync(ctx context.Context) error {
	r.mu.Lock()
	target, since := r.want, r.started
	for r.have < target {
		if r.failed > since && r.covered >= target {
			err := r.err
			r.mu.Unlock()
			return err
		}
		done := r.done
		r.mu.Unlock()
		poke(r.now)
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-r.quit:
			return ErrClosed
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}

func (r *reloader) loop() {
	defer close(r.exited)
	var retry <-chan time.Time
	for {
		select {
		case <-r.quit:
			return
		case <-r.now:
		case <-retry:
		case <-r.soon:
			if !r.quiet() {
				return
			}
		}
		retry = nil
		if err := r.attempt(); err != nil {
			r.logf("systemdmgr: daemon-reload: %v (retrying in %s)", err, r.retry)
			retry = time.After(r.retry)
		}
	}
}

// quiet waits until no mark came for delay (at most 10 delays in all, so a
// steady stream of Loads still reloads), or until sync asks for a reload
// now. It returns false when the reloader is closing.
func (r *reloader) quiet() bool {
	t := time.NewTimer(r.delay)
	defer t.Stop()
	limit := time.After(10 * r.delay)
	for {
		select {
		case <-t.C:
			return true
		case <-limit:
			return true
		case <-r.now:
			return true
		case <-r.soon:
			t.Reset(r.delay)
		case <-r.quit:
			return false
		}
	}
}

// attempt reloads if a write is not yet covered.
func (r *reloader) attempt() error {
	r.mu.Lock()
	if r.have >= r.want {
		r.mu.Unlock()
		return nil
	}
	target := r.want
	r.started++
	n := r.started
	r.mu.Unlock()

	err := r.do()

	r.mu.Lock()
	if err == nil {
		r.have = max(r.have, target)
	} else {
		r.failed, r.covered, r.err = n, target, err
	}
	close(r.done)
	r.done = make(chan struct{})
	r.mu.Unlock()
	return err
}

func (r *reloader) close() {
	close(r.quit)
	<-r.exited
}
