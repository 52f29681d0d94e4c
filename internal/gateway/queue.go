package gateway

import "sync"

// writeQueue is one connection's FIFO of messages waiting to be written.
// It holds at most max messages and maxBytes bytes, and grows on demand,
// so that an idle connection keeps next to nothing (a channel of max
// messages would reserve 24 bytes per slot for every connection). The
// bytes bound is what keeps memory in check: 4,096 messages of 128 KB
// would be 512 MB for one client that does not read. Any number of
// goroutines push; one, the connection's write loop, pops.
type writeQueue struct {
	mu       sync.Mutex
	items    [][]byte // items[head:] wait, oldest first
	head     int
	max      int
	maxBytes int
	bytes    int // of the messages waiting
	// ready holds a token when messages may be waiting: push leaves one,
	// and the write loop pops until the queue is empty after taking it.
	ready chan struct{}
}

// keepQueueCap is the largest backing array an empty queue keeps.
const keepQueueCap = 32

func newWriteQueue(max, maxBytes int) *writeQueue {
	return &writeQueue{max: max, maxBytes: maxBytes, ready: make(chan struct{}, 1)}
}

// push appends msg, or reports false if max messages or maxBytes bytes
// would wait. One message always fits in an empty queue.
func (q *writeQueue) push(msg []byte) bool {
	q.mu.Lock()
	waiting := len(q.items) - q.head
	if waiting >= q.max || (waiting > 0 && q.bytes+len(msg) > q.maxBytes) {
		q.mu.Unlock()
		return false
	}
	q.bytes += len(msg)
	if len(q.items) == cap(q.items) && q.head > 0 && q.head >= len(q.items)/2 {
		// Reuse the room of the messages already taken rather than grow:
		// with at least half of it free, this copies at most as many
		// messages as it frees slots.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, msg)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // a token is already there
	}
	return true
}

// pop takes the oldest message, or reports false if none waits.
func (q *writeQueue) pop() ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return nil, false
	}
	msg := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	q.bytes -= len(msg)
	if q.head == len(q.items) {
		q.head = 0
		if cap(q.items) > keepQueueCap {
			q.items = nil // a burst is over: give its memory back
		} else {
			q.items = q.items[:0]
		}
	}
	return msg, true
}

// len returns how many messages wait.
func (q *writeQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
