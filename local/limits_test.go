package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
)

// handshake dials and returns the HTTP status of a refused handshake (0 if
// it was accepted, and then closes the connection).
func handshake(t *testing.T, url string, header http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err == nil {
		ws.CloseNow()
		return 0
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return resp.StatusCode
}

func TestOriginCheck(t *testing.T) {
	s := start(t)
	url := "ws://" + s.addr + "/local?room=origins"
	port := s.addr[strings.LastIndex(s.addr, ":")+1:]
	tests := []struct {
		origin string
		want   int
	}{
		{"http://" + s.addr, 0},
		{"http://localhost:" + port, 0},
		{"", 0}, // not a browser: allowed by default
		{"https://evil.example", http.StatusForbidden},
		{"http://localhost:1", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if got := handshake(t, url, h); got != tt.want {
				t.Errorf("handshake from %q: status %d, want %d (0: accepted)", tt.origin, got, tt.want)
			}
		})
	}
	strict := start(t, "-allowed-origins", "https://chat.example.com", "-allow-missing-origin=false")
	url = "ws://" + strict.addr + "/local?room=origins"
	if got := handshake(t, url, nil); got != http.StatusForbidden {
		t.Errorf("no Origin with -allow-missing-origin=false: status %d, want 403", got)
	}
	if got := handshake(t, url, http.Header{"Origin": {"https://chat.example.com"}}); got != 0 {
		t.Errorf("allowed origin: status %d, want accepted", got)
	}
}

func TestRoomCap(t *testing.T) {
	s := start(t, "-room-cap", "3")
	url := "ws://" + s.addr + "/local"
	for i := range 3 {
		dial(t, url, fmt.Sprintf("m%d", i), "capped")
	}
	if got := handshake(t, url+"?room=capped&name=late", nil); got != http.StatusTooManyRequests {
		t.Errorf("fourth member: status %d, want 429", got)
	}
	if got := handshake(t, url+"?room=other&name=late", nil); got != 0 {
		t.Errorf("another room: status %d, want accepted", got)
	}
}

// TestFloodIsRateLimited: one client floods; it gets rate_limited and its
// extra messages go nowhere, while the others keep chatting and lose
// nothing.
func TestFloodIsRateLimited(t *testing.T) {
	s := start(t, "-send-burst", "5", "-send-rate", "2")
	url := "ws://" + s.addr + "/local"
	flooder := dial(t, url, "flooder", "flood")
	alice := dial(t, url, "alice", "flood")
	bob := dial(t, url, "bob", "flood")

	const flood = 200
	var limited, acked int
	var floodDone sync.WaitGroup
	floodDone.Add(1)
	go func() {
		defer floodDone.Done()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for i := range flood {
			b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": "spam", "clientMsgId": fmt.Sprintf("f%d", i)})
			if err := flooder.ws.Write(ctx, websocket.MessageText, b); err != nil {
				return
			}
		}
	}()
	// Alice and Bob talk at a human pace meanwhile: 4 messages each, 600 ms apart.
	const each = 4
	for i := range each {
		alice.send(fmt.Sprintf("a%d", i))
		bob.send(fmt.Sprintf("b%d", i))
		time.Sleep(600 * time.Millisecond)
	}
	floodDone.Wait()
	// Count what the flooder got back: one ack or one rate_limited per message.
	for limited+acked < flood {
		m := flooder.nextAny()
		switch {
		case m["type"] == chat.TypeAck:
			acked++
		case m["type"] == chat.TypeError && m["code"] == chat.CodeRateLimited:
			limited++
			if ms, _ := m["retryAfterMs"].(float64); ms <= 0 || m["clientMsgId"] == "" {
				t.Fatalf("rate_limited frame %v: want retryAfterMs > 0 and the clientMsgId", m)
			}
		}
	}
	t.Logf("flood of %d messages at once (burst 5, 2/s): %d acked, %d rate_limited; alice and bob each sent %d in the meantime", flood, acked, limited, each)
	if limited == 0 || acked < 5 || acked > 5+10 {
		t.Errorf("flooder: %d acked, %d rate_limited; want the burst of 5 (plus about 2 a second) acked, the rest limited", acked, limited)
	}
	// Alice and Bob each got every message of the other, and exactly the
	// flooder's acked ones.
	for _, c := range []struct {
		who   *chatClient
		other string
	}{{alice, "b"}, {bob, "a"}} {
		var fromOther, spam int
		for fromOther < each || spam < acked {
			m := c.who.next()
			if m["type"] != chat.TypeChatMessage {
				continue
			}
			if m["text"] == "spam" {
				spam++
			} else if strings.HasPrefix(m["text"].(string), c.other) {
				fromOther++
			}
		}
		if fromOther != each || spam != acked {
			t.Errorf("got %d of the other's %d messages and %d spam (want %d, the acked ones)", fromOther, each, spam, acked)
		}
		t.Logf("a bystander got %d of %d messages of the other, and %d flood messages (the acked ones)", fromOther, each, spam)
	}
}

// send sends a chat message with a clientMsgId (its ack comes later).
func (c *chatClient) send(text string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": text, "clientMsgId": "id-" + text})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// TestStageThrottleFromTheTemplate: the template's stage throttle, with
// parameters overridden as sam deploy takes them, applies locally.
func TestStageThrottleFromTheTemplate(t *testing.T) {
	s := start(t, "-template", "../template.yaml", "-parameter-overrides", "ThrottlingBurstLimit=2 ThrottlingRateLimit=1", "-send-burst", "0")
	url := "ws://" + s.addr + "/local"
	// $connect's bucket: 2 at once, then 429.
	a := dial(t, url, "a", "throttled")
	dial(t, url, "b", "throttled")
	if got := handshake(t, url+"?room=throttled&name=c", nil); got != http.StatusTooManyRequests {
		t.Errorf("third handshake at once: status %d, want 429", got)
	}
	// The chat message route's bucket: 2 at once; the third gets the frame.
	for i := range 3 {
		a.send(fmt.Sprint("t", i))
	}
	var acks, throttled int
	for acks+throttled < 3 {
		m := a.nextAny()
		switch {
		case m["type"] == chat.TypeAck:
			acks++
		case m["message"] == "Too Many Requests":
			throttled++
		}
	}
	if acks != 2 || throttled != 1 {
		t.Errorf("%d acked, %d throttled; want 2 and 1", acks, throttled)
	}
}
