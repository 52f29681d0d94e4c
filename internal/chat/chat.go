// Package chat is the domain of the chat: connections grouped in rooms, the
// wire protocol spoken with clients, and the fan-out of a message to every
// other member of its room.
//
// It knows nothing of Lambda, DynamoDB or WebSockets. Hosts (the Lambda
// functions in functions/ and the local adapter in local/) give it a Store
// and a Sender and call Service.
package chat

import (
	"context"
	"errors"
	"time"
)

// Connection is one client's WebSocket connection, as API Gateway knows it.
type Connection struct {
	ID   string
	Room string
	Name string
	// UserID is the public ID of the user behind the connection: derived
	// from the token's issuer and sub when signed in, else from the
	// anonymous client's secret (see AnonymousUserID). A user's connections
	// in a room share one name.
	UserID string
	// SignedIn: the name comes from the token and cannot change.
	SignedIn    bool
	ConnectedAt time.Time
	// TypingAt is when the connection last sent a typing notice that was
	// passed on: typing notices closer together than TypingInterval are
	// dropped.
	TypingAt time.Time
	// SendTAT is the send limit's clock: the "theoretical arrival time" of
	// the generic cell rate algorithm (see RateLimit). Zero means a full
	// bucket.
	SendTAT time.Time
	// ReadTAT is the read limit's clock (history, who), kept the same way.
	ReadTAT time.Time
	// Person is who is behind the connection, for the limits that hold
	// across connections (see Person): the signed-in user, or else the
	// anonymous client's source address, hashed.
	Person string
	// ExpiresAt is when the store may forget the connection even if
	// $disconnect never arrived (it is best effort). It lies past API
	// Gateway's two-hour connection limit.
	ExpiresAt time.Time
}

// Store keeps the connections. Implementations: dynamo.Store, memstore.Store.
type Store interface {
	// Put saves a connection, replacing one with the same ID.
	Put(ctx context.Context, c Connection) error
	// Get returns the connection with the ID, or ErrNotFound.
	Get(ctx context.Context, id string) (Connection, error)
	// Delete forgets the connection and returns it as it was (the zero
	// Connection if there was none: deleting an unknown ID is no error).
	Delete(ctx context.Context, id string) (Connection, error)
	// DeleteStale forgets the connection only if it is stored and
	// connected before cutoff, and reports whether this call deleted it. A
	// younger connection may still be in its handshake, when @connections
	// answers 410 for it too; one deleted already (by $disconnect, or by
	// another broadcast that found it gone) is not deleted, or announced as
	// gone, twice.
	DeleteStale(ctx context.Context, id string, cutoff time.Time) (bool, error)
	// Members returns the connections in the room that have not expired at
	// now. It reads the room alone, never the whole store.
	Members(ctx context.Context, room string, now time.Time) ([]Member, error)
	// Rename changes the connection's name and returns it as it was before,
	// or an error wrapping ErrNotFound.
	Rename(ctx context.Context, id, name string) (Connection, error)
	// SetClock sets one of the connection's clocks (TypingAt or SendTAT)
	// to next if it still is prev, and reports whether it did: of two
	// concurrent frames of one connection, one wins, and the other reads the
	// connection again. It is the only write a rate-limited frame costs.
	SetClock(ctx context.Context, id string, clock Clock, prev, next time.Time) (bool, error)
}

// Clock names a time kept on a connection that frames advance.
type Clock int

const (
	// TypingClock is Connection.TypingAt.
	TypingClock Clock = iota
	// SendClock is Connection.SendTAT.
	SendClock
	// ReadClock is Connection.ReadTAT.
	ReadClock
)

// Of returns the clock's value in c.
func (k Clock) Of(c Connection) time.Time {
	switch k {
	case SendClock:
		return c.SendTAT
	case ReadClock:
		return c.ReadTAT
	}
	return c.TypingAt
}

// Set returns c with the clock set to t.
func (k Clock) Set(c Connection, t time.Time) Connection {
	switch k {
	case SendClock:
		c.SendTAT = t
	case ReadClock:
		c.ReadTAT = t
	default:
		c.TypingAt = t
	}
	return c
}

