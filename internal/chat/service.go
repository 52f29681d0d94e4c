package chat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/sync/errgroup"
)

// DefaultWorkers is how many posts a broadcast makes at once when
// Service.Workers is not set.
const DefaultWorkers = 32

// Service is the chat's behaviour. It is cheap to build: hosts may make one
// per request, for example to give it a Sender bound to that request's
// @connections endpoint.
type Service struct {
	Store   Store
	History History
	Sender  Sender
	// Workers bounds the concurrent posts of one broadcast.
	Workers int
	// Retention is how long messages are kept (DefaultRetention if 0).
	Retention time.Duration
	// PresenceLimit is the largest room (in connections) whose members are
	// told of joins, leaves and typing (DefaultPresenceLimit if 0; negative
	// for none): each costs a post to every member. "who", the counts and
	// renames work at any size.
	PresenceLimit int
	// Queue, when set, takes the delivery of rooms of more than
	// InlineLimit members (DefaultInlineLimit if 0), in batches of
	// BatchSize (DefaultBatchSize if 0). Without it every room is
	// delivered inline.
	Queue       Queue
	InlineLimit int
	BatchSize   int
	// SendLimit bounds how fast one connection may send frames that are
	// stored or fanned out: chat messages, direct messages and renames
	// (DefaultSendLimit if zero; a Burst below 1 for no limit). Typing has
	// its own limit (TypingInterval); who and history only read.
	SendLimit RateLimit
	// RoomCap is the most connections a room takes (DefaultRoomCap if 0;
	// negative for no cap). With Counters it is a per-room count taken by
	// one conditional write per join (and given back on leave), so
	// concurrent joins cannot pass it; without, it is checked on the
	// room's listing.
	RoomCap int
	// ReadLimit bounds how fast one connection may read (history, who):
	// DefaultReadLimit if zero; a Burst below 1 for no limit.
	ReadLimit RateLimit
	// Counters keeps the limits that span connections and hosts: each
	// person's budgets (PersonLimits), flood strikes and cool-downs
	// (Flood), and the room cap's count. Without it those are off.
	Counters Counters
	// Names keeps who holds each name in each room (see Names). Without
	// it names are made unique from the room's listing alone, which two
	// concurrent joins can both pass, and nobody keeps a name through a
	// reconnect.
	Names Names
	// Blocks keeps whom each user blocked (see Blocks); without it
	// "block" answers internal.
	Blocks       Blocks
	PersonLimits PersonLimits
	Flood        FloodPolicy
	// Review, when it has a Reviewer, sees each message, private message
	// and edit before it is published.
	Review ReviewPolicy
	// Reaper forgets the connections broadcasts find gone. Hosts keep one
	// for their lifetime, so that a connection answering 410 to many
	// broadcasts is deleted once; without it each call reaps on its own.
	Reaper *Reaper
	// Endpoint is the @connections endpoint the batches carry to the
	// fan-out workers ("" for the local gateway).
	Endpoint string
	Logger   *slog.Logger
	// LeaveGrace is how long a person whose last connection left keeps
	// their name before the room is told (LeaveGrace if 0; negative for no
	// grace: told at once).
	LeaveGrace time.Duration
	// Later, when set, runs f after d, for Disconnect's grace: a host that
	// lives on (the local adapter) waits without holding $disconnect.
	// Without it Disconnect waits itself, as a Lambda function must (it is
	// frozen once it returns).
	Later func(d time.Duration, f func(context.Context))
	// Now and NewID default to time.Now and a random ID; tests replace them.
	Now   func() time.Time
	NewID func() string
}

// Connect registers a connection of a new anonymous user that asks to
// join room under name, both taken from the connection URL and possibly
// empty. A *ProtocolError means the request is refused: room_full and
// cooling_down with HTTP 429, any other code with 400. Any other error is
// the store's.
func (s *Service) Connect(ctx context.Context, connectionID, name, room string) (Connection, error) {
	return s.ConnectFrom(ctx, connectionID, name, room, "")
}

// ConnectFrom is Connect for a client at sourceIP, which the limits that
// hold across an anonymous person's connections count by.
func (s *Service) ConnectFrom(ctx context.Context, connectionID, name, room, sourceIP string) (Connection, error) {
	return s.ConnectAnonymous(ctx, connectionID, name, room, sourceIP, "")
}

