package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Wire protocol. See docs/protocol.md.
const (
	// Actions: the values of "action" that API Gateway routes to functions.
	ActionChatMessage = "chat message"
	ActionHistory     = "history"
	ActionPing        = "ping"
	ActionWho         = "who"
	ActionTyping      = "typing"
	ActionDirect      = "direct message"
	ActionRename      = "rename"

	// Types of the frames sent to clients.
	TypeChatMessage = "chat message"
	TypeAck         = "ack"
	TypeHistory     = "history"
	TypeError       = "error"
	TypeMembers     = "members"
	TypeJoined      = "joined"
	TypeLeft        = "left"
	TypeTyping      = "typing"
	TypeDirect      = "direct message"
	TypeRenamed     = "renamed"

	DefaultRoom     = "general"
	MaxTextLength   = 2000 // characters (Unicode code points)
	MaxNameLength   = 32   // characters
	MaxClientMsgID  = 64   // characters of [A-Za-z0-9_-]
	DefaultHistory  = 50   // messages in a history reply without since
	MaxHistoryLimit = 200  // the largest "limit" of a backward page
	MaxHistorySince = 1000 // messages of one "since" reply; "next" continues it
	// MaxHistorySinceBytes bounds a "since" reply too (about two frames):
	// a reply's size is what a request of a few bytes makes the server send.
	MaxHistorySinceBytes = 240 * 1024
	// MaxHistoryFrame bounds one history frame, under API Gateway's
	// 128 KB message limit with room for the gateway's own framing.
	MaxHistoryFrame = 120 * 1024
)

// Error codes carried by error frames.
const (
	CodeInvalidJSON   = "invalid_json"
	CodeUnknownAction = "unknown_action"
	CodeInvalidField  = "invalid_field"
	CodeEmptyText     = "empty_text"
	CodeTextTooLong   = "text_too_long"
	CodeInvalidUTF8   = "invalid_utf8"
	CodeControlChar   = "control_char"
	CodeInvalidName   = "invalid_name"
	CodeInvalidRoom   = "invalid_room"
	CodeNotConnected  = "not_connected"
	CodeInternal      = "internal"
	CodeNoSuchMember  = "no_such_member"
	// CodeRateLimited: the connection sends faster than its send limit;
	// the frame was dropped, and may be sent again after retryAfterMs.
	CodeRateLimited = "rate_limited"
	// CodeRoomFull refuses a $connect to a room at its cap (HTTP 429).
	CodeRoomFull = "room_full"
	// CodeNameFixed: a signed-in member's name comes from its token.
	CodeNameFixed = "name_fixed"
	// CodeNameTaken: another person in the room holds that name (in any
	// case or Unicode normalisation).
	CodeNameTaken = "name_taken"
	// CodeForbidden: a history request for a conversation the sender is
	// not in.
	CodeForbidden = "forbidden"
)

// ProtocolError is bad input from a client. It is answered with an error
// frame to the sender alone (or, during $connect, with HTTP 400).
type ProtocolError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMs and ClientMsgID go with rate_limited: when the frame
	// may be sent again, and which one it was.
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
	ClientMsgID  string `json:"clientMsgId,omitempty"`
	// RequestID is the refused history request's requestId.
	RequestID string `json:"requestId,omitempty"`
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

func protocolError(code, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Message is a chat message as broadcast to the other members of a room,
// and as kept in its history.
type Message struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Room string `json:"room"`
	Seq  int64  `json:"seq"` // the room's order: strictly increasing, with gaps
	// Epoch names the room's order: it changes whenever the order starts
	// again (a new in-memory store, a replaced table, a lost counter), and
	// a client that sees another epoch drops what it holds and reloads.
	Epoch string `json:"epoch,omitempty"`
	// Conversation, on a direct message, names its private conversation
	// (ConversationID); its seq and epoch are the conversation's.
	Conversation string `json:"conversation,omitempty"`
	From         string `json:"from"`
	// FromID is the author's user ID, set by the server: a client marks
	// its own messages by it.
	FromID string `json:"fromId,omitempty"`
	// To and ToID, on a direct message, name its recipient.
	To     string `json:"to,omitempty"`
	ToID   string `json:"toId,omitempty"`
	Text   string `json:"text"`
	SentAt string `json:"sentAt"` // RFC 3339 in UTC with milliseconds
	// Target and TargetID, on an event (edit, delete, reaction), name the
	// message it changes, by seq and id; Emoji and Op are a reaction's.
	Target   int64  `json:"target,omitempty"`
	TargetID string `json:"targetId,omitempty"`
	Emoji    string `json:"emoji,omitempty"`
	Op       string `json:"op,omitempty"`
	// EditedAt, Deleted and Reactions are a message's state now, in
	// history (and EditedAt on an edit event).
	EditedAt  string              `json:"editedAt,omitempty"`
	Deleted   bool                `json:"deleted,omitempty"`
	Reactions map[string][]string `json:"reactions,omitempty"`
	// ClientMsgID is the sender's ID for the message, if it gave one: its
	// page matches a message it sees in history with one it sent.
	ClientMsgID string `json:"clientMsgId,omitempty"`
}

