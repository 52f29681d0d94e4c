package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Large rooms are not delivered by the function that stored the message:
// one invocation posting to 10,000 members at ~10 ms a post needs seconds,
// more than a chat message should wait and close to API Gateway's 29 s.
// Above InlineLimit members the recipients are split into batches of
// BatchSize and handed to a Queue (SQS deployed, an in-process queue
// locally), whose consumers deliver each batch with DeliverBatch.
const (
	// DefaultInlineLimit is the largest room delivered inline.
	DefaultInlineLimit = 500
	// DefaultBatchSize is how many recipients one batch carries: a few
	// hundred posts take one fan-out invocation well under a second, and
	// the batch (frame + IDs and names) stays far below SQS's 256 KB.
	DefaultBatchSize = 250
	// maxRounds bounds the rounds of one DeliverBatch; what is still
	// throttled after them is handed back.
	maxRounds = 12
)

// Batch is a share of one message's recipients, to be posted the frame.
type Batch struct {
	Room string `json:"room"`
	Seq  int64  `json:"seq,omitempty"`
	// Endpoint is the @connections endpoint of the API and stage the
	// message came through ("" for the local gateway).
	Endpoint string `json:"endpoint,omitempty"`
	// Frame is the JSON frame to post, carried as JSON, not base64.
	Frame      json.RawMessage `json:"frame"`
	Recipients []Member        `json:"recipients"`
	// Attempt counts the times the batch was handed on with members
	// still throttled; it bounds the redelivery of a batch that never
	// gets through.
	Attempt int `json:"attempt,omitempty"`
}

// Queue carries batches to the fan-out workers. Implementations:
// sqsqueue.Queue, memqueue.Queue.
type Queue interface {
	Enqueue(ctx context.Context, batches []Batch) error
}

// ErrQueue means batches could not be handed to the queue.
var ErrQueue = errors.New("fan-out queue refused the batches")

// batches splits recipients into batches of at most size.
func batches(room string, seq int64, endpoint string, frame []byte, recipients []Member, size int) []Batch {
	var out []Batch
	for chunk := range slices.Chunk(recipients, size) {
		out = append(out, Batch{Room: room, Seq: seq, Endpoint: endpoint, Frame: frame, Recipients: chunk})
	}
	return out
}

// fanOut hands the recipients to the queue in batches and returns what it
// queued as a Delivery.
func (s *Service) fanOut(ctx context.Context, room string, seq int64, frame []byte, recipients []Member) (Delivery, error) {
	bs := batches(room, seq, s.Endpoint, frame, recipients, s.batchSize())
	if err := s.Queue.Enqueue(ctx, bs); err != nil {
		return Delivery{Recipients: len(recipients)}, fmt.Errorf("fan out to %d members of %s: %w: %w", len(recipients), room, ErrQueue, err)
	}
	return Delivery{Recipients: len(recipients), Queued: len(recipients), Batches: len(bs)}, nil
}

// DeliverBatch posts a batch's frame to its recipients, Workers at a time.
// Throttled posts (429: the account's rate, or a full client buffer) are
// tried again with exponential backoff and full jitter until they succeed
// or ctx is about to end; the recipients still throttled then come back in
// the returned batch (nil if none), for the caller to hand on, so that
// nothing is dropped while time remains. Gone recipients are reaped, as
// inline.
func (s *Service) DeliverBatch(ctx context.Context, b Batch) (Delivery, *Batch) {
	total := Delivery{Seq: b.Seq, Recipients: len(b.Recipients)}
	pending := b.Recipients
	backoff := 50 * time.Millisecond
	for round := 0; len(pending) > 0 && round < maxRounds; round++ {
		d, throttled := s.postAll(ctx, b.Room, pending, b.Frame)
		total.Delivered += d.Delivered
		total.Gone += d.Gone
		total.Opening += d.Opening
		total.Failed += d.Failed
		total.Retried += len(throttled)
		pending = throttled
		if len(pending) == 0 || ctx.Err() != nil {
			break
		}
		// Full jitter, capped: the account's throttle is a token bucket
		// that refills every second.
		wait := time.Duration(rand.Int64N(int64(backoff)))
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+time.Second {
			break // hand the rest on rather than run out of time
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		backoff = min(2*backoff, time.Second)
	}
	if len(pending) == 0 {
		return total, nil
	}
	total.Throttled = len(pending)
	rest := b
	rest.Recipients = pending
	rest.Attempt++
	return total, &rest
}

// postAll posts frame to each member once, Workers at a time, and returns
// the members that were throttled.
func (s *Service) postAll(ctx context.Context, room string, members []Member, frame []byte) (Delivery, []Member) {
	var mu sync.Mutex
	var d Delivery
	var throttledMembers, goneMembers []Member
	eachMember(s.workers(), members, func(m Member) {
		o := s.post(ctx, m, frame)
		mu.Lock()
		defer mu.Unlock()
		switch o {
		case delivered:
			d.Delivered++
		case gone:
			d.Gone++
			goneMembers = append(goneMembers, m)
		case opening:
			d.Opening++
		case throttled, skipped:
			throttledMembers = append(throttledMembers, m)
		default:
			d.Failed++
		}
	})
	if len(goneMembers) > 0 {
		// A large room has no presence notices: the gone are only forgotten.
		s.reaper().reap(ctx, goneMembers, s.now().Add(-ConnectGrace), s.forgetIn(room))
	}
	if len(throttledMembers) > 0 {
		s.logger().LogAttrs(ctx, slog.LevelDebug, "posts throttled", slog.Int("members", len(throttledMembers)))
	}
	return d, throttledMembers
}

func (s *Service) inlineLimit() int {
	if s.InlineLimit > 0 {
		return s.InlineLimit
	}
	return DefaultInlineLimit
}

func (s *Service) batchSize() int {
	if s.BatchSize > 0 {
		return s.BatchSize
	}
	return DefaultBatchSize
}

// eachMember calls fn for each member on at most workers goroutines, each
// taking the next member until none is left. A fixed set of goroutines,
// not one per member: a post through the SDK grows a goroutine's stack
// deep, and a new goroutine per post pays for that growth every time (12 %
// of a fan-out's CPU in its profile, BENCHMARKS.md).
func eachMember(workers int, members []Member, fn func(Member)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(members)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(members) {
					return
				}
				fn(members[i])
			}
		})
	}
	wg.Wait()
}
