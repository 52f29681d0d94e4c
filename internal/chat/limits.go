package chat

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RateLimit is a token bucket: Burst frames at once, then one more every
// Every. It is kept as one time per connection, the generic cell rate
// algorithm's "theoretical arrival time" (TAT): the bucket is full when the
// TAT is not after now, and a frame is allowed while the TAT lies at most
// (Burst-1)*Every ahead. A single number lets one conditional write both
// check and take a token (Store.SetClock), whatever the number of Lambda
// instances handling the connection's frames at once.
type RateLimit struct {
	Burst int
	Every time.Duration
}

// DefaultSendLimit is the send limit when Service.SendLimit is zero: a
// burst of 10, then one frame a second.
var DefaultSendLimit = RateLimit{Burst: 10, Every: time.Second}

// DefaultReadLimit is the read limit when Service.ReadLimit is zero: a
// burst of 10 reads (history, who), then one every 2 s. The page reads
// twice per (re)connect, once per gap and once per "load older".
var DefaultReadLimit = RateLimit{Burst: 10, Every: 2 * time.Second}

// DefaultRoomCap is the most connections a room takes when Service.RoomCap
// is zero.
const DefaultRoomCap = 5000

// SendLimitOf is the send limit of a burst and a rate (frames a second), as
// the hosts configure it: a burst of 0 turns the limit off, a negative one
// (unset) is the default's, as is a rate that is not positive.
func SendLimitOf(burst int, perSecond float64) RateLimit {
	return limitOf(burst, perSecond, DefaultSendLimit)
}

// ReadLimitOf is SendLimitOf for reads, with DefaultReadLimit's defaults.
func ReadLimitOf(burst int, perSecond float64) RateLimit {
	return limitOf(burst, perSecond, DefaultReadLimit)
}

func limitOf(burst int, perSecond float64, def RateLimit) RateLimit {
	switch {
	case burst == 0:
		return RateLimit{Burst: -1}
	case burst < 0:
		burst = def.Burst
	}
	every := def.Every
	if perSecond > 0 {
		every = time.Duration(float64(time.Second) / perSecond)
	}
	return RateLimit{Burst: burst, Every: every}
}

// FloodPolicyOf is the flood policy the hosts configure: strikes 0 never
// cuts a connection off, a negative number (unset) is the default's, and so
// is a cool-down that is not positive.
func FloodPolicyOf(strikes int, cooldown time.Duration) FloodPolicy {
	p := DefaultFloodPolicy
	switch {
	case strikes == 0:
		p.Strikes = -1
	case strikes > 0:
		p.Strikes = int64(strikes)
	}
	if cooldown > 0 {
		p.Cooldown = cooldown
	}
	return p
}

// take returns the TAT after one more frame at now, or how long the sender
// must wait before one is allowed.
func (l RateLimit) take(tat, now time.Time) (next time.Time, wait time.Duration) {
	if tat.Before(now) {
		tat = now
	}
	tolerance := time.Duration(l.Burst-1) * l.Every
	if ahead := tat.Sub(now); ahead > tolerance {
		return time.Time{}, ahead - tolerance
	}
	return tat.Add(l.Every), 0
}

// sendLimit returns the limit in force and whether there is one.
func (s *Service) sendLimit() (RateLimit, bool) {
	l := s.SendLimit
	if l == (RateLimit{}) {
		l = DefaultSendLimit
	}
	return l, l.Burst > 0 && l.Every > 0
}

// maxCASAttempts bounds how often a frame retries the send clock after
// losing the race to a concurrent frame of its own connection.
const maxCASAttempts = 3

// takeSend takes a token from c's send bucket (one conditional write, or
// none when the bucket is empty) and one from its person's budget (one
// more write, with Counters). A frame refused gets rate_limited with how
// long to wait, and counts as a strike; nothing else happens to it.
func (s *Service) takeSend(ctx context.Context, c Connection, clientMsgID string) error {
	limit, ok := s.sendLimit()
	if !ok {
		return nil
	}
	err := s.takeClock(ctx, c, SendClock, limit)
	if err == nil {
		err = s.takePerson(ctx, c, "s", s.personLimits().Sends)
	}
	return s.refused(ctx, c, err, clientMsgID, "")
}

// takeRead is takeSend for reads (history, who): the connection's read
// clock and its person's read budget.
func (s *Service) takeRead(ctx context.Context, c Connection, requestID string) error {
	limit := s.ReadLimit
	if limit == (RateLimit{}) {
		limit = DefaultReadLimit
	}
	if limit.Burst < 1 || limit.Every <= 0 {
		return nil
	}
	err := s.takeClock(ctx, c, ReadClock, limit)
	if err == nil {
		err = s.takePerson(ctx, c, "r", s.personLimits().Reads)
	}
	return s.refused(ctx, c, err, "", requestID)
}

// refused counts a rate_limited refusal as a strike and marks it with
// the frame's IDs.
func (s *Service) refused(ctx context.Context, c Connection, err error, clientMsgID, requestID string) error {
	if err == nil {
		return nil // the common case, without errors.As's allocation
	}
	var pe *ProtocolError
	if errors.As(err, &pe) && pe.Code == CodeRateLimited {
		pe.ClientMsgID, pe.RequestID = clientMsgID, requestID
		s.strike(ctx, c)
	}
	return err
}

// takeClock takes a token from one of c's buckets, with a compare-and-set
// of its clock.
func (s *Service) takeClock(ctx context.Context, c Connection, clock Clock, limit RateLimit) error {
	for range maxCASAttempts {
		now := s.now()
		next, wait := limit.take(clock.Of(c), now)
		if wait > 0 {
			return rateLimited(wait, "")
		}
		won, err := s.Store.SetClock(ctx, c.ID, clock, clock.Of(c), next)
		if err != nil {
			return fmt.Errorf("limit of %s: %w", c.ID, err)
		}
		if won {
			return nil
		}
		// A concurrent frame of the same connection took a token first:
		// read the clock it left and try again.
		if c, err = s.member(ctx, c.ID); err != nil {
			return err
		}
	}
	return rateLimited(limit.Every, "")
}

func rateLimited(wait time.Duration, clientMsgID string) *ProtocolError {
	ms := (wait + time.Millisecond - 1) / time.Millisecond
	e := protocolError(CodeRateLimited, "too many messages; wait %d ms and send it again", ms)
	e.RetryAfterMs = int64(ms)
	e.ClientMsgID = clientMsgID
	return e
}

// roomCap returns the cap in force, or 0 for none.
func (s *Service) roomCap() int {
	switch {
	case s.RoomCap == 0:
		return DefaultRoomCap
	case s.RoomCap < 0:
		return 0
	}
	return s.RoomCap
}