// ConnectAnonymous is ConnectFrom for the anonymous user whose client
// holds secret (see AnonymousUserID; "" or malformed: a new user). The
// limits still count by source address: a secret is free to make.
func (s *Service) ConnectAnonymous(ctx context.Context, connectionID, name, room, sourceIP, secret string) (Connection, error) {
	room, err := ValidateRoom(room)
	if err != nil {
		return Connection{}, err
	}
	if err := ValidateName(name); err != nil {
		return Connection{}, err
	}
	if name == "" {
		name = "guest-" + s.newID()[:5]
	}
	return s.join(ctx, Connection{ID: connectionID, Room: room, Name: normalName(name),
		UserID: AnonymousUserID(secret), Person: Person("", sourceIP)})
}

// User is a signed-in user, as the $connect authorizer found it in a token.
type User struct {
	ID     string // the token's sub
	Issuer string // its iss
	Name   string // its display name claim; may be empty
}

// ConnectUser registers a signed-in user's connection. The name comes from
// the token, not the URL: one that is not a valid name is cut to one, and
// a missing one becomes "user-" and the start of the user's ID.
func (s *Service) ConnectUser(ctx context.Context, connectionID, room string, u User) (Connection, error) {
	room, err := ValidateRoom(room)
	if err != nil {
		return Connection{}, err
	}
	if u.ID == "" {
		return Connection{}, fmt.Errorf("connect %s: a signed-in user without an ID", connectionID)
	}
	id := SignedInUserID(u.Issuer, u.ID)
	return s.join(ctx, Connection{ID: connectionID, Room: room, Name: normalName(userName(u)), UserID: id,
		SignedIn: true, Person: Person(id, "")})
}

// userName makes a valid display name of a token's claims.
func userName(u User) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.ToValidUTF8(u.Name, ""))
	if runes := []rune(strings.TrimSpace(name)); len(runes) > MaxNameLength {
		name = string(runes[:MaxNameLength])
	} else {
		name = string(runes)
	}
	if name == "" {
		id := []rune(u.ID)
		name = "user-" + string(id[:min(len(id), 8)])
	}
	return name
}

// join stores c in its room unless the room is at its cap, and tells the
// room. The room's listing serves both the cap and the joined notice. A
// full room first looks for members that left without $disconnect.
//
// If ctx ends (the integration timed out: the handshake is refused) or
// anything fails after the connection is stored, it is deleted again: a
// refused handshake never gets $disconnect, and must leave no member
// behind.
func (s *Service) join(ctx context.Context, c Connection) (Connection, error) {
	now := s.now()
	c.ConnectedAt, c.ExpiresAt = now, now.Add(TTL)
	if cooling, err := s.coolingDown(ctx, c.Person); err != nil {
		return Connection{}, fmt.Errorf("connect %s: cool-down: %w", c.ID, err)
	} else if cooling {
		return Connection{}, protocolError(CodeCoolingDown, "this client was cut off for flooding; try again later")
	}
	members, err := s.Store.Members(ctx, c.Room, now)
	if err != nil {
		return Connection{}, fmt.Errorf("connect %s: list room %s: %w", c.ID, c.Room, err)
	}
	if members, err = s.admit(ctx, c, members); err != nil {
		return Connection{}, err
	}
	name, here, err := s.takeName(ctx, c, members, now)
	if err != nil {
		s.leaveRoom(ctx, c.Room)
		return Connection{}, err
	}
	c.Name = name
	if err := s.Store.Put(ctx, c); err != nil {
		s.abandon(ctx, c, nil, here) // a write cut short by ctx may have landed
		return Connection{}, fmt.Errorf("connect %s: %w", c.ID, err)
	}
	if err := ctx.Err(); err != nil {
		s.abandon(ctx, c, nil, here)
		return Connection{}, fmt.Errorf("connect %s: stored too late: %w", c.ID, err)
	}
	if here {
		return c, nil // a second tab, or back within LeaveGrace: no join
	}
	s.announceTo(ctx, members, c, TypeJoined)
	if err := ctx.Err(); err != nil {
		s.abandon(ctx, c, members, here)
		return Connection{}, fmt.Errorf("connect %s: announced too late: %w", c.ID, err)
	}
	return c, nil
}

// abandon deletes a connection whose $connect fails after storing it, with
// a context of its own (ctx may have ended). announced are the members
// told that it joined, who are told that it left. Unless its user was in
// the room already (here), its name is given up.
func (s *Service) abandon(ctx context.Context, c Connection, announced []Member, here bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.Store.Delete(ctx, c.ID); err != nil {
		s.logger().ErrorContext(ctx, "refused connection not deleted: it stays until its TTL",
			slog.String("connectionId", c.ID), slog.Any("error", err))
		return
	}
	s.leaveRoom(ctx, c.Room)
	if !here {
		s.releaseName(ctx, c.Room, c.Name, c.UserID)
	}
	if announced != nil {
		s.announceTo(ctx, announced, c, TypeLeft)
	}
}

