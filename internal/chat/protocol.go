package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Wire protocol. See docs/protocol.md.
const (
	// ActionChatMessage is the value of "action" that API Gateway routes to
	// the chat message function.
	ActionChatMessage = "chat message"
	// TypeChatMessage and TypeError are the "type" of frames sent to clients.
	TypeChatMessage = "chat message"
	TypeError       = "error"

	DefaultRoom   = "general"
	MaxTextLength = 2000 // characters (Unicode code points)
	MaxNameLength = 32   // characters
)

// Error codes carried by error frames.
const (
	CodeInvalidJSON   = "invalid_json"
	CodeUnknownAction = "unknown_action"
	CodeInvalidField  = "invalid_field"
	CodeEmptyText     = "empty_text"
	CodeTextTooLong   = "text_too_long"
	CodeInvalidUTF8   = "invalid_utf8"
	CodeInvalidName   = "invalid_name"
	CodeInvalidRoom   = "invalid_room"
)

// ProtocolError is bad input from a client. It is answered with an error
// frame to the sender alone (or, during $connect, with HTTP 400).
type ProtocolError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Message }

func protocolError(code, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Message is a chat message as broadcast to the other members of a room.
type Message struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Room   string `json:"room"`
	From   string `json:"from"`
	Text   string `json:"text"`
	SentAt string `json:"sentAt"` // RFC 3339 in UTC with milliseconds
}

// ErrorFrame is what a client receives for its own bad input.
type ErrorFrame struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
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

// clientFrame is what a client sends. Fields are raw so that a wrong type is
// reported as such rather than as a generic decoding failure.
type clientFrame struct {
	Action json.RawMessage `json:"action"`
	Text   json.RawMessage `json:"text"`
}

// ParseChatMessage validates the body of a frame routed to "chat message" and
// returns its text.
func ParseChatMessage(body []byte) (string, error) {
	f, err := decodeFrame(body)
	if err != nil {
		return "", err
	}
	if len(f.Text) == 0 || string(f.Text) == "null" {
		return "", protocolError(CodeEmptyText, "text is required")
	}
	var text string
	if err := json.Unmarshal(f.Text, &text); err != nil {
		return "", protocolError(CodeInvalidField, "text must be a string")
	}
	if hasLoneSurrogate(f.Text) {
		return "", protocolError(CodeInvalidUTF8, "text must be valid UTF-8 (it has an unpaired surrogate escape)")
	}
	if strings.TrimSpace(text) == "" {
		return "", protocolError(CodeEmptyText, "text must not be empty or blank")
	}
	if n := utf8.RuneCountInString(text); n > MaxTextLength {
		return "", protocolError(CodeTextTooLong, "text is %d characters; the limit is %d", n, MaxTextLength)
	}
	return text, nil
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
	if len(f.Action) == 0 || string(f.Action) == "null" {
		return protocolError(CodeUnknownAction, `"action" is required; use %q`, ActionChatMessage)
	}
	var action string
	if err := json.Unmarshal(f.Action, &action); err != nil {
		return protocolError(CodeInvalidField, `"action" must be a string`)
	}
	return protocolError(CodeUnknownAction, "unknown action %q; use %q", action, ActionChatMessage)
}

// decodeFrame checks the encoding and shape of a client frame.
func decodeFrame(body []byte) (clientFrame, error) {
	var f clientFrame
	// encoding/json silently replaces invalid UTF-8 with U+FFFD, which
	// would corrupt the text: refuse it before decoding.
	if !utf8.Valid(body) {
		return f, protocolError(CodeInvalidUTF8, "body must be valid UTF-8")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return f, protocolError(CodeInvalidJSON, "body must be a JSON object")
	}
	if err := json.Unmarshal(trimmed, &f); err != nil {
		return f, protocolError(CodeInvalidJSON, "body must be a JSON object: %v", err)
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
