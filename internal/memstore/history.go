package memstore

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

var _ chat.History = (*History)(nil)

// DefaultMaxRoomBytes bounds the messages one room keeps in memory: about
// 4,000 messages of 2,000 characters, or 30,000 short ones. A day's
// retention of a busy room, or a client that floods one, would otherwise
// grow the adapter's memory without bound.
const DefaultMaxRoomBytes = 16 << 20

// History keeps each room's messages in memory, in seq order, with the same
// rules as dynamo.History: a per-room counter that never goes back, one
// message per clientMsgId while it is kept, and expired messages invisible
// (and dropped as new ones arrive). Each room keeps at most MaxRoomBytes of
// messages (as sizeOf counts them): past it the oldest are dropped first,
// and with them their clientMsgIds.
type History struct {
	// MaxRoomBytes bounds each room (DefaultMaxRoomBytes if 0).
	MaxRoomBytes int

	mu    sync.Mutex
	rooms map[string]*roomHistory
}

type roomHistory struct {
	// epoch is made with the room's history: a new store (the adapter
	// restarted) is a new order, and says so.
	epoch    string
	last     int64
	messages []storedMessage // by seq
	bytes    int             // sizeOf the messages
	// byClientID finds a stored message's seq by its ClientMsgID.
	byClientID map[string]int64
}

type storedMessage struct {
	chat.Message
	expiresAt time.Time
	// lastChange is the seq of the last event applied to the message;
	// edits are its edit events, whose text a deletion removes too.
	lastChange int64
	edits      []int64
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{MaxRoomBytes: DefaultMaxRoomBytes, rooms: map[string]*roomHistory{}}
}

// Append stores m with the room's next seq, unless its ClientMsgID is
// stored already.
func (h *History) Append(_ context.Context, m chat.Message, expiresAt, now time.Time) (chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[m.Room]
	if r == nil {
		r = &roomHistory{byClientID: map[string]int64{}, epoch: chat.NewID()[:10]}
		h.rooms[m.Room] = r
	}
	r.prune(now)
	if m.ClientMsgID != "" {
		if sm, ok := r.find(r.byClientID[m.ClientMsgID]); ok && sm.ClientMsgID == m.ClientMsgID && sm.expiresAt.After(now) {
			return sm.copy(), false, nil
		}
		r.byClientID[m.ClientMsgID] = r.last + 1
	}
	r.last++
	m.Seq, m.Epoch = r.last, r.epoch
	r.messages = append(r.messages, storedMessage{Message: m, expiresAt: expiresAt})
	r.bytes += sizeOf(m)
	r.trim(h.maxRoomBytes())
	return m, true, nil
}

// Find returns the message of room stored with clientMsgID, if it is kept.
func (h *History) Find(_ context.Context, room, clientMsgID string, now time.Time) (chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		return chat.Message{}, false, nil
	}
	seq, ok := r.byClientID[clientMsgID]
	if !ok {
		return chat.Message{}, false, nil
	}
	sm, ok := r.find(seq)
	if !ok || sm.ClientMsgID != clientMsgID || !sm.expiresAt.After(now) {
		return chat.Message{}, false, nil
	}
	return sm.copy(), true, nil
}

// copy returns the message with a reactions map of its own: the stored one
// changes under the lock after it is handed out.
func (sm storedMessage) copy() chat.Message {
	m := sm.Message
	if m.Reactions != nil {
		m.Reactions = make(map[string][]string, len(sm.Reactions))
		for e, users := range sm.Reactions {
			m.Reactions[e] = slices.Clone(users)
		}
	}
	return m
}

// Count counts the messages of room above after, up to limit.
func (h *History) Count(_ context.Context, room string, after int64, limit int, now time.Time) (int, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		return 0, false, nil
	}
	i, found := slices.BinarySearchFunc(r.messages, after, bySeq)
	if found {
		i++
	}
	n := 0
	for _, sm := range r.messages[i:] {
		if !sm.expiresAt.After(now) || (sm.Type != chat.TypeChatMessage && sm.Type != chat.TypeDirect) {
			continue
		}
		if n == limit {
			return n, true, nil
		}
		n++
	}
	return n, false, nil
}

