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

// Who answers a frame routed to "who" with the people of the sender's
// room (each once, with how many connections they have), who the sender
// is, and the sender's private conversations in the room.
func (s *Service) Who(ctx context.Context, connectionID string) error {
	c, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if err := s.takeRead(ctx, c, ""); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	now := s.now()
	members, err := s.Store.Members(ctx, c.Room, now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("who in %s: %w", c.Room, err))
	}
	members = withMember(members, c.member())
	everyone := people(members)
	names := make([]MemberName, 0, len(everyone))
	for _, p := range everyone {
		names = append(names, MemberName{UserID: p.UserID, Name: p.Name, Connections: p.Connections})
	}
	slices.SortFunc(names, func(a, b MemberName) int { return compareNames(a.Name, b.Name) })
	conversations, err := s.conversations(ctx, c, now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("who in %s: conversations: %w", c.Room, err))
	}
	blocked, err := s.blocks(ctx, c.UserID, now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("who in %s: blocks: %w", c.Room, err))
	}
	frame := MembersFrame{Type: TypeMembers, Room: c.Room, You: MemberName{UserID: c.UserID, Name: c.Name},
		Members: names, Count: len(everyone), Conversations: conversations, Blocked: nonNil(blocked)}
	if err := s.Sender.Post(ctx, connectionID, encode(frame)); err != nil {
		return fmt.Errorf("who to %s: %w", connectionID, err)
	}
	return nil
}

// maxConversations bounds the conversations a "who" reply lists.
const maxConversations = 200

// conversations returns c's user's private conversations in its room that
// hold messages, newest first.
func (s *Service) conversations(ctx context.Context, c Connection, now time.Time) ([]ConversationName, error) {
	out := []ConversationName{}
	if c.UserID == "" {
		return out, nil
	}
	entries, _, err := s.History.Read(ctx, inboxStream(c.Room, c.UserID), Range{Latest: true, Limit: maxConversations}, now)
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if id := entries[i].Conversation; inConversation(id, c.UserID) {
			out = append(out, ConversationName{ID: id, With: peerOf(id, c.UserID)})
		}
	}
	return out, nil
}