// maxProbes bounds the members a full room probes for one newcomer.
const maxProbes = 16

// pruneDead probes the oldest members of a full room (past ConnectGrace)
// through the Sender's Prober, deletes those that are gone, tells the rest
// of the room they left, and returns the members left. Without a Prober
// it returns members as they are. Lost $disconnects (a crash of the
// client's network, a mass disconnect) would otherwise keep a full room
// closed to everyone until the members' TTL.
func (s *Service) pruneDead(ctx context.Context, room string, members []Member) []Member {
	prober, ok := s.Sender.(Prober)
	if !ok {
		return members
	}
	candidates := slices.DeleteFunc(slices.Clone(members), s.young)
	slices.SortFunc(candidates, func(a, b Member) int { return a.ConnectedAt.Compare(b.ConnectedAt) })
	candidates = candidates[:min(len(candidates), maxProbes)]
	var mu sync.Mutex
	var dead []Member
	var g errgroup.Group
	g.SetLimit(s.workers())
	for _, m := range candidates {
		g.Go(func() error {
			alive, err := prober.Alive(ctx, m.ID)
			if err != nil || alive {
				return nil
			}
			if deleted, err := s.Store.DeleteStale(ctx, m.ID, s.now().Add(-ConnectGrace)); err == nil && deleted {
				s.leaveRoom(ctx, room)
				mu.Lock()
				dead = append(dead, m)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if len(dead) == 0 {
		return members
	}
	s.logger().InfoContext(ctx, "full room: members gone without $disconnect removed", slog.Int("removed", len(dead)))
	s.announceGone(ctx, room, members, dead)
	return without(members, dead)
}

// Disconnect forgets a connection. If it was its person's last in the
// room, the person keeps their name for LeaveGrace, and the rest of the
// room is told they left only if they have not come back by then: a
// reload is not a leave and a join. Disconnect returns after the grace.
func (s *Service) Disconnect(ctx context.Context, connectionID string) error {
	c, err := s.Store.Delete(ctx, connectionID)
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", connectionID, err)
	}
	if c.ID == "" {
		return nil
	}
	s.leaveRoom(ctx, c.Room)
	members, err := s.Store.Members(ctx, c.Room, s.now())
	if err != nil {
		s.logger().WarnContext(ctx, "leave not announced", slog.String("room", c.Room), slog.Any("error", err))
		return nil
	}
	members = without(members, []Member{c.member()}) // the index may lag the delete
	if hasUser(members, c.UserID) {
		return nil // another tab of theirs is still here
	}
	if s.Names == nil || s.LeaveGrace < 0 || c.UserID == "" {
		s.releaseName(ctx, c.Room, c.Name, c.UserID)
		s.announceTo(ctx, members, c, TypeLeft)
		return nil
	}
	at, key := s.now(), NameKey(c.Name)
	marked, err := s.Names.MarkLeft(ctx, c.Room, key, c.UserID, at)
	if err != nil || !marked {
		// Not held (an old item, or a lost claim): told at once.
		s.announceTo(ctx, members, c, TypeLeft)
		return nil
	}
	afterGrace := func(ctx context.Context) {
		released, err := s.Names.Release(ctx, c.Room, key, c.UserID, at)
		if err != nil || !released {
			return // back within the grace (the name was claimed again), or unknown
		}
		members, err := s.Store.Members(ctx, c.Room, s.now())
		if err != nil || hasUser(members, c.UserID) {
			return // back under another name
		}
		s.announceTo(ctx, members, c, TypeLeft)
	}
	if s.Later != nil {
		s.Later(s.leaveGrace(), afterGrace)
		return nil
	}
	select {
	case <-ctx.Done():
	case <-time.After(s.leaveGrace()):
	}
	afterGrace(context.WithoutCancel(ctx))
	return nil
}

// leaveGrace is LeaveGrace unless the Service says otherwise.
func (s *Service) leaveGrace() time.Duration {
	if s.LeaveGrace > 0 {
		return s.LeaveGrace
	}
	return LeaveGrace
}

// Delivery counts what one send did.
type Delivery struct {
	Seq        int64 // of the message in its room
	Duplicate  bool  // the message was stored already: acked again, not broadcast
	Recipients int   // members of the room other than the sender
	Delivered  int
	Gone       int // stale connections found (410), handed to the Reaper
	Opening    int // 410 from a connection younger than ConnectGrace: kept
	Throttled  int // 429: a client whose buffer is full, or the account's rate
	Failed     int // other failures
	Skipped    int // not attempted because the deadline came
	Queued     int // handed to the fan-out queue (a large room)
	Batches    int // the batches they went in
	Retried    int // posts tried again after a 429
}

// Send handles a frame routed to "chat message": it validates the body,
// stores the message in the room's history, acks it to the sender (when it
// gave a clientMsgId) and posts it to every other member of the room. A
// message whose clientMsgId is stored already is acked again and nothing
// else. Bad input returns a *ProtocolError; any failure is answered to the
// sender alone with an error frame, and a failure before the message is
// stored returns an error before anything is broadcast.
func (s *Service) Send(ctx context.Context, senderID string, body []byte) (Delivery, error) {
	req, err := ParseChatMessage(body)
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
	if req.Resend && req.ClientMsgID != "" {
		// Looked up before a seq is taken: a duplicate leaves no gap.
		stored, found, err := s.History.Find(ctx, sender.Room, req.ClientMsgID, now)
		if err != nil {
			return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("send from %s: find %s: %w", senderID, req.ClientMsgID, err))
		}
		if found {
			s.post1(ctx, senderID, ackOf(stored))
			return Delivery{Seq: stored.Seq, Duplicate: true}, nil
		}
	}
	text, err := s.review(ctx, TypeChatMessage, sender, "", req.Text, req.ClientMsgID)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, err)
	}
	msg, isNew, err := s.History.Append(ctx, Message{
		Type: TypeChatMessage, ID: s.newID(), Room: sender.Room, From: sender.Name, FromID: sender.UserID,
		Text: text, SentAt: FormatTime(now), ClientMsgID: req.ClientMsgID,
	}, now.Add(s.retention()), now)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, fmt.Errorf("send from %s: store: %w", senderID, err))
	}
	if req.ClientMsgID != "" {
		s.post1(ctx, senderID, ackWith(msg, req.Text))
	}
	if !isNew {
		return Delivery{Seq: msg.Seq, Duplicate: true}, nil
	}
	members, err := s.Store.Members(ctx, sender.Room, now)
	if err != nil {
		// Stored and acked: members catch up from history.
		return Delivery{Seq: msg.Seq}, fmt.Errorf("send from %s: list room %s: %w", senderID, sender.Room, err)
	}
	if s.Queue != nil && len(members)-count(members, senderID) > s.inlineLimit() {
		d, err := s.fanOut(ctx, sender.Room, msg.Seq, encode(msg), others(members, senderID))
		d.Seq = msg.Seq
		if err != nil {
			// Stored and acked: the members catch up from history.
			return d, fmt.Errorf("send from %s: %w", senderID, err)
		}
		s.logger().LogAttrs(ctx, slog.LevelDebug, "message queued", slog.String("room", sender.Room),
			slog.Int64("seq", d.Seq), slog.Int("recipients", d.Recipients), slog.Int("batches", d.Batches))
		return d, nil
	}
	d, goneMembers := s.broadcastExcept(ctx, members, senderID, encode(msg))
	d.Seq = msg.Seq
	s.reapGone(ctx, sender.Room, members, goneMembers)
	level := slog.LevelDebug
	if d.Failed > 0 || d.Skipped > 0 {
		level = slog.LevelWarn
	}
	s.logger().LogAttrs(ctx, level, "message broadcast",
		slog.String("room", sender.Room), slog.Int64("seq", d.Seq),
		slog.Int("recipients", d.Recipients), slog.Int("delivered", d.Delivered),
		slog.Int("gone", d.Gone), slog.Int("opening", d.Opening), slog.Int("throttled", d.Throttled),
		slog.Int("failed", d.Failed), slog.Int("skipped", d.Skipped))
	return d, nil
}