// At returns the item of room at seq.
func (h *History) At(_ context.Context, room string, seq int64, now time.Time) (chat.Message, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		return chat.Message{}, false, nil
	}
	sm, ok := r.find(seq)
	if !ok || !sm.expiresAt.After(now) {
		return chat.Message{}, false, nil
	}
	return sm.copy(), true, nil
}

// Change applies c to the message of room at target.Seq.
func (h *History) Change(_ context.Context, room string, target chat.Message, c chat.Change, now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(r.messages, target.Seq, bySeq)
	if !ok || r.messages[i].ID != target.ID {
		return nil
	}
	sm := &r.messages[i]
	ev := c.Event
	if ev.Type != chat.TypeReaction && ev.Seq <= sm.lastChange {
		return nil // an older edit or deletion never undoes a newer one
	}
	switch ev.Type {
	case chat.TypeEdit:
		if sm.Deleted {
			return nil
		}
		sm.Text, sm.EditedAt = ev.Text, ev.EditedAt
		sm.edits = append(sm.edits, ev.Seq)
		sm.lastChange = ev.Seq
	case chat.TypeDelete:
		sm.Text, sm.EditedAt, sm.Deleted, sm.Reactions = "", "", true, nil
		for _, seq := range sm.edits {
			if j, ok := slices.BinarySearchFunc(r.messages, seq, bySeq); ok {
				r.messages[j].Text = ""
			}
		}
		sm.edits = nil
		sm.lastChange = ev.Seq
	case chat.TypeReaction:
		if sm.Deleted {
			return nil
		}
		users := sm.Reactions[ev.Emoji]
		has := slices.Contains(users, c.UserID)
		switch {
		case ev.Op == "add" && !has:
			if sm.Reactions == nil {
				sm.Reactions = map[string][]string{}
			}
			sm.Reactions[ev.Emoji] = append(slices.Clone(users), c.UserID)
		case ev.Op == "remove" && has:
			users = slices.DeleteFunc(slices.Clone(users), func(u string) bool { return u == c.UserID })
			if len(users) == 0 {
				delete(sm.Reactions, ev.Emoji)
			} else {
				sm.Reactions[ev.Emoji] = users
			}
		}
	}
	return nil
}

// sizeOf is what a stored message costs, roughly: its strings and the
// fixed part of the struct, slice slot and index entry.
func sizeOf(m chat.Message) int {
	return len(m.ID) + len(m.Room) + len(m.From) + len(m.Text) + len(m.SentAt) + 2*len(m.ClientMsgID) + 256
}

func (h *History) maxRoomBytes() int {
	if h.MaxRoomBytes > 0 {
		return h.MaxRoomBytes
	}
	return DefaultMaxRoomBytes
}

// trim drops the oldest messages while the room holds more than max bytes.
func (r *roomHistory) trim(max int) {
	n := 0
	for r.bytes > max && n < len(r.messages)-1 {
		r.drop(n)
		n++
	}
	if n > 0 {
		r.messages = slices.Delete(r.messages, 0, n)
	}
}

// drop forgets what indexes the i-th message; the caller removes it.
func (r *roomHistory) drop(i int) {
	sm := r.messages[i]
	if id := sm.ClientMsgID; id != "" && r.byClientID[id] == sm.Seq {
		delete(r.byClientID, id)
	}
	r.bytes -= sizeOf(sm.Message)
}

// prune drops the expired messages at the front. With one retention the
// expiry follows the seq order, so this is all of them; a message that
// expires earlier than an older one (the retention was shortened) is
// dropped later, and never shown meanwhile (Read filters).
func (r *roomHistory) prune(now time.Time) {
	n := 0
	for n < len(r.messages) && !r.messages[n].expiresAt.After(now) {
		r.drop(n)
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
		// Above After, written so that After = MaxInt64 cannot overflow.
		i, found := slices.BinarySearchFunc(msgs, q.After, bySeq)
		if found {
			i++
		}
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
		out = append(out, sm.copy())
	}
	if !forward {
		slices.Reverse(out)
	}
	return out, more, nil
}
