package chat

import (
	"context"
	"encoding/json"
	"fmt"
)

// Unread counts for the rooms a person visited lately but does not follow:
// a page follows one room at a time, and its room list shows how many
// messages each other room got since the person last looked.

// ActionUnread and TypeUnread name the request and its answer.
const (
	ActionUnread = "unread"
	TypeUnread   = "unread"
	// MaxUnreadRooms bounds the rooms of one request.
	MaxUnreadRooms = 20
	// MaxUnreadCount is the most an answer counts in one room: a room
	// past it shows "99+", and a count costs no more than that many items'
	// reads.
	MaxUnreadCount = 99
)

// UnreadFrame answers "unread": for each room asked about, the messages
// after the seq given (events of changes not counted), at most
// MaxUnreadCount, with More set past it, and the room's epoch (a seq of
// another epoch counts from the start).
type UnreadFrame struct {
	Type  string                `json:"type"`
	Rooms map[string]RoomUnread `json:"rooms"`
}

// RoomUnread is one room of UnreadFrame.
type RoomUnread struct {
	Count int  `json:"count"`
	More  bool `json:"more,omitempty"`
}

// ParseUnread validates {"action":"unread","rooms":{"general":41,…}}.
func ParseUnread(body []byte) (map[string]int64, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return nil, err
	}
	var rooms map[string]int64
	raw, ok := f.field("rooms")
	if !ok || json.Unmarshal(raw, &rooms) != nil || len(rooms) > MaxUnreadRooms {
		return nil, protocolError(CodeInvalidField, "rooms must map up to %d room names to the last seq seen", MaxUnreadRooms)
	}
	for room, seq := range rooms {
		if room == "" || !roomPattern.MatchString(room) || seq < 0 {
			return nil, protocolError(CodeInvalidField, "rooms must map room names ([a-z0-9-]{1,32}) to seqs, 0 or more")
		}
	}
	return rooms, nil
}

// Unread answers a frame routed to "unread". It is one read against the
// read limit, however many rooms it asks about.
func (s *Service) Unread(ctx context.Context, connectionID string, body []byte) error {
	rooms, err := ParseUnread(body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	c, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if err := s.takeRead(ctx, c, ""); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	now := s.now()
	out := UnreadFrame{Type: TypeUnread, Rooms: make(map[string]RoomUnread, len(rooms))}
	for room, after := range rooms {
		n, more, err := s.History.Count(ctx, room, after, MaxUnreadCount, now)
		if err != nil {
			return s.reject(ctx, connectionID, fmt.Errorf("unread in %s: %w", room, err))
		}
		out.Rooms[room] = RoomUnread{Count: n, More: more}
	}
	if err := s.Sender.Post(ctx, connectionID, encode(out)); err != nil {
		return fmt.Errorf("unread to %s: %w", connectionID, err)
	}
	return nil
}
