package remote

import (
	"context"
	"sync"

	"github.com/flotilla-os/flotilla/internal/unitmgr"
)

// hub fans the manager's one Changes channel out to every change stream,
// each a unitmgr.Queue.
type hub struct {
	mu   sync.Mutex
	subs map[*unitmgr.Queue]struct{}
}

func newHub() *hub { return &hub{subs: map[*unitmgr.Queue]struct{}{}} }

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
				s.Add(name)
			}
			h.mu.Unlock()
		}
	}
}

func (h *hub) subscribe() *unitmgr.Queue {
	s := unitmgr.NewQueue()
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *unitmgr.Queue) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}