// Typing passes a typing notice to the other members of the sender's room,
// or, with a toId, to that person's connections only, at most one per
// TypingInterval per connection; faster ones are dropped without an
// error. Nothing of it is stored but the time it was passed on.
func (s *Service) Typing(ctx context.Context, connectionID string, body []byte) error {
	toID, err := ParseTyping(body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
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
	frame := TypingFrame{Type: TypeTyping, From: c.Name, FromID: c.UserID}
	// Not to the typist's own other tabs.
	recipients := slices.DeleteFunc(others(members, connectionID), func(m Member) bool { return m.UserID != "" && m.UserID == c.UserID })
	if toID != "" {
		if toID == c.UserID {
			return nil
		}
		recipients = connectionsOf(members, toID)
		frame.Conversation = ConversationID(c.UserID, toID)
	} else if !s.presenceFor(len(members)) {
		return nil
	}
	_, goneMembers := s.broadcast(ctx, recipients, encode(frame))
	s.reapGone(ctx, c.Room, members, goneMembers)
	return nil
}

// Direct handles a frame routed to "direct message": it stores the text in
// the private conversation of the sender and toId in their room, acks it
// to the sender when it has a clientMsgId, and delivers it to every
// connection of toId and to the sender's other connections. A resend of
// one stored already is only acked again. A person not in the room (or
// the sender) is answered with no_such_member, and nothing is stored.
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
	if sender.UserID == "" || req.ToID == sender.UserID {
		return Delivery{}, s.reject(ctx, senderID, &ProtocolError{Code: CodeNoSuchMember, ClientMsgID: req.ClientMsgID,
			Message: "you cannot write to yourself (or this connection predates user IDs: reconnect)"})
	}
	now := s.now()
	conversation := ConversationID(sender.UserID, req.ToID)
	stream := conversationStream(sender.Room, conversation)
	if req.Resend && req.ClientMsgID != "" {
		// Before the recipient is looked for: a message stored before they
		// left is acked, not refused.
		stored, found, err := s.History.Find(ctx, stream, req.ClientMsgID, now)
		if err != nil {
			return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("direct message from %s: find: %w", senderID, err))
		}
		if found {
			stored.Room = sender.Room
			s.post1(ctx, senderID, ackOf(stored))
			return Delivery{Seq: stored.Seq, Duplicate: true}, nil
		}
	}
	members, err := s.Store.Members(ctx, sender.Room, now)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("direct message from %s: list room %s: %w", senderID, sender.Room, err))
	}
	recipient := connectionsOf(members, req.ToID)
	if len(recipient) > 0 {
		// Refused as if they were not here: the block is not revealed.
		blocked, err := s.blocks(ctx, req.ToID, now)
		if err != nil {
			return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("direct message from %s: blocks: %w", senderID, err))
		}
		if slices.Contains(blocked, sender.UserID) {
			recipient = nil
		}
	}
	if len(recipient) == 0 {
		return Delivery{}, s.reject(ctx, senderID, &ProtocolError{Code: CodeNoSuchMember, ClientMsgID: req.ClientMsgID,
			Message: "that person is not in this room"})
	}
	text, err := s.review(ctx, TypeDirect, sender, conversation, req.Text, req.ClientMsgID)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, err)
	}
	msg, isNew, err := s.History.Append(ctx, Message{
		Type: TypeDirect, ID: s.newID(), Room: stream, Conversation: conversation,
		From: sender.Name, FromID: sender.UserID, To: recipient[0].Name, ToID: req.ToID,
		Text: text, SentAt: FormatTime(now), ClientMsgID: req.ClientMsgID,
	}, now.Add(s.retention()), now)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("direct message from %s: store: %w", senderID, err))
	}
	msg.Room = sender.Room
	if req.ClientMsgID != "" {
		s.post1(ctx, senderID, ackWith(msg, req.Text))
	}
	if !isNew {
		return Delivery{Seq: msg.Seq, Duplicate: true}, nil
	}
	if msg.Seq == 1 {
		s.listConversation(ctx, sender.Room, conversation, now)
	}
	recipients := append(recipient, others(connectionsOf(members, sender.UserID), senderID)...)
	d, goneMembers := s.deliverDirect(ctx, recipients, encode(msg))
	d.Seq = msg.Seq
	s.reapGone(ctx, sender.Room, members, goneMembers)
	return d, nil
}

