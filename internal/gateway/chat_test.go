package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/serverless-chat/chat/internal/chat"
)

func TestChatReachesOthersNeverTheSender(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(t, "alice", "lobby")
	bob := e.connect(t, "bob", "lobby")
	carol := e.connect(t, "carol", "lobby")
	elsewhere := e.connect(t, "dave", "other")

	alice.say("hello")
	for _, c := range []*client{bob, carol} {
		m := c.nextJSON()
		if m["type"] != chat.TypeChatMessage || m["from"] != "alice" || m["text"] != "hello" || m["room"] != "lobby" {
			t.Errorf("got %v, want alice's hello in lobby", m)
		}
		for _, k := range []string{"id", "sentAt"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("message has no %s: %v", k, m)
			}
		}
	}
	// Alice's next message is Bob's reply, not her own hello; Dave, in
	// another room, gets his own room's message first.
	bob.say("hi alice")
	if m := alice.nextJSON(); m["from"] != "bob" || m["text"] != "hi alice" {
		t.Errorf("alice got %v, want bob's reply", m)
	}
	carol.nextJSON() // bob's reply
	e.connect(t, "erin", "other").say("other room")
	if m := elsewhere.nextJSON(); m["text"] != "other room" {
		t.Errorf("dave got %v, want the other room's message", m)
	}
}

func TestBadInputGetsErrorFrameAndConnectionSurvives(t *testing.T) {
	e := newEnv(t)
	alice := e.connect(t, "alice", "")
	bob := e.connect(t, "bob", "")
	tests := []struct {
		name, body, code string
	}{
		{"not JSON", "hello", chat.CodeInvalidJSON},
		{"JSON array", `[1,2]`, chat.CodeInvalidJSON},
		{"truncated JSON", `{"action":"chat message","text":"hi"`, chat.CodeInvalidJSON},
		{"empty body", ``, chat.CodeInvalidJSON},
		{"no action", `{"text":"hi"}`, chat.CodeUnknownAction},
		{"unknown action", `{"action":"dance","text":"hi"}`, chat.CodeUnknownAction},
		{"action not a string", `{"action":42,"text":"hi"}`, chat.CodeInvalidField},
		{"action differs in case", `{"action":"Chat Message","text":"hi"}`, chat.CodeUnknownAction},
		{"action $connect", `{"action":"$connect"}`, chat.CodeUnknownAction},
		{"action $disconnect", `{"action":"$disconnect"}`, chat.CodeUnknownAction},
		{"no text", `{"action":"chat message"}`, chat.CodeEmptyText},
		{"blank text", `{"action":"chat message","text":"  \t "}`, chat.CodeEmptyText},
		{"text not a string", `{"action":"chat message","text":7}`, chat.CodeInvalidField},
		{"text too long", `{"action":"chat message","text":"` + strings.Repeat("x", chat.MaxTextLength+1) + `"}`, chat.CodeTextTooLong},
		{"lone surrogate", `{"action":"chat message","text":"\ud800"}`, chat.CodeInvalidUTF8},
		{"invalid UTF-8", "{\"action\":\"chat message\",\"text\":\"\xff\"}", chat.CodeInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice.t = t
			alice.sendText(tt.body)
			m := alice.nextJSON()
			if m["type"] != chat.TypeError || m["code"] != tt.code {
				t.Errorf("got %v, want an error frame with code %s", m, tt.code)
			}
			if s, _ := m["message"].(string); s == "" {
				t.Errorf("error frame without a message: %v", m)
			}
		})
	}
	// Nothing reached Bob, and both can still chat.
	alice.t = t
	alice.say("still here")
	if m := bob.nextJSON(); m["text"] != "still here" {
		t.Errorf("bob got %v, want alice's message after her bad input", m)
	}
	bob.say("me too")
	if m := alice.nextJSON(); m["text"] != "me too" {
		t.Errorf("alice got %v", m)
	}
}

func TestConnectRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ name, query string }{
		{"room with capitals", "room=General"},
		{"room too long", "room=" + strings.Repeat("a", 33)},
		{"room with a slash", "room=a%2Fb"},
		{"name too long", "name=" + strings.Repeat("n", 33)},
		{"blank name", "name=%20%20"},
		{"name with a control character", "name=a%07b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			ws, resp, err := e.dial(ctx, tt.query, nil)
			if err == nil {
				ws.CloseNow()
				t.Fatal("handshake accepted, want 400")
			}
			if resp == nil || resp.StatusCode != 400 {
				t.Fatalf("got %v (%v), want status 400", resp, err)
			}
		})
	}
	// $connect ran for each, and no $disconnect follows a refusal.
	e.shutdown(t)
	if got, want := len(e.rec.all("$connect")), len(tests); got != want {
		t.Errorf("$connect ran %d times, want %d", got, want)
	}
	if got := e.rec.all("$disconnect"); len(got) != 0 {
		t.Errorf("$disconnect ran %d times after refusals, want 0", len(got))
	}
}

// TestPostRightAfterTheHandshake posts to a connection as soon as its
// client sees the handshake complete: it must be open for @connections by
// then, not reported gone.
func TestPostRightAfterTheHandshake(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		c := e.connect(t, "client"+strings.Repeat("x", i), "")
		if err := e.gw.Post(context.Background(), c.id, []byte("welcome")); err != nil {
			t.Fatalf("post right after the handshake: %v", err)
		}
		if got := string(c.next()); got != "welcome" {
			t.Fatalf("got %q", got)
		}
	}
}