// SendHistory answers a frame routed to "history" with the messages of the
// sender's room it asks for, in frames of at most MaxHistoryFrame bytes.
func (s *Service) SendHistory(ctx context.Context, connectionID string, body []byte) error {
	req, err := ParseHistory(body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	c, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if err := s.takeRead(ctx, c, req.RequestID); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	stream := c.Room
	if req.Conversation != "" {
		if !inConversation(req.Conversation, c.UserID) {
			pe := protocolError(CodeForbidden, "you are not in this conversation")
			pe.RequestID = req.RequestID
			return s.reject(ctx, connectionID, pe)
		}
		stream = conversationStream(c.Room, req.Conversation)
	}
	r, ok := req.Range()
	var msgs []Message
	var more bool
	if ok {
		msgs, more, err = s.History.Read(ctx, stream, r, s.now())
		if err != nil {
			return s.reject(ctx, connectionID, fmt.Errorf("history of %s: %w", stream, err))
		}
		for i := range msgs {
			msgs[i].Room = c.Room // a conversation's stream is not its room
		}
	}
	if r.Before == 0 && !r.Latest {
		// A since reply is cut by bytes as well: 1,000 messages of 2,000
		// characters would be 2 MB for one request of 30 bytes.
		if n := fitBytes(msgs, MaxHistorySinceBytes); n < len(msgs) {
			msgs, more = msgs[:n], true
		}
	}
	var next *HistoryCursor
	switch {
	case more && r.Before == 0 && !r.Latest && len(msgs) > 0:
		next = &HistoryCursor{Since: msgs[len(msgs)-1].Seq}
	case more && len(msgs) > 0:
		next = &HistoryCursor{Before: msgs[0].Seq}
	}
	for _, frame := range HistoryFrames(c.Room, req.Conversation, req.RequestID, msgs, next) {
		if err := s.Sender.Post(ctx, connectionID, frame); err != nil {
			return fmt.Errorf("history to %s: %w", connectionID, err)
		}
	}
	return nil
}

// fitBytes returns how many of msgs, from the first, fit in max bytes
// as encoded (at least one).
func fitBytes(msgs []Message, max int) int {
	size := 0
	for i, m := range msgs {
		size += len(encode(m)) + 1
		if size > max && i > 0 {
			return i
		}
	}
	return len(msgs)
}

// HistoryFrames encodes msgs as history frames of at most MaxHistoryFrame
// bytes each, in order, each with requestID (and conversation, for a
// private conversation's); next goes on the last. There is always one
// frame.
func HistoryFrames(room, conversation, requestID string, msgs []Message, next *HistoryCursor) [][]byte {
	base := len(encode(HistoryFrame{Type: TypeHistory, Room: room, Conversation: conversation, Messages: []Message{}, More: true,
		Next: &HistoryCursor{Since: math.MaxInt64, Before: math.MaxInt64}, RequestID: requestID}))
	var frames [][]byte
	var page []Message
	size := base
	flush := func(last bool) {
		f := HistoryFrame{Type: TypeHistory, Room: room, Conversation: conversation, Messages: page, More: !last, RequestID: requestID}
		if f.Messages == nil {
			f.Messages = []Message{}
		}
		if last {
			f.Next = next
		}
		frames = append(frames, encode(f))
		page, size = nil, base
	}
	for _, m := range msgs {
		n := len(encode(m)) + 1 // and a comma
		if len(page) > 0 && size+n > MaxHistoryFrame {
			flush(false)
		}
		page = append(page, m)
		size += n
	}
	flush(true)
	return frames
}

// Reject answers a frame that reached the $default route with an error frame
// to its sender, and returns the *ProtocolError it sent.
func (s *Service) Reject(ctx context.Context, senderID string, body []byte) error {
	return s.reject(ctx, senderID, Unrouted(body))
}

// member returns the stored connection of a client that sends a frame. A
// missing one is a *ProtocolError (not_connected): the client must
// reconnect to be a member again.
func (s *Service) member(ctx context.Context, id string) (Connection, error) {
	c, err := s.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Connection{}, notConnected()
	}
	if err != nil {
		return Connection{}, fmt.Errorf("look up %s: %w", id, err)
	}
	return c, nil
}

