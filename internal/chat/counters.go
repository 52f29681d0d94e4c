package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Limits that span connections and hosts. A connection's own limits live
// on its item (Store.SetClock); what one person does across connections,
// what a flooder did lately and how many are in a room need numbers that
// every Lambda instance shares. They are counters in the store, each
// changed by one atomic write:
//
//   - a person's budget: frames sent, and reads, per PersonWindow, counted
//     in a counter keyed by the window (the first Add of a window starts
//     it at 1; the store forgets it after two windows);
//   - strikes: the frames of a connection refused for a limit, per
//     window; at FloodPolicy.Strikes the connection is cut off;
//   - a cool-down: a person cut off is refused at $connect until it ends;
//   - each room's count of connections, added to only below the cap, so
//     that concurrent joins cannot pass it.

// Counters keeps the shared numbers. Implementations: dynamo.Store,
// memstore.Store.
type Counters interface {
	// Add adds delta to the counter key and returns its new value. If max
	// is not negative and the result would pass it, nothing changes and
	// ok is false. A counter that does not exist counts from 0. Each Add
	// sets when the store may forget it (zero: never) and when it changed.
	Add(ctx context.Context, key string, delta, max int64, expiresAt, now time.Time) (n int64, ok bool, err error)
	// Count returns the counter's value (0 if it does not exist or expired
	// at now) and when an Add last changed it.
	Count(ctx context.Context, key string, now time.Time) (n int64, changedAt time.Time, err error)
	// Reset sets the counter to n if no Add changed it since changedAt,
	// and reports whether it did.
	Reset(ctx context.Context, key string, n int64, changedAt, now time.Time) (bool, error)
}

// Disconnector closes a connection from the server's side: @connections'
// DELETE, or the local gateway's own close. $disconnect follows.
type Disconnector interface {
	Disconnect(ctx context.Context, connectionID string) error
}

// Person names whoever is behind a connection, for the limits that hold
// across connections: the signed-in user, or else the source address
// (hashed: the counters' keys are stored). "" when neither is known, and
// for the machine itself (127.0.0.1, ::1): on a laptop every page and
// every test client comes from there, and API Gateway never reports it.
// Tests that play several people use other loopback addresses.
func Person(userID, sourceIP string) string {
	switch {
	case userID != "":
		return "u:" + userID
	case sourceIP == "127.0.0.1" || sourceIP == "::1":
		return ""
	case sourceIP != "":
		sum := sha256.Sum256([]byte(sourceIP))
		return "a:" + hex.EncodeToString(sum[:12])
	}
	return ""
}

// PersonLimits are the budgets of one person across all its connections,
// per Window: Sends (chat messages, direct messages, renames) and Reads
// (history, who). A limit below 1 is off.
type PersonLimits struct {
	Window       time.Duration
	Sends, Reads int64
}

// DefaultPersonLimits: three connections' worth of the default send limit
// (a burst of 10, then 1 a second), and a read every second and a half on
// average; a person typing fast in three tabs stays under both.
var DefaultPersonLimits = PersonLimits{Window: 10 * time.Second, Sends: 60, Reads: 60}

// FloodPolicy cuts off a connection that keeps sending past its limits: at
// Strikes refused frames within Window it is closed (the @connections
// DELETE), and its person is refused at $connect for Cooldown. The page
// waits retryAfterMs after a refusal, so it earns at most one strike per
// wait and is never cut off; a client that ignores the refusals is cut
// off within a second or two. Strikes below 1 turn it off.
type FloodPolicy struct {
	Strikes  int64
	Window   time.Duration
	Cooldown time.Duration
}

// DefaultFloodPolicy: 20 refusals within 10 s, then a minute out.
var DefaultFloodPolicy = FloodPolicy{Strikes: 20, Window: 10 * time.Second, Cooldown: time.Minute}

// CodeCoolingDown refuses the $connect of a person cut off for flooding,
// with HTTP 429, until its cool-down ends.
const CodeCoolingDown = "cooling_down"

func windowKey(kind, who string, window time.Duration, now time.Time) (string, time.Time) {
	start := now.Truncate(window)
	return fmt.Sprintf("%s#%s#%d", kind, who, start.Unix()), start.Add(2 * window)
}

// takePerson counts one frame of kind ("s" for sends, "r" for reads)
// against c's person, and refuses it past the budget.
func (s *Service) takePerson(ctx context.Context, c Connection, kind string, limit int64) error {
	if s.Counters == nil || c.Person == "" || limit < 1 {
		return nil
	}
	l := s.personLimits()
	now := s.now()
	key, expires := windowKey("p"+kind, c.Person, l.Window, now)
	_, ok, err := s.Counters.Add(ctx, key, 1, limit, expires, now)
	if err != nil {
		return fmt.Errorf("person limit of %s: %w", c.ID, err)
	}
	if !ok {
		return rateLimited(now.Truncate(l.Window).Add(l.Window).Sub(now), "")
	}
	return nil
}

