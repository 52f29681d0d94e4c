package memstore

import (
	"cmp"
	"context"
	"maps"
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
	mu      sync.Mutex
	rooms   map[string]*roomHistory
	directs map[directKey]storedDirect
}

type directKey struct{ room, clientMsgID string }

type storedDirect struct {
	chat.DirectMessage
	expiresAt time.Time
}

type roomHistory struct {
	last     int64
	messages []storedMessage // by seq
	// byClientID finds a stored message's seq by its ClientMsgID.
	byClientID map[string]int64
}

type storedMessage struct {
	chat.Message
	expiresAt time.Time
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{rooms: map[string]*roomHistory{}, directs: map[directKey]storedDirect{}}
}

// RecordDirect remembers a direct message's ID and time by its
// ClientMsgID, without its text.
func (h *History) RecordDirect(_ context.Context, m chat.DirectMessage, expiresAt, now time.Time) (chat.DirectMessage, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := directKey{m.Room, m.ClientMsgID}
	if d, ok := h.directs[k]; ok && d.expiresAt.After(now) {
		return d.DirectMessage, false, nil
	}
	if len(h.directs) > 0 && len(h.directs)%1024 == 0 {
		maps.DeleteFunc(h.directs, func(_ directKey, d storedDirect) bool { return !d.expiresAt.After(now) })
	}
	record := chat.DirectMessage{Type: m.Type, ID: m.ID, From: m.From, To: m.To, SentAt: m.SentAt, Room: m.Room, ClientMsgID: m.ClientMsgID}
	h.directs[k] = storedDirect{DirectMessage: record, expiresAt: expiresAt}
	return m, true, nil
}

// Append stores m with the room's next seq, unless its ClientMsgID is
// stored already.
func (h *History) Append(_ context.Context, m chat.Message, expiresAt, now time.Time) (chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[m.Room]
	if r == nil {
		r = &roomHistory{byClientID: map[string]int64{}}
		h.rooms[m.Room] = r
	}
	r.prune(now)
	if m.ClientMsgID != "" {
		if sm, ok := r.find(r.byClientID[m.ClientMsgID]); ok && sm.ClientMsgID == m.ClientMsgID && sm.expiresAt.After(now) {
			return sm.Message, false, nil
		}
		r.byClientID[m.ClientMsgID] = r.last + 1
	}
	r.last++
	m.Seq = r.last
	r.messages = append(r.messages, storedMessage{Message: m, expiresAt: expiresAt})
	return m, true, nil
}

// prune drops the expired messages at the front. With one retention the
// expiry follows the seq order, so this is all of them; a message that
// expires earlier than an older one (the retention was shortened) is
// dropped later, and never shown meanwhile (Read filters).
func (r *roomHistory) prune(now time.Time) {
	n := 0
	for n < len(r.messages) && !r.messages[n].expiresAt.After(now) {
		if id := r.messages[n].ClientMsgID; id != "" && r.byClientID[id] == r.messages[n].Seq {
			delete(r.byClientID, id)
		}
		n++
	}
	if n > 0 {
		r.messages = slices.Delete(r.messages, 0, n)
	}
}

// find returns the stored message with seq.
func (r *roomHistory) find(seq int64) (storedMessage, bool) {
	i, ok := slices.BinarySearchFunc(r.messages, seq, bySeq)
	if !ok {
		return storedMessage{}, false
	}
	return r.messages[i], true
}

func bySeq(sm storedMessage, seq int64) int { return cmp.Compare(sm.Seq, seq) }

// Read returns the messages of room that q selects, oldest first.
func (h *History) Read(_ context.Context, room string, q chat.Range, now time.Time) ([]chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil || q.Limit <= 0 {
		return nil, false, nil
	}
	// The messages q selects by seq, then the first (forward) or last
	// (backward) Limit of them that have not expired.
	msgs := r.messages
	forward := q.Before == 0 && !q.Latest
	if forward {
		i, _ := slices.BinarySearchFunc(msgs, q.After+1, bySeq)
		msgs = msgs[i:]
	} else if q.Before > 0 {
		i, _ := slices.BinarySearchFunc(msgs, q.Before, bySeq)
		msgs = msgs[:i]
	}
	var out []chat.Message
	more := false
	for k := range msgs {
		sm := msgs[k]
		if !forward {
			sm = msgs[len(msgs)-1-k]
		}
		if !sm.expiresAt.After(now) {
			continue
		}
		if len(out) == q.Limit {
			more = true
			break
		}
		out = append(out, sm.Message)
	}
	if !forward {
		slices.Reverse(out)
	}
	return out, more, nil
}
