// Package memstore is an in-memory chat.Store, the local adapter's default:
// no database to install, and connections indexed by room so that a
// broadcast costs what its room costs, as with DynamoDB.
package memstore

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

var _ chat.Store = (*Store)(nil)

// Store keeps connections in memory. The zero value is not usable; call New.
//
// Each room keeps its members as a list that a change replaces (copy on
// write): Members, which every message reads, hands out that list without
// copying it, while joins, leaves and renames, far rarer, pay for the copy.
type Store struct {
	mu       sync.RWMutex
	byID     map[string]chat.Connection
	byRoom   map[string][]chat.Member // in join order; never modified in place
	counters map[string]counter
	names    map[nameKey]chat.NameClaim
	blocks   map[string]map[string]bool
}

// New returns an empty store.
func New() *Store {
	return &Store{byID: map[string]chat.Connection{}, byRoom: map[string][]chat.Member{}}
}

// Put saves c, moving it to its room if it was in another.
func (s *Store) Put(_ context.Context, c chat.Connection) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(c.ID)
	s.byID[c.ID] = c
	old := s.byRoom[c.Room]
	list := make([]chat.Member, len(old), len(old)+1)
	copy(list, old)
	s.byRoom[c.Room] = append(list, member(c))
	return nil
}

// Get returns the connection, or chat.ErrNotFound.
func (s *Store) Get(_ context.Context, id string) (chat.Connection, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.byID[id]
	if !ok {
		return chat.Connection{}, chat.ErrNotFound
	}
	return c, nil
}

// Delete forgets the connection and returns it (zero if unknown).
func (s *Store) Delete(_ context.Context, id string) (chat.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byID[id]
	s.remove(id)
	return c, nil
}

// Rename changes the connection's name and returns it as it was.
func (s *Store) Rename(_ context.Context, id, name string) (chat.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok {
		return chat.Connection{}, chat.ErrNotFound
	}
	renamed := c
	renamed.Name = name
	s.byID[id] = renamed
	list := slices.Clone(s.byRoom[c.Room])
	if i := slices.IndexFunc(list, func(m chat.Member) bool { return m.ID == id }); i >= 0 {
		list[i] = member(renamed)
	}
	s.byRoom[c.Room] = list
	return c, nil
}

// SetClock sets the clock to next if it is still prev.
func (s *Store) SetClock(_ context.Context, id string, clock chat.Clock, prev, next time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok || !clock.Of(c).Equal(prev) {
		return false, nil
	}
	s.byID[id] = clock.Set(c, next)
	return true, nil
}

// DeleteStale forgets the connection if it connected before cutoff.
func (s *Store) DeleteStale(_ context.Context, id string, cutoff time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byID[id]
	if !ok || !c.ConnectedAt.Before(cutoff) {
		return false, nil
	}
	s.remove(id)
	return true, nil
}

// Members returns the connections in room that have not expired at now, in
// the order they joined. The slice is shared: callers must not modify it
// (appending to it is safe: its capacity is its length).
func (s *Store) Members(_ context.Context, room string, now time.Time) ([]chat.Member, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.byRoom[room]
	live := func(m chat.Member) bool {
		c := s.byID[m.ID]
		return c.ExpiresAt.IsZero() || c.ExpiresAt.After(now)
	}
	for i, m := range list {
		if !live(m) { // rare: a connection past its TTL that nobody removed
			out := slices.Clone(list[:i])
			for _, m := range list[i+1:] {
				if live(m) {
					out = append(out, m)
				}
			}
			return slices.Clip(out), nil
		}
	}
	return slices.Clip(list), nil
}

func (s *Store) remove(id string) {
	old, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	list := slices.DeleteFunc(slices.Clone(s.byRoom[old.Room]), func(m chat.Member) bool { return m.ID == id })
	if len(list) == 0 {
		delete(s.byRoom, old.Room)
		return
	}
	s.byRoom[old.Room] = slices.Clip(list)
}

