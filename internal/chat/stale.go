package chat

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Stale connections. @connections answers 410 for a connection that went
// away without $disconnect (API Gateway runs it best effort) and for one
// still in $connect. A broadcast tells the two apart by the member's
// ConnectedAt and hands the gone ones to a Reaper; it never waits on the
// deletes. A Reaper deletes each gone connection once, however many
// broadcasts meet it, and only the broadcast whose delete removed it tells
// the room that it left.

// DefaultReapWorkers is how many deletes a Reaper makes at once.
const DefaultReapWorkers = 8

// reapMemory is how long a Reaper remembers a connection it took: further
// 410s from it within that time cost nothing. It outlasts the room index's
// lag behind a delete (eventually consistent, normally well under a second).
const reapMemory = time.Minute

// Reaper forgets the connections that broadcasts found gone. One Reaper
// lives as long as its host: a warm Lambda container, or the local
// adapter. Without one, a Service reaps in the foreground with a Reaper of
// its own.
type Reaper struct {
	Store Store
	// Background runs the deletes (and the left notices they lead to) on
	// goroutines of their own, so that neither a broadcast nor $disconnect
	// waits for them: for hosts that outlive a request, such as the local
	// adapter. Otherwise Reap waits for them, as a Lambda function must
	// (it is frozen once it returns); they still run after the broadcast,
	// never inside it.
	Background bool
	// Workers bounds the concurrent deletes (DefaultReapWorkers if 0). In
	// the background, what exceeds the bound is dropped and counted: a
	// later broadcast, $disconnect or the TTL forgets it instead.
	Workers int
	Logger  *slog.Logger

	mu     sync.Mutex
	recent map[string]time.Time // connection ID -> when it was taken
	slots  chan struct{}

	// Every gone connection handed over is counted once in one of these:
	// Deleted, removed by its delete; Missing, deleted already (by
	// $disconnect, or another host); Repeats, taken already within
	// reapMemory (no write); Dropped, not taken because the background was
	// busy; Failed, a failed delete.
	Handed, Deleted, Missing, Repeats, Dropped, Failed atomic.Int64
}

// Accounted reports whether every connection handed over is counted in
// exactly one outcome (once the background deletes have ended).
func (r *Reaper) Accounted() bool {
	return r.Handed.Load() == r.Deleted.Load()+r.Missing.Load()+r.Repeats.Load()+r.Dropped.Load()+r.Failed.Load()
}

// String sums up what the Reaper did, for logs.
func (r *Reaper) String() string {
	return fmt.Sprintf("gone connections: %d handed over, %d deleted, %d not there (deleted already, or young), %d repeats, %d dropped (busy), %d failed",
		r.Handed.Load(), r.Deleted.Load(), r.Missing.Load(), r.Repeats.Load(), r.Dropped.Load(), r.Failed.Load())
}

// reap deletes the gone members that no earlier call took, and calls left
// with those its deletes removed (in the background, with a context of its
// own).
func (r *Reaper) reap(ctx context.Context, gone []Member, cutoff time.Time, left func(context.Context, []Member)) {
	r.Handed.Add(int64(len(gone)))
	taken := r.take(gone, time.Now())
	if len(taken) == 0 {
		return
	}
	if !r.Background {
		r.deleteAll(ctx, taken, cutoff, left)
		return
	}
	select {
	case r.slotsChan() <- struct{}{}:
	default:
		r.Dropped.Add(int64(len(taken)))
		r.forget(taken)
		return
	}
	go func() {
		defer func() { <-r.slots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		r.deleteAll(ctx, taken, cutoff, left)
	}()
}

func (r *Reaper) deleteAll(ctx context.Context, taken []Member, cutoff time.Time, left func(context.Context, []Member)) {
	var mu sync.Mutex
	var removed []Member
	var g errgroup.Group
	g.SetLimit(r.workers())
	for _, m := range taken {
		g.Go(func() error {
			deleted, err := r.Store.DeleteStale(ctx, m.ID, cutoff)
			switch {
			case err != nil:
				r.Failed.Add(1)
				r.forget([]Member{m}) // a later 410 tries again
				r.logger().WarnContext(ctx, "stale connection not deleted", slog.String("to", m.ID), slog.Any("error", err))
			case deleted:
				r.Deleted.Add(1)
				mu.Lock()
				removed = append(removed, m)
				mu.Unlock()
			default:
				r.Missing.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	if len(removed) > 0 && left != nil {
		left(ctx, removed)
	}
}

// take returns the members not taken in the last reapMemory, and marks them.
func (r *Reaper) take(gone []Member, now time.Time) []Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recent == nil {
		r.recent = map[string]time.Time{}
	}
	if len(r.recent) >= 4096 {
		for id, at := range r.recent {
			if now.Sub(at) > reapMemory {
				delete(r.recent, id)
			}
		}
	}
	var taken []Member
	for _, m := range gone {
		if at, ok := r.recent[m.ID]; ok && now.Sub(at) <= reapMemory {
			r.Repeats.Add(1)
			continue
		}
		r.recent[m.ID] = now
		taken = append(taken, m)
	}
	return taken
}

func (r *Reaper) forget(members []Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range members {
		delete(r.recent, m.ID)
	}
}

func (r *Reaper) slotsChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.slots == nil {
		r.slots = make(chan struct{}, r.workers())
	}
	return r.slots
}

func (r *Reaper) workers() int {
	if r.Workers > 0 {
		return r.Workers
	}
	return DefaultReapWorkers
}

func (r *Reaper) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// reapGone hands the members a broadcast found gone to the Reaper, and
// tells the rest of the room (members, as the broadcast listed them) of
// those its deletes removed.
func (s *Service) reapGone(ctx context.Context, room string, members, gone []Member) {
	if len(gone) == 0 {
		return
	}
	s.reaper().reap(ctx, gone, s.now().Add(-ConnectGrace), func(ctx context.Context, removed []Member) {
		s.forgetIn(room)(ctx, removed)
		s.announceGone(ctx, room, members, removed)
	})
}

// forgetIn returns what follows the deletes of gone members of room
// without a notice: their places in the room's count are given back.
func (s *Service) forgetIn(room string) func(context.Context, []Member) {
	return func(ctx context.Context, removed []Member) {
		for range removed {
			s.leaveRoom(ctx, room)
		}
	}
}

// reaper returns the host's Reaper, or one for this call alone.
func (s *Service) reaper() *Reaper {
	if s.Reaper != nil {
		return s.Reaper
	}
	return &Reaper{Store: s.Store, Logger: s.Logger}
}

// young reports whether m connected less than ConnectGrace ago: its 410
// may be its handshake.
func (s *Service) young(m Member) bool {
	return !m.ConnectedAt.IsZero() && s.now().Sub(m.ConnectedAt) < ConnectGrace
}

// without returns members less those in gone.
func without(members, gone []Member) []Member {
	return slices.DeleteFunc(slices.Clone(members), func(m Member) bool {
		return slices.ContainsFunc(gone, func(g Member) bool { return g.ID == m.ID })
	})
}
