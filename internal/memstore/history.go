package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

var _ chat.History = (*History)(nil)

// History keeps each room's messages in memory, in seq order, with the same
// rules as dynamo.History: a per-room counter that never goes back, one
// message per clientMsgId while it is kept, and expired messages invisible
// (and dropped as new ones arrive).
type History struct {
	mu    sync.Mutex
	rooms map[string]*roomHistory
}

type roomHistory struct {
	last     int64
	messages []storedMessage // by seq
}

type storedMessage struct {
	chat.Message
	expiresAt time.Time
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{rooms: map[string]*roomHistory{}} }

// Append stores m with the room's next seq, unless its ClientMsgID is
// stored already.
func (h *History) Append(_ context.Context, m chat.Message, expiresAt, now time.Time) (chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[m.Room]
	if r == nil {
		r = &roomHistory{}
		h.rooms[m.Room] = r
	}
	// Expired messages go first: they are kept in seq order, and so nearly
	// in expiry order.
	r.messages = slices.DeleteFunc(r.messages, func(sm storedMessage) bool { return !sm.expiresAt.After(now) })
	if m.ClientMsgID != "" {
		for _, sm := range r.messages {
			if sm.ClientMsgID == m.ClientMsgID {
				return sm.Message, false, nil
			}
		}
	}
	r.last++
	m.Seq = r.last
	r.messages = append(r.messages, storedMessage{Message: m, expiresAt: expiresAt})
	return m, true, nil
}

// Read returns the messages of room that q selects, oldest first.
func (h *History) Read(_ context.Context, room string, q chat.Range, now time.Time) ([]chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil || q.Limit <= 0 {
		return nil, false, nil
	}
	var live []chat.Message
	for _, sm := range r.messages {
		if sm.expiresAt.After(now) {
			live = append(live, sm.Message)
		}
	}
	if q.Before == 0 && !q.Latest {
		i, _ := slices.BinarySearchFunc(live, q.After+1, func(m chat.Message, seq int64) int { return int(m.Seq - seq) })
		live = live[i:]
		if len(live) > q.Limit {
			return slices.Clone(live[:q.Limit]), true, nil
		}
		return slices.Clone(live), false, nil
	}
	if q.Before > 0 {
		i, _ := slices.BinarySearchFunc(live, q.Before, func(m chat.Message, seq int64) int { return int(m.Seq - seq) })
		live = live[:i]
	}
	if len(live) > q.Limit {
		return slices.Clone(live[len(live)-q.Limit:]), true, nil
	}
	return slices.Clone(live), false, nil
}