// Member is a connection as a room lists it.
type Member struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"userId,omitempty"`
	// ConnectedAt is when the connection was made, to the second (zero if
	// the store does not know): a 410 from a connection younger than
	// ConnectGrace is its handshake, not proof that it is gone, and is
	// told apart without a write.
	ConnectedAt time.Time `json:"connectedAt,omitzero"`
}

// History keeps each room's messages for a while, numbered by room.
// Implementations: dynamo.History, memstore.History.
type History interface {
	// Streams. A room's messages are the stream named by the room; a
	// private conversation's, and a user's list of conversations, are
	// streams of their own (named "room/..."), numbered and deduplicated
	// the same way. m.Room names m's stream.
	//
	// Append stores m in its room with the next seq, and returns it as
	// stored, with the room's Epoch. If m.ClientMsgID is set and a message of the same room with
	// that ClientMsgID is stored (and not expired at now), nothing is
	// stored: it returns that message and false.
	Append(ctx context.Context, m Message, expiresAt, now time.Time) (Message, bool, error)
	// At returns the item of room at seq (a message or an event), if one
	// is stored and has not expired at now.
	At(ctx context.Context, room string, seq int64, now time.Time) (Message, bool, error)
	// Change applies c to target (read by At): an edit replaces its text,
	// a deletion removes its text (and that of its edit events), a
	// reaction adds or removes c.UserID under c.Event.Emoji. A change
	// whose event is older than the last one applied changes nothing.
	Change(ctx context.Context, room string, target Message, c Change, now time.Time) error
	// Count returns how many messages (chat and direct messages, not the
	// events that change them) of room have a seq above after and have not
	// expired at now, at most limit, and whether more do.
	Count(ctx context.Context, room string, after int64, limit int, now time.Time) (int, bool, error)
	// Read returns up to q.Limit messages of room that match q and have
	// not expired at now, oldest first, and whether more match beyond
	// them (newer ones for q.After, older ones otherwise).
	Read(ctx context.Context, room string, q Range, now time.Time) ([]Message, bool, error)
	// Find returns the message of room stored with clientMsgID, if one is
	// and has not expired at now. A resend is looked up with it before it
	// takes a seq, so that a duplicate leaves no gap in the room's order.
	Find(ctx context.Context, room, clientMsgID string, now time.Time) (Message, bool, error)
}

// Range selects messages of a room by seq. With Before set, the newest
// Limit messages below it; else those above After (0 for all), oldest first.
type Range struct {
	After  int64
	Before int64
	Limit  int
	// Latest asks for the newest Limit messages (After and Before unset).
	Latest bool
}

// Prober tells whether a connection is still open: @connections'
// GetConnection, or the local gateway's own table. A Sender may implement
// it; a full room uses it to find members that left without $disconnect.
type Prober interface {
	// Alive reports whether the connection is open. A connection still in
	// its handshake may be reported as not alive.
	Alive(ctx context.Context, connectionID string) (bool, error)
}

// Sender delivers a text frame to one connection. Implementations:
// apigw.Sender (the @connections API) and the local gateway itself.
type Sender interface {
	// Post sends data to the connection. It returns an error wrapping ErrGone
	// when the connection no longer exists (HTTP 410 from @connections).
	Post(ctx context.Context, connectionID string, data []byte) error
}

var (
	// ErrNotFound means the store has no connection with that ID.
	ErrNotFound = errors.New("connection not found")
	// ErrGone means the connection is closed or unknown to API Gateway.
	ErrGone = errors.New("connection gone")
	// ErrPayloadTooLarge means API Gateway refused the frame as too large.
	ErrPayloadTooLarge = errors.New("payload too large")
	// ErrThrottled means the post was refused for now (HTTP 429
	// LimitExceededException): the account's rate, or a client whose
	// receive buffer is full. The connection is still there; try again later.
	ErrThrottled = errors.New("post throttled")
)

// TTL is how long after connecting a stored connection may be forgotten: API
// Gateway's two-hour connection limit plus a margin.
const TTL = 2*time.Hour + 15*time.Minute

// ConnectGrace is how long after connecting a connection's 410 from
// @connections is not taken as proof that it is gone. API Gateway answers
// 410 for a connection that is still in $connect, and the connection is
// stored during $connect, whose integration may run up to 29 s before the
// handshake completes: a member who just joined would otherwise be deleted
// by any broadcast that lands in that window. A connection that really went
// away that young is forgotten by $disconnect, a later broadcast or its TTL.
const ConnectGrace = 30 * time.Second

// DefaultRetention is how long a room keeps its messages (history and
// clientMsgId deduplication) unless configured otherwise.
const DefaultRetention = 24 * time.Hour