// strike counts a refused frame of c, and cuts c off at the policy's
// strikes: its person cools down, and the connection is closed.
func (s *Service) strike(ctx context.Context, c Connection) {
	p := s.floodPolicy()
	if s.Counters == nil || p.Strikes < 1 {
		return
	}
	now := s.now()
	key, expires := windowKey("x", c.ID, p.Window, now)
	n, _, err := s.Counters.Add(ctx, key, 1, -1, expires, now)
	if err != nil {
		s.logger().WarnContext(ctx, "strike not counted", slog.Any("error", err))
		return
	}
	if n != p.Strikes { // exactly once, at the threshold
		return
	}
	if c.Person != "" {
		if _, _, err := s.Counters.Add(ctx, "c#"+c.Person, 1, -1, now.Add(p.Cooldown), now); err != nil {
			s.logger().WarnContext(ctx, "cool-down not recorded", slog.Any("error", err))
		}
	}
	s.logger().WarnContext(ctx, "flooding connection cut off", slog.String("connectionId", c.ID),
		slog.Int64("strikes", n), slog.Duration("cooldown", p.Cooldown))
	if d, ok := s.Sender.(Disconnector); ok {
		if err := d.Disconnect(ctx, c.ID); err != nil && !errors.Is(err, ErrGone) {
			s.logger().WarnContext(ctx, "flooding connection not closed", slog.Any("error", err))
		}
	}
}

// coolingDown reports whether person is cut off for now.
func (s *Service) coolingDown(ctx context.Context, person string) (bool, error) {
	if s.Counters == nil || person == "" || s.floodPolicy().Strikes < 1 {
		return false, nil
	}
	n, _, err := s.Counters.Count(ctx, "c#"+person, s.now())
	return n > 0, err
}

// roomCountQuiet is how long a room's count must be unchanged before a
// full room may correct it from its listing: the room index lags writes by
// a moment, and a correction made while joins are landing would let more
// in than the cap.
const roomCountQuiet = 30 * time.Second

// admit takes a place in c's room below the cap, with one conditional
// write to the room's counter. A full room looks for members gone without
// $disconnect (pruneDead), then, if its count has been still for a while,
// corrects it from its listing (lost $disconnects, TTL-expired items)
// before it refuses.
func (s *Service) admit(ctx context.Context, c Connection, members []Member) ([]Member, error) {
	limit := int64(s.roomCap())
	if s.Counters == nil || limit <= 0 {
		if limit > 0 && int64(len(others(members, c.ID))) >= limit {
			members = s.pruneDead(ctx, c.Room, members)
			if int64(len(others(members, c.ID))) >= limit {
				return nil, protocolError(CodeRoomFull, "room %s is full (%d connections)", c.Room, limit)
			}
		}
		return members, nil
	}
	key := "r#" + c.Room
	for attempt := range 2 {
		now := s.now()
		if _, ok, err := s.Counters.Add(ctx, key, 1, limit, time.Time{}, now); err != nil {
			return nil, fmt.Errorf("connect %s: count room %s: %w", c.ID, c.Room, err)
		} else if ok {
			return members, nil
		}
		if attempt > 0 {
			break
		}
		members = s.pruneDead(ctx, c.Room, members) // each one deleted gives its place back
		n, changedAt, err := s.Counters.Count(ctx, key, now)
		if err != nil {
			return nil, fmt.Errorf("connect %s: count room %s: %w", c.ID, c.Room, err)
		}
		listed := int64(len(others(members, c.ID)))
		if listed < n && now.Sub(changedAt) >= roomCountQuiet {
			if _, err := s.Counters.Reset(ctx, key, listed, changedAt, now); err != nil {
				return nil, fmt.Errorf("connect %s: correct room %s: %w", c.ID, c.Room, err)
			}
			s.logger().InfoContext(ctx, "room count corrected from its listing", slog.String("room", c.Room),
				slog.Int64("was", n), slog.Int64("now", listed))
		}
	}
	return nil, protocolError(CodeRoomFull, "room %s is full (%d connections)", c.Room, limit)
}

// leaveRoom gives back the place of a connection that was deleted.
func (s *Service) leaveRoom(ctx context.Context, room string) {
	if s.Counters == nil || s.roomCap() <= 0 || room == "" {
		return
	}
	if _, _, err := s.Counters.Add(ctx, "r#"+room, -1, -1, time.Time{}, s.now()); err != nil {
		s.logger().WarnContext(ctx, "room count not lowered", slog.String("room", room), slog.Any("error", err))
	}
}

func (s *Service) personLimits() PersonLimits {
	if s.PersonLimits == (PersonLimits{}) {
		return DefaultPersonLimits
	}
	l := s.PersonLimits
	if l.Window <= 0 {
		l.Window = DefaultPersonLimits.Window
	}
	return l
}

func (s *Service) floodPolicy() FloodPolicy {
	if s.Flood == (FloodPolicy{}) {
		return DefaultFloodPolicy
	}
	p := s.Flood
	if p.Window <= 0 {
		p.Window = DefaultFloodPolicy.Window
	}
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultFloodPolicy.Cooldown
	}
	return p
}
