package logforward

import (
	"sync"
	"sync/atomic"
)

// recordOverhead is what a line costs in a queue beyond its bytes, so that
// a flood of empty lines is bounded too.
const recordOverhead = 64

// queue is one destination's bounded buffer: the producers (unit output
// pumps, fleetd's logger) append under mu and never wait for the network;
// the sender takes everything at once and hands back the emptied slices.
type queue struct {
	max int

	mu    sync.Mutex
	recs  []record
	data  []byte
	bytes int // data plus recordOverhead per record
	wake  chan struct{}

	dropped atomic.Uint64
}

func newQueue(max int) *queue {
	return &queue{max: max, wake: make(chan struct{}, 1)}
}

// add copies the line in, or counts it dropped when the buffer is full.
func (q *queue) add(t int64, unit string, s Stream, line []byte) {
	if len(line) > MaxMessage {
		line = line[:MaxMessage]
	}
	cost := len(line) + recordOverhead
	q.mu.Lock()
	if q.bytes+cost > q.max {
		q.mu.Unlock()
		q.dropped.Add(1)
		return
	}
	q.recs = append(q.recs, record{t: t, unit: unit, stream: s, off: len(q.data), n: len(line)})
	q.data = append(q.data, line...)
	q.bytes += cost
	first := len(q.recs) == 1
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// take swaps the pending records for the given (emptied) slices.
func (q *queue) take(recs []record, data []byte) ([]record, []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, d := q.recs, q.data
	q.recs, q.data, q.bytes = recs[:0], data[:0], 0
	return r, d
}

// buffered is what waits in the queue now (bytes, overhead included).
func (q *queue) buffered() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}
