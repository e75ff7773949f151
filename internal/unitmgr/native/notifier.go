package native

import "sync"

// notifier coalesces state-change notifications: a name pending delivery is
// queued once however often it changes, and senders never block.
type notifier struct {
	out  chan string
	wake chan struct{}
	quit chan struct{}

	mu      sync.Mutex
	pending map[string]bool
	order   []string
}

func newNotifier() *notifier {
	n := &notifier{
		out: make(chan string, 64), wake: make(chan struct{}, 1),
		quit: make(chan struct{}), pending: map[string]bool{},
	}
	go n.loop()
	return n
}

func (n *notifier) notify(name string) {
	n.mu.Lock()
	if !n.pending[name] {
		n.pending[name] = true
		n.order = append(n.order, name)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) loop() {
	defer close(n.out)
	for {
		select {
		case <-n.quit:
			return
		case <-n.wake:
		}
		for name, ok := n.next(); ok; name, ok = n.next() {
			select {
			case n.out <- name:
			case <-n.quit:
				return
			}
		}
	}
}

// next pops the oldest pending name.
func (n *notifier) next() (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.order) == 0 {
		return "", false
	}
	name := n.order[0]
	n.order = n.order[1:]
	delete(n.pending, name)
	return name, true
}

func (n *notifier) close() { close(n.quit) }