func notConnected() *ProtocolError {
	return protocolError(CodeNotConnected, "this connection is not in a room (it may have been dropped); reconnect")
}

// reject posts err's error frame to the connection and returns err: a
// *ProtocolError's code, or "internal" for any other error.
func (s *Service) reject(ctx context.Context, connectionID string, err error) error {
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		pe = &ProtocolError{Code: CodeInternal, Message: "the server could not handle this message; try again"}
	}
	s.post1(ctx, connectionID, ErrorFrame{Type: TypeError, Code: pe.Code, Message: pe.Message,
		RetryAfterMs: pe.RetryAfterMs, ClientMsgID: pe.ClientMsgID, RequestID: pe.RequestID})
	return err
}

// post1 posts a frame to one connection, logging a failure: there is no
// one else to tell.
func (s *Service) post1(ctx context.Context, connectionID string, v any) {
	if err := s.Sender.Post(ctx, connectionID, encode(v)); err != nil {
		s.logger().DebugContext(ctx, "reply not delivered", slog.String("to", connectionID), slog.Any("error", err))
	}
}

// encode marshals a frame without escaping <, > and &: the frames are JSON
// for scripts, never HTML, and "<" escaped as \u003c costs six bytes.
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the protocol's types always marshal
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// broadcast posts frame to each recipient with at most Workers posts at once,
// and returns what it did and the recipients it found gone, for the
// caller to reap (reapGone) once the posts are made. No failure stops the
// others. Recipients not reached before ctx ends are counted as
// skipped. With Workers == 1 the posts run one after the other on the
// calling goroutine, in the recipients' order: the right choice for a Sender
// whose Post never waits on the network (an in-process gateway).
func (s *Service) broadcast(ctx context.Context, recipients []Member, frame []byte) (Delivery, []Member) {
	return s.broadcastExcept(ctx, recipients, "", frame)
}