// Ack tells a sender that its message is stored, with what it was stored
// as. A direct message's ack has no seq: it is not in the room's order.
type Ack struct {
	Type        string `json:"type"`
	ClientMsgID string `json:"clientMsgId"`
	ID          string `json:"id"`
	Seq         int64  `json:"seq,omitempty"`
	Epoch       string `json:"epoch,omitempty"`
	// Conversation is set on the ack of a direct message.
	Conversation string `json:"conversation,omitempty"`
	SentAt       string `json:"sentAt"`
	// Text is set when the review hook rewrote the message: what was
	// published instead of what was sent.
	Text string `json:"text,omitempty"`
}

// ackWith is ackOf, with the text published when it is not what was sent.
func ackWith(m Message, sent string) Ack {
	a := ackOf(m)
	if m.Text != sent {
		a.Text = m.Text
	}
	return a
}

func ackOf(m Message) Ack {
	return Ack{Type: TypeAck, ClientMsgID: m.ClientMsgID, ID: m.ID, Seq: m.Seq, Epoch: m.Epoch,
		Conversation: m.Conversation, SentAt: m.SentAt}
}

// MembersFrame answers "who": the room's people, each once with how many
// connections they have, the count of people, who the asker is, and the
// asker's private conversations in the room.
type MembersFrame struct {
	Type          string             `json:"type"`
	Room          string             `json:"room"`
	You           MemberName         `json:"you"`
	Members       []MemberName       `json:"members"`
	Count         int                `json:"count"`
	Conversations []ConversationName `json:"conversations"`
	// Blocked are the people the asker has blocked.
	Blocked []string `json:"blocked"`
}

// MemberName is one person of MembersFrame (Connections is left out of
// You).
type MemberName struct {
	UserID      string `json:"userId"`
	Name        string `json:"name"`
	Connections int    `json:"connections,omitempty"`
}

// ConversationName is one of the asker's private conversations.
type ConversationName struct {
	ID   string `json:"id"`
	With string `json:"with"`
}

// PresenceFrame tells the other members that a person joined (their first
// connection) or left (their last one), and how many people the room has
// now.
type PresenceFrame struct {
	Type   string `json:"type"` // TypeJoined or TypeLeft
	UserID string `json:"userId"`
	Name   string `json:"name"`
	Count  int    `json:"count"`
}

// TypingFrame tells the other members that someone is typing.
type TypingFrame struct {
	Type   string `json:"type"`
	From   string `json:"from"`
	FromID string `json:"fromId"`
	// Conversation is set when the notice is for one person.
	Conversation string `json:"conversation,omitempty"`
}

// RenamedFrame tells every member, the renamer included, of a new name.
type RenamedFrame struct {
	Type   string `json:"type"`
	UserID string `json:"userId"`
	From   string `json:"from"`
	Name   string `json:"name"`
}

// HistoryFrame is one frame of a reply to a history request.
type HistoryFrame struct {
	Type string `json:"type"`
	Room string `json:"room"`
	// Conversation is set on a reply about a private conversation.
	Conversation string    `json:"conversation,omitempty"`
	Messages     []Message `json:"messages"`
	// More is true when another frame of this reply follows.
	More bool `json:"more"`
	// Next, on the last frame only, is the request that continues the
	// reply: {"since":N} when a since reply stopped at its cap,
	// {"before":N} when older messages exist than a backward page holds.
	Next *HistoryCursor `json:"next,omitempty"`
	// RequestID echoes the request's requestId, on every frame.
	RequestID string `json:"requestId,omitempty"`
}

