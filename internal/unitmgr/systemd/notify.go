package systemd

import "sync"

// notifier delivers unit names on a channel: a name is queued at most once
// until it is received, so senders never block and no name is ever dropped.
type notifier struct {
	out  chan string
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	mu     sync.Mutex
	queued map[string]bool
	fifo   []string
}

func newNotifier() *notifier {
	n := &notifier{
		out:    make(chan string),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		queued: map[string]bool{},
	}
	go n.run()
	return n
}

// notify queues name unless it is already waiting to be received.
func (n *notifier) notify(name string) {
	n.mu.Lock()
	if !n.queued[name] {
		n.queued[name] = true
		n.fifo = append(n.fifo, name)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer close(n.done)
	defer close(n.out)
	for {
		name, ok := n.pop()
		if !ok {
			select {
			case <-n.wake:
				continue
			case <-n.quit:
				return
			}
		}
		select {
		case n.out <- name:
		case <-n.quit:
			return
		}
	}
}

// pop takes the oldest queued name. The name leaves the queue when handed to
// the sender, so a change after that queues it again.
func (n *notifier) pop() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.fifo) == 0 {
		return "", false
	}
	name := n.fifo[0]
	n.fifo = n.fifo[1:]
	delete(n.queued, name)
	return name, true
}

// close ends delivery and closes the channel.
func (n *notifier) close() {
	close(n.quit)
	<-n.done
}