// broadcastExcept is broadcast to members but the connection except (""
// for none). The room's listing is used as it is: on the send path, a
// copy of it without the sender would cost an allocation of the room's
// size on every message.
func (s *Service) broadcastExcept(ctx context.Context, members []Member, except string, frame []byte) (Delivery, []Member) {
	recipients := len(members) - count(members, except)
	if s.workers() == 1 {
		// One post after the other on this goroutine: no closure, no
		// atomics, nothing allocated but what a gone member needs.
		var counts [outcomes]int
		var goneMembers []Member
		for _, m := range members {
			if m.ID == except {
				continue
			}
			o := s.post(ctx, m, frame)
			counts[o]++
			if o == gone {
				goneMembers = append(goneMembers, m)
			}
		}
		return delivery(recipients, func(o outcome) int { return counts[o] }), goneMembers
	}
	var mu sync.Mutex
	var goneMembers []Member
	var counts [outcomes]atomic.Int64
	eachMember(s.workers(), members, func(m Member) {
		if m.ID == except {
			return
		}
		o := s.post(ctx, m, frame) // skipped once ctx has ended
		counts[o].Add(1)
		if o == gone {
			mu.Lock()
			goneMembers = append(goneMembers, m)
			mu.Unlock()
		}
	})
	return delivery(recipients, func(o outcome) int { return int(counts[o].Load()) }), goneMembers
}

// count returns how many of members are the connection id.
func count(members []Member, id string) int {
	n := 0
	for _, m := range members {
		if m.ID == id {
			n++
		}
	}
	return n
}

// others returns the members but one.
func others(members []Member, id string) []Member {
	out := make([]Member, 0, len(members))
	for _, m := range members {
		if m.ID != id {
			out = append(out, m)
		}
	}
	return out
}

// outcome is what became of one post of a broadcast.
type outcome int

const (
	delivered outcome = iota
	gone
	opening
	throttled
	failed
	skipped
	outcomes // how many there are
)

// post posts frame to one recipient, unless ctx has ended. A 410 is
// "opening" for a member younger than ConnectGrace (its handshake), else
// "gone": the caller hands it to the Reaper, after the broadcast.
func (s *Service) post(ctx context.Context, m Member, frame []byte) outcome {
	if ctx.Err() != nil {
		return skipped
	}
	err := s.Sender.Post(ctx, m.ID, frame)
	switch {
	case err == nil:
		return delivered
	case errors.Is(err, ErrGone):
		if s.young(m) {
			return opening
		}
		return gone
	case errors.Is(err, ErrThrottled):
		return throttled
	case ctx.Err() != nil:
		return skipped
	default:
		s.logger().DebugContext(ctx, "post failed", slog.String("to", m.ID), slog.Any("error", err))
		return failed
	}
}

func delivery(recipients int, count func(outcome) int) Delivery {
	return Delivery{
		Recipients: recipients, Delivered: count(delivered), Gone: count(gone), Opening: count(opening),
		Throttled: count(throttled), Failed: count(failed), Skipped: count(skipped),
	}
}

func (s *Service) retention() time.Duration {
	if s.Retention > 0 {
		return s.Retention
	}
	return DefaultRetention
}

func (s *Service) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return DefaultWorkers
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) newID() string {
	if s.NewID != nil {
		return s.NewID()
	}
	return NewID()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewID returns a random 128-bit ID in 26 lowercase characters.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return idEncoding.EncodeToString(b[:])
}
