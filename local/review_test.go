package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/testenv"
)

// buildReviewFunction builds the example review function's bootstrap.
func buildReviewFunction(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-o", bin, "./functions/review")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the review function: %v\n%s", err, out)
	}
	return bin
}

// TestReviewFunction runs the example review function as a real bootstrap
// under the built-in Runtime API: a message is allowed, refused (the
// reason to its author alone) or rewritten (the others get the rewrite,
// the author's ack says what was published); a review that misses its
// deadline falls back to allow, or to deny.
func TestReviewFunction(t *testing.T) {
	bootstrap := buildReviewFunction(t)
	s := start(t, "-review", bootstrap, "-review-env", "MASK_WORDS=darn", "-review-env", "DENY_WORDS=spam",
		"-review-timeout", "10s", "-send-burst", "0")
	url := "ws://" + s.addr + "/local"
	ann := dial(t, url, "ann", "review")
	bob := dial(t, url, "bob", "review")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	send := func(c *chatClient, text, cid string) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": text, "clientMsgId": cid})
		if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	// Allowed.
	send(ann, "hello there", "a1")
	if got := ann.next(); got["type"] != "ack" || got["text"] != nil {
		t.Errorf("ann got %v, want a plain ack", got)
	}
	if got := bob.next(); got["text"] != "hello there" {
		t.Errorf("bob got %v", got)
	}
	// Rewritten: the others see the masked text; the ack says so.
	send(ann, "darn it", "a2")
	if got := ann.next(); got["type"] != "ack" || got["text"] != "**** it" {
		t.Errorf("ann got %v, want the ack with the published text", got)
	}
	if got := bob.next(); got["text"] != "**** it" {
		t.Errorf("bob got %v, want the rewrite", got)
	}
	// Refused: the reason to the author alone, nothing stored.
	send(ann, "buy spam now", "a3")
	if got := ann.next(); got["code"] != chat.CodeDenied || got["clientMsgId"] != "a3" || got["message"] == "" {
		t.Errorf("ann got %v, want denied with its reason", got)
	}
	send(ann, "still here", "a4")
	ann.next()
	if got := bob.next(); got["text"] != "still here" {
		t.Errorf("bob got %v after the refused message, want the next one: a refusal reaches the author alone", got)
	}

	// The hook's latency: messages sent one after another, each waited
	// for, with and without the review (BENCHMARKS.md).
	plain := start(t, "-send-burst", "0")
	t.Logf("round trip to the ack, 50 messages: without review %s; with the review bootstrap %s",
		ackLatency(t, "ws://"+plain.addr+"/local"), ackLatency(t, url))
}

// TestReviewTimeoutFallback: a review that cannot answer within its
// deadline lets the message through by default, and refuses it with
// review_unavailable when the fallback is deny.
func TestReviewTimeoutFallback(t *testing.T) {
	bootstrap := buildReviewFunction(t)
	for _, fallback := range []string{"allow", "deny"} {
		t.Run(fallback, func(t *testing.T) {
			// 1 ns: the deadline has passed before the function is asked.
			s := start(t, "-review", bootstrap, "-review-timeout", "1ns", "-review-fallback", fallback)
			ann := dial(t, "ws://"+s.addr+"/local", "ann", "review")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := ann.ws.Write(ctx, websocket.MessageText, []byte(`{"action":"chat message","text":"hi","clientMsgId":"t1"}`)); err != nil {
				t.Fatal(err)
			}
			got := ann.nextAny()
			switch fallback {
			case "allow":
				if got["type"] != "ack" {
					t.Errorf("ann got %v, want the message published", got)
				}
			case "deny":
				if got["code"] != chat.CodeReviewUnavailable {
					t.Errorf("ann got %v, want review_unavailable", got)
				}
			}
			if !strings.Contains(s.log.String(), "message review failed") {
				t.Errorf("the fallback was not logged")
			}
		})
	}
}

// ackLatency returns the median and slowest of 50 sequential round trips
// from a message to its ack.
func ackLatency(t *testing.T, url string) string {
	t.Helper()
	c := dial(t, url, "timer", "review-latency")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var took []time.Duration
	for i := range 50 {
		start := time.Now()
		b := fmt.Appendf(nil, `{"action":"chat message","text":"tick %d","clientMsgId":"l%d"}`, i, i)
		if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		if got := c.nextAny(); got["type"] != "ack" {
			t.Fatalf("got %v, want an ack", got)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return fmt.Sprintf("p50 %v, max %v", took[len(took)/2].Round(10*time.Microsecond), took[len(took)-1].Round(10*time.Microsecond))
}

// reviewScenario checks the example review function's three answers
// (allow, rewrite, deny) through whatever runs the message function.
func reviewScenario(t *testing.T, url, room string) {
	t.Helper()
	ann := dial(t, url, "ann", room)
	bob := dial(t, url, "bob", room)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, tt := range []struct{ text, wantAck, wantBob string }{
		{"fine words", "", "fine words"},
		{"darn it", "**** it", "**** it"},
		{"buy spam", chat.CodeDenied, ""},
	} {
		b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": tt.text, "clientMsgId": "rv" + fmt.Sprint(len(tt.text))})
		if err := ann.ws.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		got := ann.next()
		switch {
		case tt.wantAck == chat.CodeDenied:
			if got["code"] != chat.CodeDenied {
				t.Errorf("%q: ann got %v, want denied", tt.text, got)
			}
			continue
		case got["type"] != "ack" || (tt.wantAck != "" && got["text"] != tt.wantAck):
			t.Errorf("%q: ann got %v, want an ack (text %q)", tt.text, got, tt.wantAck)
		}
		if got := bob.next(); got["text"] != tt.wantBob {
			t.Errorf("%q: bob got %v, want %q", tt.text, got, tt.wantBob)
		}
	}
}
