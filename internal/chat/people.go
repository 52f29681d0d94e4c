package chat

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// People, not names. Every connection belongs to a user, named by a public
// user ID; display names are for people to read, and are unique in a room
// among users. See docs/protocol.md, "Who you are".

// SecretProtocolPrefix starts the subprotocol that carries an anonymous
// client's secret; ProtocolName is the subprotocol $connect selects.
const (
	ProtocolName         = "chat.v1"
	SecretProtocolPrefix = "anon."
)

var (
	userIDPattern       = regexp.MustCompile(`^[au][0-9a-v]{26}$`)
	secretPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{22,128}$`)
	conversationPattern = regexp.MustCompile(`^[au][0-9a-v]{26}\+[au][0-9a-v]{26}$`)
)

// AnonymousUserID derives an anonymous user's public ID from the secret
// its client keeps: whoever holds the secret is the user, and the ID does
// not give the secret away. A missing or malformed secret makes a new
// user, from a random secret nobody holds.
func AnonymousUserID(secret string) string {
	if !secretPattern.MatchString(secret) {
		return "a" + NewID()
	}
	return "a" + hashID("chat anonymous user\x00"+secret)
}

// SignedInUserID is the public ID of the user a token names: its issuer
// and subject, hashed so that two issuers' subjects never meet and the
// subject itself is not published.
func SignedInUserID(issuer, subject string) string {
	return "u" + hashID(issuer+"\x00"+subject)
}

// hashID is 130 bits of SHA-256 of s, in the IDs' base32.
func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return idEncoding.EncodeToString(sum[:17])[:26]
}

// IsUserID reports whether s has the shape of a public user ID.
func IsUserID(s string) bool { return userIDPattern.MatchString(s) }

// ConversationID names the private conversation of two users: their IDs
// in order, joined by "+", the same from either side.
func ConversationID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "+" + b
}

// inConversation reports whether user is one of the conversation's two.
func inConversation(conversation, user string) bool {
	a, b, ok := strings.Cut(conversation, "+")
	return ok && user != "" && (a == user || b == user)
}

// peerOf returns the other user of a conversation user is in.
func peerOf(conversation, user string) string {
	a, b, _ := strings.Cut(conversation, "+")
	if a == user {
		return b
	}
	return a
}

// conversationStream is where a conversation's messages are kept: a
// History stream of its own, next to its room's (room names cannot hold
// "/", so it never meets a room).
func conversationStream(room, conversation string) string {
	return room + "/" + conversation
}

// inboxStream keeps a user's conversations in a room, one entry each,
// made with a conversation's first message: a client that was away learns
// from "who" of one begun meanwhile.
func inboxStream(room, user string) string {
	return room + "/inbox/" + user
}

var folder = cases.Fold()

// NameKey is what two names are compared by: NFC, case-folded, NFC again
// (folding may undo the composition). "ANN", "Ann" and "Ann" spelt with a
// combining mark are one name.
func NameKey(name string) string {
	return norm.NFC.String(folder.String(norm.NFC.String(name)))
}

// normalName is a valid name in the form it is kept in: NFC.
func normalName(name string) string { return norm.NFC.String(name) }

// nameCandidate is the i-th name tried for someone who asked for name:
// the name itself, then "name (2)", "name (3)", ..., cut to fit
// MaxNameLength.
func nameCandidate(name string, i int) string {
	if i <= 1 {
		return name
	}
	suffix := fmt.Sprintf(" (%d)", i)
	runes := []rune(name)
	if room := MaxNameLength - utf8.RuneCountInString(suffix); len(runes) > room {
		runes = runes[:room]
	}
	return strings.TrimRight(string(runes), " ") + suffix
}

// maxNameTries bounds the names tried for one join.
const maxNameTries = 50

// LeaveGrace is how long a person whose last connection closed keeps their
// name, and is not announced as gone: a reload or a network blip comes back
// within it, and is neither a leave nor a join.
const LeaveGrace = 5 * time.Second

// Names keeps who holds each name in each room, so that two people joining
// at once with one name cannot both take it. Implementations:
// dynamo.Store, memstore.Store.
type Names interface {
	// Claim gives the name (by its NameKey) in room to user until
	// expiresAt, unless another user holds it (a claim expired at now is
	// nobody's), and returns the claim as it was. A claim of user's own is
	// renewed, and its LeftAt cleared. ok is false, and nothing changes,
	// when another user holds it.
	Claim(ctx context.Context, room, key string, c NameClaim, now time.Time) (prev NameClaim, ok bool, err error)
	// MarkLeft records that user's last connection in room left at at, if
	// user holds the name, and reports whether it did.
	MarkLeft(ctx context.Context, room, key, user string, at time.Time) (bool, error)
	// Release forgets user's claim of the name: if leftAt is not zero,
	// only while its LeftAt still is leftAt (the user has not come back).
	// It reports whether it did.
	Release(ctx context.Context, room, key, user string, leftAt time.Time) (bool, error)
}

// NameClaim is a name held in a room.
type NameClaim struct {
	UserID    string
	Name      string // as shown
	LeftAt    time.Time
	ExpiresAt time.Time
}

// person is a user as a room lists them: one entry for all their
// connections.
type person struct {
	UserID      string
	Name        string
	Connections int
}

// userOf returns whom a member belongs to: the user, or, for an item
// written before user IDs (or read through an index without them), the
// connection itself.
func userOf(m Member) string {
	if m.UserID != "" {
		return m.UserID
	}
	return "c:" + m.ID
}

// people groups members by user, in the order they first appear.
func people(members []Member) []person {
	index := make(map[string]int, len(members))
	var out []person
	for _, m := range members {
		u := userOf(m)
		if i, ok := index[u]; ok {
			out[i].Connections++
			continue
		}
		index[u] = len(out)
		out = append(out, person{UserID: m.UserID, Name: m.Name, Connections: 1})
	}
	return out
}

// countPeople returns how many users members belong to.
func countPeople(members []Member) int {
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		seen[userOf(m)] = struct{}{}
	}
	return len(seen)
}

// hasUser reports whether one of members belongs to user.
func hasUser(members []Member, user string) bool {
	for _, m := range members {
		if m.UserID == user && user != "" {
			return true
		}
	}
	return false
}

// nameOf returns the name user has in members ("" if none).
func nameOf(members []Member, user string) string {
	for _, m := range members {
		if m.UserID == user && user != "" {
			return m.Name
		}
	}
	return ""
}

// connectionsOf returns the members that belong to user.
func connectionsOf(members []Member, user string) []Member {
	var out []Member
	for _, m := range members {
		if m.UserID == user && user != "" {
			out = append(out, m)
		}
	}
	return out
}

// takeName picks c's name in its room and claims it: the name c's user has
// there already (a second tab), else the name asked for, else the first
// free of "name (2)", "name (3)"... It reports whether the user was in the
// room already or is back within LeaveGrace: then nobody is told of a join.
func (s *Service) takeName(ctx context.Context, c Connection, members []Member, now time.Time) (string, bool, error) {
	if name := nameOf(members, c.UserID); name != "" {
		if s.Names != nil {
			// Renewed so that it lasts as long as this connection; held by
			// this user already, so it cannot be refused.
			if _, _, err := s.Names.Claim(ctx, c.Room, NameKey(name), s.claim(c, name), now); err != nil {
				return "", false, fmt.Errorf("connect %s: claim name: %w", c.ID, err)
			}
		}
		return name, true, nil
	}
	held := make(map[string]bool, len(members))
	for _, m := range members {
		held[NameKey(m.Name)] = true
	}
	// Names the listing shows held are skipped without a write; only
	// claims count against maxNameTries.
	for i, tries := 1, 0; tries < maxNameTries && i <= len(members)+maxNameTries; i++ {
		name := nameCandidate(c.Name, i)
		key := NameKey(name)
		if held[key] {
			continue
		}
		tries++
		if s.Names == nil {
			return name, false, nil
		}
		prev, ok, err := s.Names.Claim(ctx, c.Room, key, s.claim(c, name), now)
		if err != nil {
			return "", false, fmt.Errorf("connect %s: claim name: %w", c.ID, err)
		}
		if ok {
			back := prev.UserID == c.UserID && (prev.LeftAt.IsZero() || now.Sub(prev.LeftAt) <= 2*LeaveGrace)
			return name, back, nil
		}
	}
	return "", false, protocolError(CodeNameTaken, "every name like %q is taken in this room; choose another", c.Name)
}

func (s *Service) claim(c Connection, name string) NameClaim {
	return NameClaim{UserID: c.UserID, Name: name, ExpiresAt: c.ExpiresAt}
}

// releaseName gives up c's name in its room at once (a refused join, a
// member found gone): there is nobody to wait for.
func (s *Service) releaseName(ctx context.Context, room, name, user string) {
	if s.Names == nil || user == "" {
		return
	}
	if _, err := s.Names.Release(ctx, room, NameKey(name), user, time.Time{}); err != nil {
		s.logger().WarnContext(ctx, "name not released: it is freed when it expires", slog.String("room", room), slog.Any("error", err))
	}
}
