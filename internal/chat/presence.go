package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// DefaultPresenceLimit is the largest room, in connections, whose members
// are told of joins, leaves and typing unless Service.PresenceLimit says
// otherwise. Each notice costs one post per member: a join in a room of 500
// is 500 posts (API Gateway messages), and in a busy room joins and leaves
// come all the time. Above it the room stays usable and cheap: "who" and
// its count still answer.
const DefaultPresenceLimit = 500

// TypingInterval is the least time between two typing notices of one
// connection that are passed on; the page sends one at most this often.
const TypingInterval = 2 * time.Second

// Who answers a frame routed to "who" with the members of the sender's
// room: each name once, and the number of connections.
func (s *Service) Who(ctx context.Context, connectionID string) error {
	c, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if err := s.takeRead(ctx, c, ""); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	members, err := s.Store.Members(ctx, c.Room, s.now())
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("who in %s: %w", c.Room, err))
	}
	members = withMember(members, c.member())
	names := make([]MemberName, 0, len(members))
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if !seen[m.Name] {
			seen[m.Name] = true
			names = append(names, MemberName{Name: m.Name})
		}
	}
	slices.SortFunc(names, func(a, b MemberName) int { return compareNames(a.Name, b.Name) })
	frame := MembersFrame{Type: TypeMembers, Room: c.Room, Members: names, Count: len(members)}
	if err := s.Sender.Post(ctx, connectionID, encode(frame)); err != nil {
		return fmt.Errorf("who to %s: %w", connectionID, err)
	}
	return nil
}

// Typing passes a typing notice to the other members of the sender's room,
// at most one per TypingInterval per connection; faster ones are dropped
// without an error. Nothing of it is stored but the time it was passed on.
func (s *Service) Typing(ctx context.Context, connectionID string) error {
	c, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	now := s.now()
	if !c.TypingAt.IsZero() && now.Sub(c.TypingAt) < TypingInterval {
		return nil
	}
	if ok, err := s.Store.SetClock(ctx, connectionID, TypingClock, c.TypingAt, now); err != nil || !ok {
		return err // !ok: a concurrent notice of the same connection won
	}
	members, err := s.Store.Members(ctx, c.Room, now)
	if err != nil {
		return fmt.Errorf("typing in %s: %w", c.Room, err)
	}
	if !s.presenceFor(len(members)) {
		return nil
	}
	_, goneMembers := s.broadcast(ctx, others(members, connectionID), encode(TypingFrame{Type: TypeTyping, From: c.Name}))
	s.reapGone(ctx, c.Room, members, goneMembers)
	return nil
}

// Direct handles a frame routed to "direct message": it delivers the text
// to every connection in the sender's room with the name "to", acks it to
// the sender when it has a clientMsgId, and delivers a resend of one
// already accepted only as its ack again. An absent name is answered with
// no_such_member.
func (s *Service) Direct(ctx context.Context, senderID string, body []byte) (Delivery, error) {
	req, err := ParseDirectMessage(body)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, err)
	}
	sender, err := s.member(ctx, senderID)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, err)
	}
	if err := s.takeSend(ctx, sender, req.ClientMsgID); err != nil {
		return Delivery{}, s.reject(ctx, senderID, err)
	}
	now := s.now()
	members, err := s.Store.Members(ctx, sender.Room, now)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("direct message from %s: list room %s: %w", senderID, sender.Room, err))
	}
	var recipients []Member
	for _, m := range members {
		if m.Name == req.To && m.ID != senderID {
			recipients = append(recipients, m)
		}
	}
	if len(recipients) == 0 {
		return Delivery{}, s.reject(ctx, senderID, protocolError(CodeNoSuchMember, "nobody named %q is in this room", req.To))
	}
	dm := DirectMessage{Type: TypeDirect, ID: s.newID(), From: sender.Name, To: req.To, Text: req.Text,
		SentAt: FormatTime(now), Room: sender.Room, ClientMsgID: req.ClientMsgID}
	if req.ClientMsgID != "" {
		stored, isNew, err := s.History.RecordDirect(ctx, dm, now.Add(s.retention()), now)
		if err != nil {
			return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("direct message from %s: record: %w", senderID, err))
		}
		if !isNew {
			// Delivered before (an undelivered one is not kept): acked again.
			s.post1(ctx, senderID, Ack{Type: TypeAck, ClientMsgID: req.ClientMsgID, ID: stored.ID, SentAt: stored.SentAt})
			return Delivery{Duplicate: true}, nil
		}
	}
	d, goneMembers := s.deliverDirect(ctx, recipients, encode(dm))
	s.reapGone(ctx, sender.Room, members, goneMembers)
	if d.Delivered == 0 {
		// Not one connection of that name took it: the sender is told, and
		// may send it again (its record is forgotten, so a resend is new).
		if req.ClientMsgID != "" {
			if err := s.History.ForgetDirect(ctx, sender.Room, req.ClientMsgID); err != nil {
				s.logger().WarnContext(ctx, "undelivered direct message's record not forgotten", slog.Any("error", err))
			}
		}
		return d, s.reject(ctx, senderID, &ProtocolError{Code: CodeNotDelivered, ClientMsgID: req.ClientMsgID,
			Message: fmt.Sprintf("%s did not get this message: they may have just left or be reconnecting; send it again", req.To)})
	}
	if req.ClientMsgID != "" {
		s.post1(ctx, senderID, Ack{Type: TypeAck, ClientMsgID: req.ClientMsgID, ID: dm.ID, SentAt: dm.SentAt})
	}
	return d, nil
}