// HistoryCursor is the request that continues a history reply.
type HistoryCursor struct {
	Since  int64 `json:"since,omitempty"`
	Before int64 `json:"before,omitempty"`
}

// ErrorFrame is what a client receives for its own bad input.
type ErrorFrame struct {
	Type         string `json:"type"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
	ClientMsgID  string `json:"clientMsgId,omitempty"`
	// RequestID is the refused history request's requestId.
	RequestID string `json:"requestId,omitempty"`
}

// FormatTime formats t as the protocol's timestamps: RFC 3339, UTC, milliseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

var roomPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// ValidateRoom checks a room name from the connection URL; empty means DefaultRoom.
func ValidateRoom(room string) (string, error) {
	if room == "" {
		return DefaultRoom, nil
	}
	if !roomPattern.MatchString(room) {
		return "", protocolError(CodeInvalidRoom, "room must match [a-z0-9-]{1,32}")
	}
	return room, nil
}

// ValidateName checks a display name from the connection URL. Empty is
// allowed: the caller then picks a guest name.
func ValidateName(name string) error {
	if name == "" {
		return nil
	}
	if !utf8.ValidString(name) {
		return protocolError(CodeInvalidName, "name must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return protocolError(CodeInvalidName, "name must be 1 to %d characters, got %d", MaxNameLength, n)
	}
	if strings.TrimSpace(name) == "" {
		return protocolError(CodeInvalidName, "name must not be blank")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return protocolError(CodeInvalidName, "name must contain printable characters only")
		}
	}
	return nil
}

// clientFrame is what a client sends: its members by exact name, raw, so
// that a wrong type is reported as such. API Gateway's route selection
// ($request.body.action) matches member names exactly, and so does the
// protocol: encoding/json's case-insensitive matching would take "ACTION"
// or "Text" for "action" and "text".
type clientFrame map[string]json.RawMessage

// field returns the member's raw value, and whether it is present and not null.
func (f clientFrame) field(name string) (json.RawMessage, bool) {
	v, ok := f[name]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

// ChatMessage is a valid "chat message" request.
type ChatMessage struct {
	Text        string
	ClientMsgID string // optional
	// Resend says the client sent this clientMsgId before (on an earlier
	// connection, or before an "internal" error): the server looks for the
	// stored message before it takes a seq, so that a duplicate leaves no
	// gap in the room's order. Without it a duplicate is still caught, by
	// the store's conditional write, but its seq is skipped.
	Resend bool
}

var clientMsgIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ParseChatMessage validates the body of a frame routed to "chat message".
func ParseChatMessage(body []byte) (ChatMessage, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return ChatMessage{}, err
	}
	var m ChatMessage
	if m.ClientMsgID, err = parseClientMsgID(f); err != nil {
		return ChatMessage{}, err
	}
	if m.Resend, err = parseResend(f); err != nil {
		return ChatMessage{}, err
	}
	m.Text, err = parseText(f)
	if err != nil {
		return ChatMessage{}, err
	}
	return m, nil
}

// DirectRequest is a valid "direct message" request.
type DirectRequest struct {
	ToID        string
	Text        string
	ClientMsgID string // optional
	Resend      bool
}

// ParseDirectMessage validates the body of a frame routed to "direct message".
func ParseDirectMessage(body []byte) (DirectRequest, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return DirectRequest{}, err
	}
	var d DirectRequest
	if d.ToID, err = parseUserID(f, "toId"); err != nil {
		return DirectRequest{}, err
	}
	if d.ToID == "" {
		return DirectRequest{}, protocolError(CodeInvalidField, "toId is required: the user ID of a person in the room")
	}
	if d.ClientMsgID, err = parseClientMsgID(f); err != nil {
		return DirectRequest{}, err
	}
	if d.Resend, err = parseResend(f); err != nil {
		return DirectRequest{}, err
	}
	if d.Text, err = parseText(f); err != nil {
		return DirectRequest{}, err
	}
	return d, nil
}

// ParseRename validates the body of a frame routed to "rename" and returns
// the new name, which follows the rules of ?name= but may not be empty.
func ParseRename(body []byte) (string, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return "", err
	}
	var name string
	raw, ok := f.field("name")
	if !ok {
		return "", protocolError(CodeInvalidName, "name is required")
	}
	if json.Unmarshal(raw, &name) != nil {
		return "", protocolError(CodeInvalidField, "name must be a string")
	}
	if name == "" {
		return "", protocolError(CodeInvalidName, "name must not be empty")
	}
	if err := ValidateName(name); err != nil {
		return "", err
	}
	return name, nil
}

// parseResend returns the frame's optional "resend" flag.
func parseResend(f clientFrame) (bool, error) {
	var resend bool
	if raw, ok := f.field("resend"); ok && json.Unmarshal(raw, &resend) != nil {
		return false, protocolError(CodeInvalidField, "resend must be true or false")
	}
	return resend, nil
}

// parseUserID returns the frame's optional user ID member name ("" if
// absent).
func parseUserID(f clientFrame, name string) (string, error) {
	raw, ok := f.field(name)
	if !ok {
		return "", nil
	}
	var id string
	if json.Unmarshal(raw, &id) != nil || !IsUserID(id) {
		return "", protocolError(CodeInvalidField, "%s must be a user ID (27 characters: a or u, then 26 of 0-9 and a-v)", name)
	}
	return id, nil
}

// ParseTyping validates the body of a frame routed to "typing" and returns
// the user it is for ("" for the whole room).
func ParseTyping(body []byte) (string, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return "", err
	}
	return parseUserID(f, "toId")
}

// parseClientMsgID returns the frame's optional clientMsgId.
func parseClientMsgID(f clientFrame) (string, error) {
	raw, ok := f.field("clientMsgId")
	if !ok {
		return "", nil
	}
	var id string
	if json.Unmarshal(raw, &id) != nil || !clientMsgIDPattern.MatchString(id) {
		return "", protocolError(CodeInvalidField, "clientMsgId must be 1 to %d characters of A-Z, a-z, 0-9, _ and -", MaxClientMsgID)
	}
	return id, nil
}

// parseText validates a frame's "text": a string, not blank, at most
// MaxTextLength characters, with no control characters but tab and newline.
func parseText(f clientFrame) (string, error) {
	raw, ok := f.field("text")
	if !ok {
		return "", protocolError(CodeEmptyText, "text is required")
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return "", protocolError(CodeInvalidField, "text must be a string")
	}
	if hasLoneSurrogate(raw) {
		return "", protocolError(CodeInvalidUTF8, "text must be valid UTF-8 (it has an unpaired surrogate escape)")
	}
	if isBlank(text) {
		return "", protocolError(CodeEmptyText, "text must not be empty or blank")
	}
	if n := utf8.RuneCountInString(text); n > MaxTextLength {
		return "", protocolError(CodeTextTooLong, "text is %d characters; the limit is %d", n, MaxTextLength)
	}
	for _, r := range text {
		if unicode.IsControl(r) && r != '\t' && r != '\n' {
			return "", protocolError(CodeControlChar, "text must not contain control characters (U+%04X) other than tab and newline", r)
		}
	}
	return text, nil
}

// isBlank reports whether s holds nothing but white space and invisible
// format characters (U+200B zero width space, U+2060 word joiner, U+FEFF...):
// text that would show as an empty message.
func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// HistoryRequest is a valid "history" request.
type HistoryRequest struct {
	Since  *int64 // messages after this seq
	Before *int64 // a page of messages before this seq
	Limit  int    // of a backward page
	// RequestID, when the client gave one, is echoed in every frame of the
	// reply, so that the client knows which request a reply answers even
	// when an earlier request got no reply (throttled, or failed).
	RequestID string
	// Conversation asks for a private conversation's messages instead of
	// the room's.
	Conversation string
}

// Range returns the messages the request asks for, and false when it can
// match none (before 0 or 1, since the largest seq): nothing need be read.
func (h HistoryRequest) Range() (Range, bool) {
	switch {
	case h.Since != nil:
		return Range{After: *h.Since, Limit: MaxHistorySince}, *h.Since < math.MaxInt64
	case h.Before != nil:
		return Range{Before: *h.Before, Limit: h.Limit}, *h.Before > 1
	}
	return Range{Latest: true, Limit: h.Limit}, true
}

// ParseHistory validates the body of a frame routed to "history".
func ParseHistory(body []byte) (HistoryRequest, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return HistoryRequest{}, err
	}
	h := HistoryRequest{Limit: DefaultHistory}
	seq := func(name string) (*int64, error) {
		raw, ok := f.field(name)
		if !ok {
			return nil, nil
		}
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
			return nil, protocolError(CodeInvalidField, "%s must be a whole number, 0 or more", name)
		}
		return &n, nil
	}
	if h.Since, err = seq("since"); err != nil {
		return HistoryRequest{}, err
	}
	if h.Before, err = seq("before"); err != nil {
		return HistoryRequest{}, err
	}
	if h.Since != nil && h.Before != nil {
		return HistoryRequest{}, protocolError(CodeInvalidField, "give since or before, not both")
	}
	if raw, ok := f.field("limit"); ok {
		if err := json.Unmarshal(raw, &h.Limit); err != nil || h.Limit < 1 || h.Limit > MaxHistoryLimit {
			return HistoryRequest{}, protocolError(CodeInvalidField, "limit must be a whole number from 1 to %d", MaxHistoryLimit)
		}
	}
	if raw, ok := f.field("requestId"); ok {
		if json.Unmarshal(raw, &h.RequestID) != nil || !clientMsgIDPattern.MatchString(h.RequestID) {
			return HistoryRequest{}, protocolError(CodeInvalidField, "requestId must be 1 to %d characters of A-Z, a-z, 0-9, _ and -", MaxClientMsgID)
		}
	}
	if raw, ok := f.field("conversation"); ok {
		if json.Unmarshal(raw, &h.Conversation) != nil || !conversationPattern.MatchString(h.Conversation) {
			pe := protocolError(CodeInvalidField, "conversation must be two user IDs joined by +")
			pe.RequestID = h.RequestID
			return HistoryRequest{}, pe
		}
	}
	return h, nil
}

// Unrouted explains why a frame reached the $default route: it is not JSON,
// or its action is missing, of the wrong type, or unknown.
func Unrouted(body []byte) *ProtocolError {
	f, err := decodeFrame(body)
	if err != nil {
		var pe *ProtocolError
		if errors.As(err, &pe) {
			return pe
		}
		return protocolError(CodeInvalidJSON, "body must be a JSON object")
	}
	raw, ok := f.field("action")
	if !ok {
		return protocolError(CodeUnknownAction, `"action" is required; use %q`, ActionChatMessage)
	}
	var action string
	if err := json.Unmarshal(raw, &action); err != nil {
		return protocolError(CodeInvalidField, `"action" must be a string`)
	}
	return protocolError(CodeUnknownAction, "unknown action %q; use %q", action, ActionChatMessage)
}

// decodeFrame checks the encoding and shape of a client frame.
func decodeFrame(body []byte) (clientFrame, error) {
	// encoding/json silently replaces invalid UTF-8 with U+FFFD, which
	// would corrupt the text: refuse it before decoding.
	if !utf8.Valid(body) {
		return nil, protocolError(CodeInvalidUTF8, "body must be valid UTF-8")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, protocolError(CodeInvalidJSON, "body must be a JSON object")
	}
	var f clientFrame
	if err := json.Unmarshal(trimmed, &f); err != nil {
		return nil, protocolError(CodeInvalidJSON, "body must be a JSON object: %v", err)
	}
	return f, nil
}

// hasLoneSurrogate reports whether a JSON string literal holds a \uD800-\uDFFF
// escape that is not part of a valid pair; encoding/json turns those into
// U+FFFD instead of failing.
func hasLoneSurrogate(literal []byte) bool {
	s := string(literal)
	for i := 0; i+6 <= len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++ // skip the escaped character, e.g. \\ or \"
			continue
		}
		hi, ok := hex4(s[i+2 : i+6])
		if !ok {
			continue
		}
		switch {
		case hi >= 0xD800 && hi <= 0xDBFF:
			if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
				if lo, ok := hex4(s[i+8 : i+12]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11
					continue
				}
			}
			return true
		case hi >= 0xDC00 && hi <= 0xDFFF:
			return true
		}
		i += 5
	}
	return false
}

func hex4(s string) (rune, bool) {
	var r rune
	for _, c := range []byte(s) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
