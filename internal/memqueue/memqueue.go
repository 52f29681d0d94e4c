// Package memqueue is the local adapter's chat.Queue: fan-out batches
// handed to a pool of goroutines in the same process, the stand-in for SQS
// and the fan-out function.
package memqueue

import (
	"context"
	"sync"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// Deliver posts one batch and returns what is left of it (nil if nothing),
// as chat.Service.DeliverBatch does.
type Deliver func(ctx context.Context, b chat.Batch) *chat.Batch

// MaxAttempts bounds how often a batch with members still throttled is
// handed on: a member whose buffer stays full that long is dropped by the
// gateway anyway, and catches up from history when it reconnects.
const MaxAttempts = 10

var _ chat.Queue = (*Queue)(nil)

// Queue runs Deliver on each batch, Workers at a time.
type Queue struct {
	deliver Deliver
	work    chan chat.Batch
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	pending sync.WaitGroup // batches queued or being delivered
}

// New starts a queue with workers goroutines delivering batches.
func New(deliver Deliver, workers int) *Queue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{deliver: deliver, work: make(chan chat.Batch, 1024), ctx: ctx, cancel: cancel}
	for range max(workers, 1) {
		q.wg.Add(1)
		go q.run()
	}
	return q
}

// Enqueue hands the batches to the workers; it waits while the queue is
// full, until ctx ends.
func (q *Queue) Enqueue(ctx context.Context, batches []chat.Batch) error {
	for _, b := range batches {
		q.pending.Add(1)
		select {
		case q.work <- b:
		case <-ctx.Done():
			q.pending.Done()
			return ctx.Err()
		case <-q.ctx.Done():
			q.pending.Done()
			return q.ctx.Err()
		}
	}
	return nil
}

func (q *Queue) run() {
	defer q.wg.Done()
	for {
		select {
		case <-q.ctx.Done():
			return
		case b := <-q.work:
			q.handle(b)
		}
	}
}

// handle delivers a batch and hands on what is left, after a pause, as the
// SQS path does by sending it again.
func (q *Queue) handle(b chat.Batch) {
	defer q.pending.Done()
	rest := q.deliver(q.ctx, b)
	if rest == nil || rest.Attempt >= MaxAttempts || q.ctx.Err() != nil {
		return
	}
	q.pending.Add(1)
	go func() {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-q.ctx.Done():
			q.pending.Done()
			return
		}
		select {
		case q.work <- *rest:
		case <-q.ctx.Done():
			q.pending.Done()
		}
	}()
}

// Wait returns when every batch handed over so far has been delivered.
func (q *Queue) Wait() { q.pending.Wait() }

// Close stops the workers; batches not delivered yet are dropped (call
// Wait first to deliver them).
func (q *Queue) Close() {
	q.cancel()
	q.wg.Wait()
}
