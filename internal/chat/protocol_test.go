package chat_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// codeOf returns the code of err if it is a *chat.ProtocolError, "" for nil,
// and "not a protocol error" otherwise.
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	var pe *chat.ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return "not a protocol error"
}

func chatBody(textLiteral string) string {
	return `{"action":"chat message","text":` + textLiteral + `}`
}

func TestParseChatMessage(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantText string
		wantCode string
	}{
		// Valid.
		{name: "plain", body: chatBody(`"hello"`), wantText: "hello"},
		{name: "spaces kept", body: chatBody(`"  hi there  "`), wantText: "  hi there  "},
		{name: "whitespace around the object", body: " \n" + chatBody(`"hi"`) + "\t ", wantText: "hi"},
		{name: "escapes", body: chatBody(`"line\nnext \"quoted\" \\ \/ \u00e9"`), wantText: "line\nnext \"quoted\" \\ / é"},
		{name: "unknown fields ignored", body: `{"action":"chat message","text":"hi","extra":[1,{}]}`, wantText: "hi"},
		{name: "emoji as UTF-8", body: chatBody(`"hi 😀"`), wantText: "hi 😀"},
		{name: "emoji as surrogate pair", body: chatBody(`"hi \ud83d\ude00"`), wantText: "hi 😀"},
		{name: "surrogate pair upper case", body: chatBody(`"\uD83D\uDE00"`), wantText: "😀"},
		{name: "escaped backslash before u", body: chatBody(`"\\ud83d"`), wantText: `\ud83d`},
		{name: "U+FFFD itself", body: chatBody(`"\ufffd"`), wantText: "\ufffd"},
		{name: "2000 ASCII", body: chatBody(`"` + strings.Repeat("a", 2000) + `"`), wantText: strings.Repeat("a", 2000)},
		{name: "2000 two-byte runes", body: chatBody(`"` + strings.Repeat("é", 2000) + `"`), wantText: strings.Repeat("é", 2000)},
		{name: "2000 emoji", body: chatBody(`"` + strings.Repeat("😀", 2000) + `"`), wantText: strings.Repeat("😀", 2000)},
		{name: "2000 escaped pairs", body: chatBody(`"` + strings.Repeat(`\ud83d\ude00`, 2000) + `"`), wantText: strings.Repeat("😀", 2000)},

		{name: "tab and newline", body: chatBody(`"a\tb\nc"`), wantText: "a\tb\nc"},
		{name: "zero width joiner inside emoji", body: chatBody(`"👩\u200d💻"`), wantText: "👩\u200d💻"},

		// Text rules: blank is white space or invisible format characters;
		// control characters other than tab and newline are refused.
		{name: "zero width space only", body: chatBody(`"\u200b\u200b"`), wantCode: chat.CodeEmptyText},
		{name: "format characters and spaces", body: chatBody(`" \u2060\ufeff\u00ad "`), wantCode: chat.CodeEmptyText},
		{name: "NUL", body: chatBody(`"a\u0000b"`), wantCode: chat.CodeControlChar},
		{name: "escape", body: chatBody(`"\u001b[31mred"`), wantCode: chat.CodeControlChar},
		{name: "carriage return", body: chatBody(`"a\rb"`), wantCode: chat.CodeControlChar},
		{name: "DEL", body: chatBody(`"a\u007fb"`), wantCode: chat.CodeControlChar},
		{name: "C1 control", body: chatBody(`"a\u0085b"`), wantCode: chat.CodeControlChar},

		// Member names match exactly, as API Gateway's route selection does.
		{name: "TEXT in capitals", body: `{"action":"chat message","TEXT":"hi"}`, wantCode: chat.CodeEmptyText},
		{name: "Text capitalised", body: `{"action":"chat message","Text":"hi"}`, wantCode: chat.CodeEmptyText},

		// clientMsgId.
		{name: "clientMsgId", body: `{"action":"chat message","text":"hi","clientMsgId":"a-Z_09"}`, wantText: "hi"},
		{name: "clientMsgId 64", body: `{"action":"chat message","text":"hi","clientMsgId":"` + strings.Repeat("x", 64) + `"}`, wantText: "hi"},
		{name: "clientMsgId null", body: `{"action":"chat message","text":"hi","clientMsgId":null}`, wantText: "hi"},
		{name: "clientMsgId 65", body: `{"action":"chat message","text":"hi","clientMsgId":"` + strings.Repeat("x", 65) + `"}`, wantCode: chat.CodeInvalidField},
		{name: "clientMsgId empty", body: `{"action":"chat message","text":"hi","clientMsgId":""}`, wantCode: chat.CodeInvalidField},
		{name: "clientMsgId dot", body: `{"action":"chat message","text":"hi","clientMsgId":"a.b"}`, wantCode: chat.CodeInvalidField},
		{name: "clientMsgId number", body: `{"action":"chat message","text":"hi","clientMsgId":7}`, wantCode: chat.CodeInvalidField},

		// Not a JSON object.
		{name: "empty", body: "", wantCode: chat.CodeInvalidJSON},
		{name: "blank", body: " \n", wantCode: chat.CodeInvalidJSON},
		{name: "plain text", body: "hello", wantCode: chat.CodeInvalidJSON},
		{name: "array", body: `[{"action":"chat message","text":"hi"}]`, wantCode: chat.CodeInvalidJSON},
		{name: "number", body: "42", wantCode: chat.CodeInvalidJSON},
		{name: "string", body: `"hello"`, wantCode: chat.CodeInvalidJSON},
		{name: "null", body: "null", wantCode: chat.CodeInvalidJSON},
		{name: "true", body: "true", wantCode: chat.CodeInvalidJSON},
		{name: "truncated", body: `{"action":"chat message","text":"hi"`, wantCode: chat.CodeInvalidJSON},
		{name: "trailing garbage", body: chatBody(`"hi"`) + " x", wantCode: chat.CodeInvalidJSON},
		{name: "two objects", body: chatBody(`"hi"`) + chatBody(`"again"`), wantCode: chat.CodeInvalidJSON},
		{name: "single quotes", body: `{'action':'chat message','text':'hi'}`, wantCode: chat.CodeInvalidJSON},
		{name: "bad escape", body: chatBody(`"\x41"`), wantCode: chat.CodeInvalidJSON},
		{name: "raw newline in string", body: chatBody("\"a\nb\""), wantCode: chat.CodeInvalidJSON},

		// Missing or empty text.
		{name: "no text", body: `{"action":"chat message"}`, wantCode: chat.CodeEmptyText},
		{name: "null text", body: chatBody(`null`), wantCode: chat.CodeEmptyText},
		{name: "empty text", body: chatBody(`""`), wantCode: chat.CodeEmptyText},
		{name: "spaces", body: chatBody(`"   "`), wantCode: chat.CodeEmptyText},
		{name: "whitespace escapes", body: chatBody(`"\n\t\r "`), wantCode: chat.CodeEmptyText},
		{name: "unicode spaces", body: chatBody(`"\u00a0\u3000\u2003"`), wantCode: chat.CodeEmptyText},

		// Wrong types.
		{name: "text number", body: chatBody(`42`), wantCode: chat.CodeInvalidField},
		{name: "text bool", body: chatBody(`true`), wantCode: chat.CodeInvalidField},
		{name: "text array", body: chatBody(`["hi"]`), wantCode: chat.CodeInvalidField},
		{name: "text object", body: chatBody(`{"hi":1}`), wantCode: chat.CodeInvalidField},

		// Too long, counted in characters.
		{name: "2001 ASCII", body: chatBody(`"` + strings.Repeat("a", 2001) + `"`), wantCode: chat.CodeTextTooLong},
		{name: "2001 two-byte runes", body: chatBody(`"` + strings.Repeat("é", 2001) + `"`), wantCode: chat.CodeTextTooLong},
		{name: "2001 emoji", body: chatBody(`"` + strings.Repeat("😀", 2001) + `"`), wantCode: chat.CodeTextTooLong},
		{name: "2001 escaped", body: chatBody(`"` + strings.Repeat(`\u0041`, 2001) + `"`), wantCode: chat.CodeTextTooLong},

		// Invalid UTF-8 and surrogates.
		{name: "invalid byte in text", body: chatBody("\"a\xffb\""), wantCode: chat.CodeInvalidUTF8},
		{name: "truncated sequence", body: chatBody("\"\xe2\x82\""), wantCode: chat.CodeInvalidUTF8},
		{name: "overlong encoding", body: chatBody("\"\xc0\xaf\""), wantCode: chat.CodeInvalidUTF8},
		{name: "UTF-8 encoded surrogate", body: chatBody("\"\xed\xa0\x80\""), wantCode: chat.CodeInvalidUTF8},
		{name: "invalid byte outside text", body: "{\"action\":\"chat message\",\"text\":\"hi\",\"x\xff\":1}", wantCode: chat.CodeInvalidUTF8},
		{name: "invalid byte, not JSON", body: "\xff\xfe", wantCode: chat.CodeInvalidUTF8},
		{name: "lone high surrogate", body: chatBody(`"a\ud83d"`), wantCode: chat.CodeInvalidUTF8},
		{name: "lone high surrogate at end", body: chatBody(`"\ud83d"`), wantCode: chat.CodeInvalidUTF8},
		{name: "lone low surrogate", body: chatBody(`"\ude00 b"`), wantCode: chat.CodeInvalidUTF8},
		{name: "high then non-surrogate", body: chatBody(`"\ud83d\u0041"`), wantCode: chat.CodeInvalidUTF8},
		{name: "high then high", body: chatBody(`"\ud83d\ud83d\ude00"`), wantCode: chat.CodeInvalidUTF8},
		{name: "reversed pair", body: chatBody(`"\ude00\ud83d"`), wantCode: chat.CodeInvalidUTF8},
		{name: "escaped backslash then lone", body: chatBody(`"\\\ud83d"`), wantCode: chat.CodeInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chat.ParseChatMessage([]byte(tt.body))
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("ParseChatMessage() error = %v (code %q), want code %q", err, code, tt.wantCode)
			}
			if got.Text != tt.wantText {
				t.Errorf("ParseChatMessage() = %q, want %q", abbreviate(got.Text), abbreviate(tt.wantText))
			}
			if err != nil && err.Error() == "" {
				t.Errorf("error has no message")
			}
		})
	}
}

