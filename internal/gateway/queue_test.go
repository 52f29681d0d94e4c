package gateway

import (
	"strconv"
	"testing"
)

func TestWriteQueue(t *testing.T) {
	tests := []struct {
		name string
		max  int
		// ops: a positive number pushes that many messages, a negative one
		// pops that many.
		ops []int
	}{
		{"push then pop all", 10, []int{10, -10}},
		{"interleaved, never empty", 8, []int{5, -3, 6, -4, 4, -2, 2, -8, 3, -3}},
		{"refills after emptying", 3, []int{3, -3, 3, -1, 1, -3}},
		{"burst bigger than the kept capacity", 1000, []int{1000, -999, 500, -501}},
		{"steady state near the bound", 50, []int{50, -1, 1, -1, 1, -25, 25, -49, 49, -50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newWriteQueue(tt.max, 1<<30)
			next, want := 0, 0 // next message to push, next expected from pop
			for _, op := range tt.ops {
				for ; op > 0; op-- {
					if !q.push([]byte(strconv.Itoa(next))) {
						t.Fatalf("push %d refused with %d queued (max %d)", next, q.len(), tt.max)
					}
					next++
				}
				for ; op < 0; op++ {
					got, ok := q.pop()
					if !ok {
						t.Fatalf("pop: empty, want %d", want)
					}
					if string(got) != strconv.Itoa(want) {
						t.Fatalf("pop: got %s, want %d", got, want)
					}
					want++
				}
				if got := q.len(); got != next-want {
					t.Fatalf("len %d, want %d", got, next-want)
				}
				if cap(q.items) > 4*tt.max+keepQueueCap {
					t.Fatalf("backing array of %d for at most %d messages", cap(q.items), tt.max)
				}
			}
			if _, ok := q.pop(); ok != (next > want) {
				t.Errorf("pop at the end: ok=%v with %d queued", ok, next-want)
			}
		})
	}
}

func TestWriteQueueBound(t *testing.T) {
	q := newWriteQueue(2, 1<<30)
	if !q.push([]byte("a")) || !q.push([]byte("b")) {
		t.Fatal("push refused under the bound")
	}
	if q.push([]byte("c")) {
		t.Fatal("push accepted over the bound")
	}
	if _, ok := q.pop(); !ok {
		t.Fatal("pop: empty")
	}
	if !q.push([]byte("c")) {
		t.Fatal("push refused after a pop made room")
	}
}

func TestWriteQueueReady(t *testing.T) {
	q := newWriteQueue(10, 1<<30)
	select {
	case <-q.ready:
		t.Fatal("ready before any push")
	default:
	}
	q.push([]byte("a"))
	q.push([]byte("b")) // one token for both
	select {
	case <-q.ready:
	default:
		t.Fatal("not ready after a push")
	}
	select {
	case <-q.ready:
		t.Fatal("two tokens for two pushes: want one")
	default:
	}
	for range 2 {
		if _, ok := q.pop(); !ok {
			t.Fatal("pop: empty")
		}
	}
	q.push([]byte("c")) // after the loop emptied the queue: a new token
	select {
	case <-q.ready:
	default:
		t.Fatal("not ready after a push to an emptied queue")
	}
}

// The queue is bounded in bytes: a large message that would pass the bound
// is refused (one always fits in an empty queue), and room comes back as
// messages are written.
func TestWriteQueueBytes(t *testing.T) {
	q := newWriteQueue(1000, 100)
	if !q.push(make([]byte, 60)) || !q.push(make([]byte, 40)) {
		t.Fatal("100 bytes refused, want them queued")
	}
	if q.push(make([]byte, 1)) {
		t.Errorf("byte 101 queued, want it refused")
	}
	q.pop()
	if !q.push(make([]byte, 60)) {
		t.Errorf("60 bytes refused after 60 were written")
	}
	for q.len() > 0 {
		q.pop()
	}
	if !q.push(make([]byte, 500)) {
		t.Errorf("a message larger than the bound refused by an empty queue")
	}
}