// listConversation adds a conversation, at its first message, to the lists
// of both its people ("who"'s conversations). An entry is stored once
// (keyed by the conversation), so a retried first message adds nothing.
func (s *Service) listConversation(ctx context.Context, room, conversation string, now time.Time) {
	a, b, _ := strings.Cut(conversation, "+")
	for _, user := range []string{a, b} {
		entry := Message{Type: TypeDirect, ID: s.newID(), Room: inboxStream(room, user), Conversation: conversation,
			SentAt: FormatTime(now), ClientMsgID: conversation}
		if _, _, err := s.History.Append(ctx, entry, now.Add(s.retention()), now); err != nil {
			s.logger().WarnContext(ctx, "conversation not listed: its messages still reach its people live",
				slog.Any("error", err))
		}
	}
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

// Rename handles a frame routed to "rename": it renames the sender's person
// (each of their connections in the room) and tells every member of the
// room, the sender included. A name another person in the room holds is
// refused with name_taken.
func (s *Service) Rename(ctx context.Context, connectionID string, body []byte) error {
	name, err := ParseRename(body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	name = normalName(name)
	current, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if current.SignedIn {
		return s.reject(ctx, connectionID, protocolError(CodeNameFixed, "you are signed in: your name comes from your account"))
	}
	if err := s.takeSend(ctx, current, ""); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	now := s.now()
	members, err := s.Store.Members(ctx, current.Room, now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("rename %s: list room %s: %w", connectionID, current.Room, err))
	}
	members = withMember(members, current.member())
	newKey, oldKey := NameKey(name), NameKey(current.Name)
	for _, m := range members {
		if NameKey(m.Name) == newKey && userOf(m) != userOf(current.member()) {
			return s.reject(ctx, connectionID, protocolError(CodeNameTaken, "%q is taken in this room", name))
		}
	}
	if s.Names != nil {
		_, ok, err := s.Names.Claim(ctx, current.Room, newKey, s.claim(current, name), now)
		if err != nil {
			return s.reject(ctx, connectionID, fmt.Errorf("rename %s: claim: %w", connectionID, err))
		}
		if !ok {
			return s.reject(ctx, connectionID, protocolError(CodeNameTaken, "%q is taken in this room", name))
		}
	}
	mine := connectionsOf(members, current.UserID)
	if current.UserID == "" {
		mine = []Member{current.member()}
	}
	for _, m := range mine {
		_, err := s.Store.Rename(ctx, m.ID, name)
		switch {
		case errors.Is(err, ErrNotFound) && m.ID == connectionID:
			return s.reject(ctx, connectionID, notConnected())
		case errors.Is(err, ErrNotFound):
			// another tab that just left
		case err != nil:
			return s.reject(ctx, connectionID, fmt.Errorf("rename %s: %w", m.ID, err))
		}
	}
	if newKey != oldKey {
		s.releaseName(ctx, current.Room, current.Name, current.UserID)
	}
	_, goneMembers := s.broadcast(ctx, members, encode(RenamedFrame{Type: TypeRenamed, UserID: current.UserID, From: current.Name, Name: name}))
	s.reapGone(ctx, current.Room, members, goneMembers)
	return nil
}

// announceTo tells the other members of c's room that c's person joined or
// left, if the room is small enough for presence. members is the room as
// read before the change.
func (s *Service) announceTo(ctx context.Context, members []Member, c Connection, kind string) {
	// The room index may lag a write by a moment: count c in on a join and
	// out on a leave whatever it says.
	if kind == TypeJoined {
		members = withMember(members, c.member())
	} else {
		members = without(members, []Member{c.member()})
	}
	rest := others(members, c.ID)
	if !s.presenceFor(len(members)) {
		return
	}
	frame := PresenceFrame{Type: kind, UserID: c.UserID, Name: c.Name, Count: countPeople(members)}
	_, goneMembers := s.broadcast(ctx, rest, encode(frame))
	s.reapGone(ctx, c.Room, rest, goneMembers)
}

// announceGone tells the members still there that the people of the
// removed connections left, if none of their connections is left: a
// connection found gone by a post leaves as by $disconnect, which API
// Gateway only runs on a best-effort basis. Their names are given up at
// once (they are long gone). Connections these notices find gone in turn
// are reaped but not announced, so that it ends.
func (s *Service) announceGone(ctx context.Context, room string, members, removed []Member) {
	if len(removed) == 0 {
		return
	}
	rest := without(members, removed)
	var leaving []Member
	for _, g := range removed {
		if g.UserID != "" && hasUser(rest, g.UserID) {
			continue
		}
		if g.UserID != "" && slices.ContainsFunc(leaving, func(l Member) bool { return l.UserID == g.UserID }) {
			continue
		}
		s.releaseName(ctx, room, g.Name, g.UserID)
		leaving = append(leaving, g)
	}
	if len(leaving) == 0 || !s.presenceFor(len(members)) {
		return
	}
	var more []Member
	for _, g := range leaving {
		_, gone := s.broadcast(ctx, rest, encode(PresenceFrame{Type: TypeLeft, UserID: g.UserID, Name: g.Name, Count: countPeople(rest)}))
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
	return Member{ID: c.ID, Name: c.Name, UserID: c.UserID, ConnectedAt: c.ConnectedAt}
}

// compareNames orders names for people: case-insensitively, then exactly.
func compareNames(a, b string) int {
	if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}
