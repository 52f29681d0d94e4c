package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/rivo/uniseg"
)

// Messages that live: an edit, a deletion or a reaction is an event with
// its own place in the stream (the room's or the conversation's). It is
// stored and broadcast like a message, so one "since" request catches a
// client up on every change, in order; and it is applied to the message it
// changes, so that history shows each message as it is now. See
// docs/protocol.md, "Messages that live".

// Actions and event types of changes.
const (
	ActionEdit   = "edit"
	ActionDelete = "delete"
	ActionReact  = "react"
	ActionBlock  = "block"

	TypeEdit     = "edit"
	TypeDelete   = "delete"
	TypeReaction = "reaction"

	// MaxReactionKinds is the most distinct emoji on one message: each is
	// an entry of the message's item, which every history read carries,
	// and a reaction bar shows about this many.
	MaxReactionKinds = 20
)

// Error codes of changes.
const (
	CodeNotAuthor        = "not_author"
	CodeDeleted          = "deleted"
	CodeNoSuchMessage    = "no_such_message"
	CodeInvalidEmoji     = "invalid_emoji"
	CodeTooManyReactions = "too_many_reactions"
)

// Change is what an event does to the message it targets, for
// History.Change.
type Change struct {
	// Event is the stored event (its Type says which change, its Seq
	// orders it against other changes of the message).
	Event Message
	// UserID reacted (Event.Op "add" or "remove").
	UserID string
}

// ChangeRequest is a valid edit, delete or react request.
type ChangeRequest struct {
	Kind         string // TypeEdit, TypeDelete or TypeReaction
	Target       int64
	Conversation string
	Text         string // an edit's
	Emoji, Op    string // a reaction's
	ClientMsgID  string
	Resend       bool
}

// ParseChange validates the body of an edit, delete or react frame.
func ParseChange(kind string, body []byte) (ChangeRequest, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return ChangeRequest{}, err
	}
	r := ChangeRequest{Kind: kind}
	raw, ok := f.field("target")
	if !ok || json.Unmarshal(raw, &r.Target) != nil || r.Target < 1 {
		return ChangeRequest{}, protocolError(CodeInvalidField, "target must be the seq of a message (a whole number, 1 or more)")
	}
	if raw, ok := f.field("conversation"); ok {
		if json.Unmarshal(raw, &r.Conversation) != nil || !conversationPattern.MatchString(r.Conversation) {
			return ChangeRequest{}, protocolError(CodeInvalidField, "conversation must be two user IDs joined by +")
		}
	}
	if r.ClientMsgID, err = parseClientMsgID(f); err != nil {
		return ChangeRequest{}, err
	}
	if r.Resend, err = parseResend(f); err != nil {
		return ChangeRequest{}, err
	}
	switch kind {
	case TypeEdit:
		if r.Text, err = parseText(f); err != nil {
			return ChangeRequest{}, err
		}
	case TypeReaction:
		raw, ok := f.field("emoji")
		if !ok || json.Unmarshal(raw, &r.Emoji) != nil || !IsEmoji(r.Emoji) {
			return ChangeRequest{}, protocolError(CodeInvalidEmoji, "emoji must be one emoji")
		}
		raw, ok = f.field("op")
		if !ok || json.Unmarshal(raw, &r.Op) != nil || (r.Op != "add" && r.Op != "remove") {
			return ChangeRequest{}, protocolError(CodeInvalidField, `op must be "add" or "remove"`)
		}
	}
	return r, nil
}

// IsEmoji reports whether s is one grapheme cluster that is an emoji: a
// pictograph (with its variation selector, skin tone or ZWJ sequence), a
// flag, or a keycap. Letters, digits and punctuation alone are not.
func IsEmoji(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	cluster, rest, _, _ := uniseg.FirstGraphemeClusterInString(s, -1)
	if rest != "" {
		return false
	}
	for i, r := range cluster {
		switch {
		case r == 0x20E3 && i > 0: // a keycap: 1️⃣, #️⃣
			return true
		case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, flags' regional indicators
			r >= 0x2600 && r <= 0x27BF, // miscellaneous symbols, dingbats
			r >= 0x2300 && r <= 0x23FF, r >= 0x2B00 && r <= 0x2BFF,
			r == 0x00A9, r == 0x00AE, r == 0x203C, r == 0x2049, r == 0x2122, r == 0x2139,
			r >= 0x2194 && r <= 0x21AA, r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
			return true
		}
	}
	return false
}