func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestUnrouted(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantCode    string
		wantMessage string // a substring of the message, if set
	}{
		{name: "empty", body: "", wantCode: chat.CodeInvalidJSON},
		{name: "plain text", body: "hello", wantCode: chat.CodeInvalidJSON},
		{name: "array", body: `["chat message"]`, wantCode: chat.CodeInvalidJSON},
		{name: "number", body: "3.14", wantCode: chat.CodeInvalidJSON},
		{name: "null", body: "null", wantCode: chat.CodeInvalidJSON},
		{name: "truncated", body: `{"action":`, wantCode: chat.CodeInvalidJSON},
		{name: "invalid UTF-8", body: "{\"action\":\"\xff\"}", wantCode: chat.CodeInvalidUTF8},
		{name: "no action", body: `{"text":"hi"}`, wantCode: chat.CodeUnknownAction, wantMessage: `"action" is required`},
		{name: "empty object", body: `{}`, wantCode: chat.CodeUnknownAction},
		{name: "null action", body: `{"action":null,"text":"hi"}`, wantCode: chat.CodeUnknownAction},
		{name: "empty action", body: `{"action":"","text":"hi"}`, wantCode: chat.CodeUnknownAction, wantMessage: `unknown action ""`},
		{name: "unknown action", body: `{"action":"shout","text":"hi"}`, wantCode: chat.CodeUnknownAction, wantMessage: `"shout"`},
		{name: "wrong case", body: `{"action":"Chat Message","text":"hi"}`, wantCode: chat.CodeUnknownAction, wantMessage: `"Chat Message"`},
		{name: "padded action", body: `{"action":" chat message","text":"hi"}`, wantCode: chat.CodeUnknownAction},
		{name: "action number", body: `{"action":1,"text":"hi"}`, wantCode: chat.CodeInvalidField},
		{name: "action bool", body: `{"action":true}`, wantCode: chat.CodeInvalidField},
		{name: "action array", body: `{"action":["chat message"]}`, wantCode: chat.CodeInvalidField},
		{name: "action object", body: `{"action":{"name":"chat message"}}`, wantCode: chat.CodeInvalidField},
		{name: "ACTION in capitals", body: `{"ACTION":"chat message","TEXT":"x"}`, wantCode: chat.CodeUnknownAction, wantMessage: `"action" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := chat.Unrouted([]byte(tt.body))
			if pe == nil {
				t.Fatalf("Unrouted() = nil, want code %q", tt.wantCode)
			}
			if pe.Code != tt.wantCode {
				t.Errorf("Unrouted() code = %q (%s), want %q", pe.Code, pe.Message, tt.wantCode)
			}
			if !strings.Contains(pe.Message, tt.wantMessage) {
				t.Errorf("Unrouted() message = %q, want it to contain %q", pe.Message, tt.wantMessage)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantCode string
	}{
		{name: "empty means guest", in: ""},
		{name: "ascii", in: "alice"},
		{name: "with space", in: "Alice Liddell"},
		{name: "punctuation", in: "o'brien-2 (away)"},
		{name: "accents", in: "Zoë"},
		{name: "emoji", in: "🙂"},
		{name: "CJK", in: "山田太郎"},
		{name: "one char", in: "x"},
		{name: "32 ASCII", in: strings.Repeat("a", 32)},
		{name: "32 two-byte runes", in: strings.Repeat("é", 32)},
		{name: "32 emoji", in: strings.Repeat("😀", 32)},
		{name: "33 ASCII", in: strings.Repeat("a", 33), wantCode: chat.CodeInvalidName},
		{name: "33 two-byte runes", in: strings.Repeat("é", 33), wantCode: chat.CodeInvalidName},
		{name: "blank", in: "   ", wantCode: chat.CodeInvalidName},
		{name: "unicode blank", in: "\u3000", wantCode: chat.CodeInvalidName},
		{name: "tab", in: "a\tb", wantCode: chat.CodeInvalidName},
		{name: "newline", in: "alice\n", wantCode: chat.CodeInvalidName},
		{name: "NUL", in: "a\x00b", wantCode: chat.CodeInvalidName},
		{name: "escape", in: "\x1b[31mred", wantCode: chat.CodeInvalidName},
		{name: "DEL", in: "a\x7f", wantCode: chat.CodeInvalidName},
		{name: "zero width space", in: "a\u200bb", wantCode: chat.CodeInvalidName},
		{name: "bidi override", in: "a\u202eb", wantCode: chat.CodeInvalidName},
		{name: "invalid UTF-8", in: "a\xffb", wantCode: chat.CodeInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := chat.ValidateName(tt.in)
			if code := codeOf(err); code != tt.wantCode {
				t.Errorf("ValidateName(%q) = %v, want code %q", tt.in, err, tt.wantCode)
			}
		})
	}
}

func TestValidateRoom(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     string
		wantCode string
	}{
		{name: "empty means default", in: "", want: chat.DefaultRoom},
		{name: "general", in: "general", want: "general"},
		{name: "digits and dash", in: "room-42", want: "room-42"},
		{name: "one char", in: "a", want: "a"},
		{name: "dash only", in: "-", want: "-"},
		{name: "32 chars", in: strings.Repeat("a", 32), want: strings.Repeat("a", 32)},
		{name: "33 chars", in: strings.Repeat("a", 33), wantCode: chat.CodeInvalidRoom},
		{name: "upper case", in: "General", wantCode: chat.CodeInvalidRoom},
		{name: "underscore", in: "my_room", wantCode: chat.CodeInvalidRoom},
		{name: "space", in: "my room", wantCode: chat.CodeInvalidRoom},
		{name: "slash", in: "a/b", wantCode: chat.CodeInvalidRoom},
		{name: "accent", in: "café", wantCode: chat.CodeInvalidRoom},
		{name: "trailing newline", in: "general\n", wantCode: chat.CodeInvalidRoom},
		{name: "leading space", in: " general", wantCode: chat.CodeInvalidRoom},
		{name: "invalid UTF-8", in: "a\xff", wantCode: chat.CodeInvalidRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chat.ValidateRoom(tt.in)
			if code := codeOf(err); code != tt.wantCode {
				t.Fatalf("ValidateRoom(%q) error = %v, want code %q", tt.in, err, tt.wantCode)
			}
			if got != tt.want {
				t.Errorf("ValidateRoom(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatTime(t *testing.T) {
	in := time.Date(2026, 11, 24, 16, 4, 5, 7_000_000, time.FixedZone("CET", 3600))
	if got, want := chat.FormatTime(in), "2026-11-24T15:04:05.007Z"; got != want {
		t.Errorf("FormatTime() = %q, want %q", got, want)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := chat.NewID()
		if len(id) != 26 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuv") != "" {
			t.Fatalf("NewID() = %q, want 26 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}
