package gateway

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/memstore"
)

// posts is a chat.Sender that keeps what it is given.
type posts struct {
	mu  sync.Mutex
	got map[string][][]byte
}

func (p *posts) Post(_ context.Context, id string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got[id] = append(p.got[id], data)
	return nil
}

// FuzzRoute feeds arbitrary message bodies through route selection, event
// building and the chat's real handlers: nothing panics, "$connect" and
// "$disconnect" are never message routes, the selected route is the one the
// body's action names, and the sender gets at most one frame: an error
// frame, or nothing when its message was broadcast.
func FuzzRoute(f *testing.F) {
	for _, seed := range []string{
		`{"action":"chat message","text":"hello"}`,
		`{"action":"chat message","text":""}`,
		`{"action":"$connect"}`, `{"action":"$disconnect"}`, `{"action":"$default"}`,
		`{"action":42}`, `{"action":null}`, `{"action":["chat message"]}`,
		`{"action":"chat message","action":"other"}`,
		`{"action":"chat\u0020message","text":"escaped"}`,
		`{"action":"chat message","text":"\ud800"}`,
		"{\"action\":\"chat message\",\"text\":\"\xff\"}",
		``, `null`, `[]`, `"chat message"`, `{`, `{}`, "\x00", strings.Repeat("[", 10000),
	} {
		f.Add([]byte(seed))
	}
	store := memstore.New()
	sender := &posts{got: map[string][][]byte{}}
	h := &handler.Handler{
		Store: store,
		// Floods are the point here; the send limit is tested in internal/chat.
		SendLimit: chat.RateLimit{Burst: -1},
		Senders:   func(*events.APIGatewayWebsocketProxyRequest) chat.Sender { return sender },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	g, err := New(Config{Stage: "fuzz", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Routes: map[string]Integration{
		RouteDefault:           IntegrationFunc(h.Default),
		chat.ActionChatMessage: IntegrationFunc(h.Message),
	}})
	if err != nil {
		f.Fatal(err)
	}
	c := &conn{g: g, id: "fuzzConnection=", connectedAt: time.Now(), sourceIP: "127.0.0.1", domain: "localhost"}
	if err := store.Put(context.Background(), chat.Connection{ID: c.id, Room: "fuzz", Name: "fuzzer"}); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		route := g.selectRoute(body)
		if route == RouteConnect || route == RouteDisconnect {
			t.Fatalf("body %q routed to %s", body, route)
		}
		var doc map[string]any
		if json.Unmarshal(body, &doc) == nil {
			if action, ok := doc["action"].(string); ok && action == chat.ActionChatMessage && route != chat.ActionChatMessage {
				t.Fatalf("body %q with action %q routed to %q", body, action, route)
			}
		}
		req := g.messageEvent(c, route, body, time.Now())
		if req.Body != string(body) || req.RequestContext.EventType != "MESSAGE" || req.RequestContext.MessageID == nil {
			t.Fatalf("bad event for %q: %+v", body, req)
		}
		if _, err := json.Marshal(req); err != nil {
			t.Fatalf("event for %q does not encode: %v", body, err)
		}
		resp, err := g.invoke(context.Background(), g.routes[route], req)
		if err != nil {
			t.Fatalf("integration failed for %q: %v", body, err)
		}
		sender.mu.Lock()
		frames := sender.got[c.id]
		delete(sender.got, c.id)
		sender.mu.Unlock()
		switch {
		case resp.StatusCode == 200 && len(frames) != 0:
			t.Fatalf("accepted %q but answered the sender %q", body, frames)
		case resp.StatusCode != 200 && len(frames) != 1:
			t.Fatalf("refused %q with %d frames to the sender, want 1", body, len(frames))
		}
		for _, fr := range frames {
			var ef chat.ErrorFrame
			if json.Unmarshal(fr, &ef) != nil || ef.Type != chat.TypeError || ef.Code == "" {
				t.Fatalf("frame %q for %q is not an error frame", fr, body)
			}
		}
	})
}