// Edit handles a frame routed to "edit".
func (s *Service) Edit(ctx context.Context, connectionID string, body []byte) error {
	return s.change(ctx, connectionID, TypeEdit, body)
}

// DeleteMessage handles a frame routed to "delete".
func (s *Service) DeleteMessage(ctx context.Context, connectionID string, body []byte) error {
	return s.change(ctx, connectionID, TypeDelete, body)
}

// React handles a frame routed to "react".
func (s *Service) React(ctx context.Context, connectionID string, body []byte) error {
	return s.change(ctx, connectionID, TypeReaction, body)
}

// change stores an event, applies it to its target, acks it and tells the
// stream's members. A resend of a stored event is applied again (harmless:
// an older event never overwrites a newer one) and acked, not stored twice.
func (s *Service) change(ctx context.Context, connectionID, kind string, body []byte) error {
	req, err := ParseChange(kind, body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	sender, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if err := s.takeSend(ctx, sender, req.ClientMsgID); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	stream := sender.Room
	if req.Conversation != "" {
		if !inConversation(req.Conversation, sender.UserID) {
			return s.reject(ctx, connectionID, refusedChange(CodeForbidden, "you are not in this conversation", req))
		}
		stream = conversationStream(sender.Room, req.Conversation)
	}
	now := s.now()
	if req.ClientMsgID != "" {
		// Always looked up (not only on resend): an event applied twice
		// would be a reaction counted twice in the stream.
		stored, found, err := s.History.Find(ctx, stream, req.ClientMsgID, now)
		if err != nil {
			return s.reject(ctx, connectionID, fmt.Errorf("%s from %s: find: %w", kind, connectionID, err))
		}
		if found {
			if target, ok, err := s.History.At(ctx, stream, stored.Target, now); err == nil && ok {
				_ = s.History.Change(ctx, stream, target, Change{Event: stored, UserID: stored.FromID}, now)
			}
			stored.Room = sender.Room
			s.post1(ctx, connectionID, ackOf(stored))
			return nil
		}
	}
	target, ok, err := s.History.At(ctx, stream, req.Target, now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("%s from %s: read target: %w", kind, connectionID, err))
	}
	if !ok || (target.Type != TypeChatMessage && target.Type != TypeDirect) {
		return s.reject(ctx, connectionID, refusedChange(CodeNoSuchMessage, "no message has that seq here", req))
	}
	switch {
	case kind != TypeReaction && target.FromID != sender.UserID:
		return s.reject(ctx, connectionID, refusedChange(CodeNotAuthor, "only its author may change a message", req))
	case target.Deleted:
		return s.reject(ctx, connectionID, refusedChange(CodeDeleted, "that message was deleted", req))
	case kind == TypeReaction && req.Op == "add" && !slices.Contains(target.Reactions[req.Emoji], sender.UserID) &&
		target.Reactions[req.Emoji] == nil && len(target.Reactions) >= MaxReactionKinds:
		return s.reject(ctx, connectionID, refusedChange(CodeTooManyReactions,
			fmt.Sprintf("a message takes at most %d different emoji", MaxReactionKinds), req))
	}
	sent := req.Text
	if kind == TypeEdit {
		if req.Text, err = s.review(ctx, TypeEdit, sender, req.Conversation, req.Text, req.ClientMsgID); err != nil {
			return s.reject(ctx, connectionID, err)
		}
	}
	event := Message{Type: kind, ID: s.newID(), Room: stream, Conversation: req.Conversation,
		Target: target.Seq, TargetID: target.ID, From: sender.Name, FromID: sender.UserID,
		Text: req.Text, Emoji: req.Emoji, Op: req.Op, SentAt: FormatTime(now), ClientMsgID: req.ClientMsgID}
	if kind == TypeEdit {
		event.EditedAt = event.SentAt
	}
	event, _, err = s.History.Append(ctx, event, now.Add(s.retention()), now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("%s from %s: store: %w", kind, connectionID, err))
	}
	if err := s.History.Change(ctx, stream, target, Change{Event: event, UserID: sender.UserID}, now); err != nil {
		// The event is stored: clients apply it from the stream, and a
		// resend applies it to the message again.
		s.logger().WarnContext(ctx, "change stored but not applied to its message", slog.String("kind", kind), slog.Any("error", err))
	}
	event.Room = sender.Room
	if req.ClientMsgID != "" {
		s.post1(ctx, connectionID, ackWith(event, sent))
	}
	members, err := s.Store.Members(ctx, sender.Room, now)
	if err != nil {
		return fmt.Errorf("%s from %s: list room: %w", kind, connectionID, err)
	}
	recipients := others(members, connectionID)
	if req.Conversation != "" {
		a, b := req.Conversation[:27], req.Conversation[28:]
		recipients = slices.DeleteFunc(recipients, func(m Member) bool { return m.UserID != a && m.UserID != b })
	}
	_, goneMembers := s.broadcast(ctx, recipients, encode(event))
	s.reapGone(ctx, sender.Room, members, goneMembers)
	return nil
}

