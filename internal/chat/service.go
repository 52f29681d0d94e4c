package chat

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultWorkers is how many posts a broadcast makes at once when
// Service.Workers is not set.
const DefaultWorkers = 32

// Service is the chat's behaviour. It is cheap to build: hosts may make one
// per request, for example to give it a Sender bound to that request's
// @connections endpoint.
type Service struct {
	Store  Store
	Sender Sender
	// Workers bounds the concurrent posts of one broadcast.
	Workers int
	Logger  *slog.Logger
	// Now and NewID default to time.Now and a random ID; tests replace them.
	Now   func() time.Time
	NewID func() string
}

// Connect registers a connection that asks to join room under name, both
// taken from the connection URL and possibly empty. A *ProtocolError means
// the request is refused (HTTP 400); any other error is the store's.
func (s *Service) Connect(ctx context.Context, connectionID, name, room string) (Connection, error) {
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
	now := s.now()
	c := Connection{ID: connectionID, Room: room, Name: name, ConnectedAt: now, ExpiresAt: now.Add(TTL)}
	if err := s.Store.Put(ctx, c); err != nil {
		return Connection{}, fmt.Errorf("connect %s: %w", connectionID, err)
	}
	return c, nil
}

// Disconnect forgets a connection.
func (s *Service) Disconnect(ctx context.Context, connectionID string) error {
	if err := s.Store.Delete(ctx, connectionID); err != nil {
		return fmt.Errorf("disconnect %s: %w", connectionID, err)
	}
	return nil
}

// Delivery counts what one broadcast did.
type Delivery struct {
	Recipients int // members of the room other than the sender
	Delivered  int
	Gone       int // stale connections found, and deleted
	Failed     int // other failures, logged
	Skipped    int // not attempted because the deadline came
}

// Send handles a frame routed to "chat message": it validates the body and
// posts the message to every other member of the sender's room. Bad input is
// answered to the sender alone with an error frame and returns a
// *ProtocolError. A store failure returns an error before anything is sent.
func (s *Service) Send(ctx context.Context, senderID string, body []byte) (Delivery, error) {
	text, err := ParseChatMessage(body)
	if err != nil {
		return Delivery{}, s.reject(ctx, senderID, err)
	}
	sender, err := s.Store.Get(ctx, senderID)
	if err != nil {
		return Delivery{}, fmt.Errorf("send from %s: look up sender: %w", senderID, err)
	}
	now := s.now()
	members, err := s.Store.Members(ctx, sender.Room, now)
	if err != nil {
		return Delivery{}, fmt.Errorf("send from %s: list room %s: %w", senderID, sender.Room, err)
	}
	frame, err := json.Marshal(Message{
		Type: TypeChatMessage, ID: s.newID(), Room: sender.Room,
		From: sender.Name, Text: text, SentAt: FormatTime(now),
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("send from %s: encode: %w", senderID, err)
	}
	recipients := make([]string, 0, len(members))
	for _, id := range members {
		if id != senderID {
			recipients = append(recipients, id)
		}
	}
	d := s.broadcast(ctx, recipients, frame)
	s.logger().LogAttrs(ctx, slog.LevelInfo, "message broadcast",
		slog.String("connectionId", senderID), slog.String("room", sender.Room),
		slog.Int("recipients", d.Recipients), slog.Int("delivered", d.Delivered),
		slog.Int("gone", d.Gone), slog.Int("failed", d.Failed), slog.Int("skipped", d.Skipped))
	return d, nil
}

// Reject answers a frame that reached the $default route with an error frame
// to its sender, and returns the *ProtocolError it sent.
func (s *Service) Reject(ctx context.Context, senderID string, body []byte) error {
	return s.reject(ctx, senderID, Unrouted(body))
}

// reject posts err's error frame to the connection and returns err. A failure
// to post is logged: the sender may have left, and there is no one else to tell.
func (s *Service) reject(ctx context.Context, connectionID string, err error) error {
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		pe = &ProtocolError{Code: "internal", Message: "internal error"}
	}
	frame, _ := json.Marshal(ErrorFrame{Type: TypeError, Code: pe.Code, Message: pe.Message})
	if postErr := s.Sender.Post(ctx, connectionID, frame); postErr != nil {
		s.logger().WarnContext(ctx, "error frame not delivered",
			slog.String("connectionId", connectionID), slog.String("code", pe.Code), slog.Any("error", postErr))
	}
	return err
}

// broadcast posts frame to each recipient with at most Workers posts at once.
// A gone recipient is deleted; any other failure is logged and counted; none
// stops the others. Recipients not reached before ctx ends are counted as
// skipped. With Workers == 1 the posts run one after the other on the
// calling goroutine, in the recipients' order: the right choice for a Sender
// whose Post never waits on the network (an in-process gateway).
func (s *Service) broadcast(ctx context.Context, recipients []string, frame []byte) Delivery {
	if s.workers() == 1 {
		var counts [outcomes]int
		for _, id := range recipients {
			counts[s.post(ctx, id, frame)]++
		}
		return delivery(len(recipients), func(o outcome) int { return counts[o] })
	}
	var counts [outcomes]atomic.Int64
	var g errgroup.Group
	g.SetLimit(s.workers())
	for _, id := range recipients {
		if ctx.Err() != nil {
			counts[skipped].Add(1)
			continue
		}
		g.Go(func() error {
			counts[s.post(ctx, id, frame)].Add(1)
			return nil // one failure never stops delivery to the rest
		})
	}
	_ = g.Wait()
	return delivery(len(recipients), func(o outcome) int { return int(counts[o].Load()) })
}

// outcome is what became of one post of a broadcast.
type outcome int

const (
	delivered outcome = iota
	gone
	failed
	skipped
	outcomes // how many there are
)

// post posts frame to one recipient, unless ctx has ended, deletes the
// recipient if it is gone, and logs other failures.
func (s *Service) post(ctx context.Context, id string, frame []byte) outcome {
	if ctx.Err() != nil {
		return skipped
	}
	err := s.Sender.Post(ctx, id, frame)
	switch {
	case err == nil:
		return delivered
	case errors.Is(err, ErrGone):
		if err := s.Store.Delete(ctx, id); err != nil {
			s.logger().WarnContext(ctx, "stale connection not deleted",
				slog.String("connectionId", id), slog.Any("error", err))
		}
		return gone
	case ctx.Err() != nil:
		return skipped
	default:
		s.logger().WarnContext(ctx, "post failed",
			slog.String("connectionId", id), slog.Any("error", err))
		return failed
	}
}

func delivery(recipients int, count func(outcome) int) Delivery {
	return Delivery{
		Recipients: recipients, Delivered: count(delivered), Gone: count(gone),
		Failed: count(failed), Skipped: count(skipped),
	}
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