// member is c as its room lists it.
func member(c chat.Connection) chat.Member {
	return chat.Member{ID: c.ID, Name: c.Name, UserID: c.UserID, ConnectedAt: c.ConnectedAt}
}

var _ chat.Counters = (*Store)(nil)

type counter struct {
	n                    int64
	expiresAt, changedAt time.Time
}

// Add adds delta to the counter unless the result would pass max.
func (s *Store) Add(_ context.Context, key string, delta, max int64, expiresAt, now time.Time) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counters == nil {
		s.counters = map[string]counter{}
	}
	c := s.counters[key]
	if !c.expiresAt.IsZero() && !c.expiresAt.After(now) {
		c = counter{}
	}
	if max >= 0 && c.n+delta > max {
		return c.n, false, nil
	}
	c.n += delta
	c.expiresAt, c.changedAt = expiresAt, now
	s.counters[key] = c
	if len(s.counters)%1024 == 0 {
		maps.DeleteFunc(s.counters, func(_ string, c counter) bool { return !c.expiresAt.IsZero() && !c.expiresAt.After(now) })
	}
	return c.n, true, nil
}

// Count returns the counter's value and when it last changed.
func (s *Store) Count(_ context.Context, key string, now time.Time) (int64, time.Time, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.counters[key]
	if !ok || (!c.expiresAt.IsZero() && !c.expiresAt.After(now)) {
		return 0, time.Time{}, nil
	}
	return c.n, c.changedAt, nil
}

// Reset sets the counter to n if it has not changed since changedAt.
func (s *Store) Reset(_ context.Context, key string, n int64, changedAt, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counters[key]
	if !c.changedAt.Equal(changedAt) {
		return false, nil
	}
	c.n, c.changedAt = n, now
	s.counters[key] = c
	return true, nil
}

var _ chat.Names = (*Store)(nil)

type nameKey struct{ room, key string }

// Claim gives the name to c.UserID unless another user holds it.
func (s *Store) Claim(_ context.Context, room, key string, c chat.NameClaim, now time.Time) (chat.NameClaim, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[nameKey]chat.NameClaim{}
	}
	k := nameKey{room, key}
	prev, held := s.names[k]
	if held && prev.UserID != c.UserID && prev.ExpiresAt.After(now) {
		return prev, false, nil
	}
	if held && !prev.ExpiresAt.After(now) {
		prev = chat.NameClaim{}
	}
	c.LeftAt = time.Time{}
	s.names[k] = c
	if len(s.names)%1024 == 0 {
		maps.DeleteFunc(s.names, func(_ nameKey, c chat.NameClaim) bool { return !c.ExpiresAt.After(now) })
	}
	return prev, true, nil
}

// MarkLeft records when user's last connection left, if user holds the name.
func (s *Store) MarkLeft(_ context.Context, room, key, user string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := nameKey{room, key}
	c, ok := s.names[k]
	if !ok || c.UserID != user {
		return false, nil
	}
	c.LeftAt = at
	s.names[k] = c
	return true, nil
}

// Release forgets user's claim (only while its LeftAt is leftAt, if set).
func (s *Store) Release(_ context.Context, room, key, user string, leftAt time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := nameKey{room, key}
	c, ok := s.names[k]
	if !ok || c.UserID != user || (!leftAt.IsZero() && !c.LeftAt.Equal(leftAt)) {
		return false, nil
	}
	delete(s.names, k)
	return true, nil
}

var _ chat.Blocks = (*Store)(nil)

// Blocked returns whom user blocked, sorted.
func (s *Store) Blocked(_ context.Context, user string, _ time.Time) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.blocks[user])), nil
}

// SetBlocked blocks or unblocks other for user.
func (s *Store) SetBlocked(_ context.Context, user, other string, blocked bool, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocks == nil {
		s.blocks = map[string]map[string]bool{}
	}
	if !blocked {
		delete(s.blocks[user], other)
		return nil
	}
	if s.blocks[user] == nil {
		s.blocks[user] = map[string]bool{}
	}
	s.blocks[user][other] = true
	return nil
}