func refusedChange(code, message string, req ChangeRequest) *ProtocolError {
	return &ProtocolError{Code: code, Message: message, ClientMsgID: req.ClientMsgID}
}

// Blocks keeps whom each user has blocked. Implementations: dynamo.Store,
// memstore.Store.
type Blocks interface {
	// Blocked returns the users user has blocked.
	Blocked(ctx context.Context, user string, now time.Time) ([]string, error)
	// SetBlocked blocks (or unblocks) other for user; the list lasts until
	// expiresAt, renewed by each change.
	SetBlocked(ctx context.Context, user, other string, blocked bool, expiresAt time.Time) error
}

// BlockTTL is how long a block list lasts after its last change.
const BlockTTL = 365 * 24 * time.Hour

// ErrNoBlocks: the host keeps no block lists.
var ErrNoBlocks = errors.New("blocking is not configured")

// Block handles a frame routed to "block": it blocks or unblocks a person
// for the sender's user, and answers with the list as it is now.
func (s *Service) Block(ctx context.Context, connectionID string, body []byte) error {
	f, err := decodeFrame(body)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	other, err := parseUserID(f, "userId")
	if err == nil && other == "" {
		err = protocolError(CodeInvalidField, "userId is required")
	}
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	var blocked bool
	if raw, ok := f.field("blocked"); !ok || json.Unmarshal(raw, &blocked) != nil {
		return s.reject(ctx, connectionID, protocolError(CodeInvalidField, "blocked must be true or false"))
	}
	c, err := s.member(ctx, connectionID)
	if err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if err := s.takeSend(ctx, c, ""); err != nil {
		return s.reject(ctx, connectionID, err)
	}
	if s.Blocks == nil {
		return s.reject(ctx, connectionID, ErrNoBlocks)
	}
	if other == c.UserID {
		return s.reject(ctx, connectionID, protocolError(CodeInvalidField, "you cannot block yourself"))
	}
	now := s.now()
	if err := s.Blocks.SetBlocked(ctx, c.UserID, other, blocked, now.Add(BlockTTL)); err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("block: %w", err))
	}
	list, err := s.Blocks.Blocked(ctx, c.UserID, now)
	if err != nil {
		return s.reject(ctx, connectionID, fmt.Errorf("block: %w", err))
	}
	s.post1(ctx, connectionID, BlockedFrame{Type: TypeBlocked, Blocked: nonNil(list)})
	return nil
}

// TypeBlocked answers a block request with the sender's list.
const TypeBlocked = "blocked"

// BlockedFrame is the list of people the user has blocked.
type BlockedFrame struct {
	Type    string   `json:"type"`
	Blocked []string `json:"blocked"`
}

// blocks returns user's block list, or nil without Blocks.
func (s *Service) blocks(ctx context.Context, user string, now time.Time) ([]string, error) {
	if s.Blocks == nil || user == "" {
		return nil, nil
	}
	return s.Blocks.Blocked(ctx, user, now)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