// directRounds bounds the tries of a direct message to a recipient whose
// posts are throttled (429: its receive buffer is full, or the account's
// rate), with a short backoff between them.
const directRounds = 3

// deliverDirect posts a direct message to each recipient, trying throttled
// ones again a few times: unlike a room message, a direct message has no
// history to catch up from, so a post that fails is a message lost.
func (s *Service) deliverDirect(ctx context.Context, recipients []Member, frame []byte) (Delivery, []Member) {
	total := Delivery{Recipients: len(recipients)}
	var goneMembers []Member
	pending := recipients
	for round := 0; len(pending) > 0 && round < directRounds; round++ {
		if round > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(100<<(round-1)) * time.Millisecond):
			}
		}
		var retry []Member
		for _, m := range pending {
			switch s.post(ctx, m, frame) {
			case delivered:
				total.Delivered++
			case gone:
				total.Gone++
				goneMembers = append(goneMembers, m)
			case opening:
				total.Opening++
			case throttled:
				retry = append(retry, m)
			case skipped:
				total.Skipped++
			default:
				total.Failed++
			}
		}
		pending = retry
		total.Retried += len(retry)
	}
	total.Throttled = len(pending)
	return total, goneMembers
}

// Rename handles a frame routed to "rename": it changes the sender's name
// and tells every member of the room, the sender included.
func (s *Service) Rename(ctx context.Context, connectionID string, body []byte) error {
	name, err := ParseRename(body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	current, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if current.UserID != "" {
		return s.reject(ctx, connectionID, protocolError(CodeNameFixed, "you are signed in: your name comes from your account"))
	}
	if err := s.takeSend(ctx, current, ""); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	c, err := s.Store.Rename(ctx, connectionID, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return s.reject(ctx, connectionID, notConnected())
	case err != nil:
		return s.reject(ctx, connectionID, fmt.Errorf("rename %s: %w", connectionID, err))
	}
	members, err := s.Store.Members(ctx, c.Room, s.now())
	if err != nil {
		return fmt.Errorf("rename %s: list room %s: %w", connectionID, c.Room, err)
	}
	oldName := c.Name
	c.Name = name
	members = withMember(members, c.member())
	_, goneMembers := s.broadcast(ctx, members, encode(RenamedFrame{Type: TypeRenamed, From: oldName, Name: name}))
	s.reapGone(ctx, c.Room, members, goneMembers)
	return nil
}

// announce tells the other members of c's room that c joined or left, if
// the room is small enough for presence.
func (s *Service) announce(ctx context.Context, c Connection, kind string, now time.Time) {
	members, err := s.Store.Members(ctx, c.Room, now)
	if err != nil {
		s.logger().WarnContext(ctx, "presence not announced", slog.String("room", c.Room), slog.Any("error", err))
		return
	}
	s.announceTo(ctx, members, c, kind)
}

// announceTo is announce with the room's members read already.
func (s *Service) announceTo(ctx context.Context, members []Member, c Connection, kind string) {
	// The room index may lag a write by a moment: count c in on a join and
	// out on a leave whatever it says.
	if kind == TypeJoined {
		members = withMember(members, c.member())
	}
	rest := others(members, c.ID)
	if !s.presenceFor(len(members)) {
		return
	}
	count := len(rest)
	if kind == TypeJoined {
		count++
	}
	frame := PresenceFrame{Type: kind, Name: c.Name, Count: count, StillHere: kind == TypeLeft && hasName(rest, c.Name)}
	_, goneMembers := s.broadcast(ctx, rest, encode(frame))
	s.reapGone(ctx, c.Room, rest, goneMembers)
}

// hasName reports whether a member of members is called name.
func hasName(members []Member, name string) bool {
	return slices.ContainsFunc(members, func(m Member) bool { return m.Name == name })
}

// announceGone tells the members still there that the removed ones left:
// a connection found gone by a post leaves as by $disconnect, which API
// Gateway only runs on a best-effort basis. Connections these notices find
// gone in turn are reaped but not announced, so that it ends.
func (s *Service) announceGone(ctx context.Context, room string, members, removed []Member) {
	if len(removed) == 0 || !s.presenceFor(len(members)) {
		return
	}
	rest := without(members, removed)
	var more []Member
	for _, g := range removed {
		_, gone := s.broadcast(ctx, rest, encode(PresenceFrame{Type: TypeLeft, Name: g.Name, Count: len(rest), StillHere: hasName(rest, g.Name)}))
		more = append(more, gone...)
	}
	if len(more) > 0 {
		s.reaper().reap(ctx, more, s.now().Add(-ConnectGrace), s.forgetIn(room))
	}
}

func (s *Service) presenceFor(roomSize int) bool {
	limit := s.PresenceLimit
	if limit == 0 {
		limit = DefaultPresenceLimit
	}
	return roomSize <= limit
}

// withMember returns members with m in it, once.
func withMember(members []Member, m Member) []Member {
	if slices.ContainsFunc(members, func(o Member) bool { return o.ID == m.ID }) {
		return members
	}
	return append(members, m)
}

func (c Connection) member() Member {
	return Member{ID: c.ID, Name: c.Name, ConnectedAt: c.ConnectedAt}
}

// compareNames orders names for people: case-insensitively, then exactly.
func compareNames(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