// FuzzFrameSniffer checks that the frame parser never panics and reaches
// the same verdict however the byte stream is split into reads.
func FuzzFrameSniffer(f *testing.F) {
	f.Add(clientFrame(opText, true, []byte("hello")), uint16(3), int64(32))
	f.Add(append(clientFrame(opText, false, make([]byte, 40)), clientFrame(opContinuation, true, make([]byte, 300))...), uint16(7), int64(64))
	f.Add(clientFrame(opBinary, true, make([]byte, 70000)), uint16(1000), int64(32768))
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, uint16(2), int64(10)) // 64-bit length with the top bit set
	f.Add([]byte{0x89, 0x80, 1, 2, 3, 4, 0x81, 0x7e, 0xff, 0xff}, uint16(5), int64(100))
	f.Fuzz(func(t *testing.T, stream []byte, split uint16, maxFrame int64) {
		if maxFrame < 0 {
			maxFrame = -maxFrame
		}
		whole := newFrameSniffer(maxFrame)
		whole.observe(stream)
		parts := newFrameSniffer(maxFrame)
		step := int(split)%64 + 1
		for i := 0; i < len(stream); i += step {
			parts.observe(stream[i:min(i+step, len(stream))])
		}
		if whole.messages != parts.messages || whole.oversizedAt.Load() != parts.oversizedAt.Load() {
			t.Fatalf("whole stream: %d messages, oversized at %d; in %d-byte reads: %d, %d",
				whole.messages, whole.oversizedAt.Load(), step, parts.messages, parts.oversizedAt.Load())
		}
		if at := whole.oversizedAt.Load(); at < 0 || at > whole.messages {
			t.Fatalf("oversized at message %d of %d", at, whole.messages)
		}
	})
}

// clientFrame encodes a masked client frame (mask key 0).
func clientFrame(opcode byte, fin bool, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	var hdr []byte
	switch n := len(payload); {
	case n < 126:
		hdr = []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		hdr = []byte{b0, 0x80 | 126, 0, 0}
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
	default:
		hdr = make([]byte, 10)
		hdr[0], hdr[1] = b0, 0x80|127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	}
	hdr = append(hdr, 0, 0, 0, 0)
	return append(hdr, payload...)
}

// FuzzConnection writes arbitrary bytes to a real connection right after
// the handshake, as a broken or hostile client would: the gateway must
// survive, end the connection at some point, run $disconnect once, and go
// on serving others.
func FuzzConnection(f *testing.F) {
	f.Add(clientFrame(opText, true, []byte(`{"action":"chat message","text":"hi"}`)))
	f.Add(clientFrame(opBinary, true, []byte{1, 2, 3}))
	f.Add(clientFrame(opText, true, []byte("\xff\xfe")))
	f.Add(append(clientFrame(opText, false, []byte(`{"action":`)), clientFrame(opContinuation, true, []byte(`"x"}`))...))
	f.Add(clientFrame(opContinuation, true, []byte("orphan")))
	f.Add(clientFrame(0x9, true, []byte("ping")))
	f.Add(clientFrame(0x8, true, []byte{0x03, 0xe8, 'b', 'y', 'e'}))
	f.Add(clientFrame(0x8, true, []byte{0x00}))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) // unmasked
	f.Add([]byte{0xf1, 0x80, 0, 0, 0, 0})              // reserved bits
	f.Add(clientFrame(opText, true, make([]byte, 40000)))

	var mu sync.Mutex
	disconnects := map[string]int{}
	record := IntegrationFunc(func(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		mu.Lock()
		disconnects[req.RequestContext.ConnectionID]++
		mu.Unlock()
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	})
	echo := IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	})
	g, err := New(Config{Stage: "fuzz", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: Limits{IdleTimeout: 2 * time.Second},
		Routes: map[string]Integration{RouteDisconnect: record, RouteDefault: echo}})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	f.Fuzz(func(t *testing.T, garbage []byte) {
		conn, br := rawHandshake(t, addr, "/fuzz", 10*time.Second)
		defer conn.Close()
		_, _ = conn.Write(garbage)
		// Whatever the server answers, the connection must end: either the
		// server closes it, or the client does now.
		_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = io.Copy(io.Discard, br)
	})

	// Every connection gets exactly one $disconnect once the gateway stops.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		f.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range disconnects {
		if n != 1 {
			f.Errorf("connection %s: $disconnect ran %d times", id, n)
		}
	}
}
