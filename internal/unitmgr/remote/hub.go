package remote

import (
	"context"
	"sync"
)

// hub fans the manager's one Changes channel out to every change stream.
type hub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func (h *hub) run(ctx context.Context, changes <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case name, ok := <-changes:
			if !ok {
				return
			}
			h.mu.Lock()
			for s := range h.subs {
				s.add(name)
			}
			h.mu.Unlock()
		}
	}
}

func (h *hub) subscribe() *subscriber {
	s := newSubscriber()
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// subscriber is a coalescing queue of unit names: a name waiting to be
// sent is queued once however often it changes; add never blocks.
type subscriber struct {
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]bool
	order   []string
}

func newSubscriber() *subscriber {
	return &subscriber{wake: make(chan struct{}, 1), pending: map[string]bool{}}
}

func (s *subscriber) add(name string) {
	s.mu.Lock()
	if !s.pending[name] {
		s.pending[name] = true
		s.order = append(s.order, name)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take empties the queue, oldest first.
func (s *subscriber) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.order
	s.order = nil
	clear(s.pending)
	return out
}
