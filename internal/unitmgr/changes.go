package unitmgr

import "sync"

// Queue is a coalescing queue of unit names: a name waiting to be taken is
// queued once however often it is added, names come out oldest first, and
// Add never blocks. It is the one change queue of the family: Changes
// feeds a Manager's Changes channel from one, and remote's server keeps
// one per change stream.
type Queue struct {
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]bool
	order   []string
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{wake: make(chan struct{}, 1), pending: map[string]bool{}}
}

// Add queues name unless it is already waiting, and wakes the taker.
func (q *Queue) Add(name string) {
	q.mu.Lock()
	if !q.pending[name] {
		q.pending[name] = true
		q.order = append(q.order, name)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Wake receives after an Add; the taker then calls Take (or Pop until it
// reports none). One receive may stand for several Adds.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Take empties the queue, oldest name first.
func (q *Queue) Take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.order
	q.order = nil
	clear(q.pending)
	return out
}

// Pop takes the oldest name. The name leaves the queue when taken, so an
// Add after that queues it again.
func (q *Queue) Pop() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return "", false
	}
	name := q.order[0]
	q.order = q.order[1:]
	delete(q.pending, name)
	return name, true
}

// Changes is what a backend's Changes method returns: names Notify'd are
// delivered on C through a Queue, so Notify never blocks and a slow reader
// may see a name once for several changes, but no name is ever dropped.
type Changes struct {
	q    *Queue
	out  chan string
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// NewChanges starts delivering; Close stops it.
func NewChanges() *Changes {
	c := &Changes{q: NewQueue(), out: make(chan string), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// Notify queues name for C unless it is already waiting there.
func (c *Changes) Notify(name string) { c.q.Add(name) }

// C delivers the names; it is closed by Close.
func (c *Changes) C() <-chan string { return c.out }

func (c *Changes) run() {
	defer close(c.done)
	defer close(c.out)
	for {
		name, ok := c.q.Pop()
		if !ok {
			select {
			case <-c.q.Wake():
				continue
			case <-c.quit:
				return
			}
		}
		select {
		case c.out <- name:
		case <-c.quit:
			return
		}
	}
}

// Close ends delivery, drops what was still queued and closes C. It is
// safe to call more than once; Notify after Close does nothing visible.
func (c *Changes) Close() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
}
