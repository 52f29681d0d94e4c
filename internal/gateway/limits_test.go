package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/gateway"
)

// disconnectOf waits for the connection's $disconnect and returns it.
func (e *env) disconnectOf(t testing.TB, id string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	return e.rec.waitFor(t, gateway.RouteDisconnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.RequestContext.ConnectionID == id
	})
}

func TestLimitsClose(t *testing.T) {
	big := func(n int) string {
		return `{"action":"chat message","text":"` + strings.Repeat("x", n) + `"}`
	}
	tests := []struct {
		name string
		send func(ctx context.Context, ws *websocket.Conn) error
		code websocket.StatusCode
	}{
		{"binary message", func(ctx context.Context, ws *websocket.Conn) error {
			return ws.Write(ctx, websocket.MessageBinary, []byte(`{"action":"chat message","text":"hi"}`))
		}, websocket.StatusUnsupportedData},
		{"message over 128 KB", func(ctx context.Context, ws *websocket.Conn) error {
			return writeFragmented(ctx, ws, []byte(big(gateway.DefaultMaxMessageSize)), 16*1024)
		}, websocket.StatusMessageTooBig},
		{"one frame over 32 KB", func(ctx context.Context, ws *websocket.Conn) error {
			return ws.Write(ctx, websocket.MessageText, []byte(big(gateway.DefaultMaxFrameSize)))
		}, websocket.StatusMessageTooBig},
		{"oversized frame inside a fragmented message", func(ctx context.Context, ws *websocket.Conn) error {
			w, err := ws.Writer(ctx, websocket.MessageText)
			if err != nil {
				return err
			}
			msg := []byte(big(60 * 1024))
			if _, err := w.Write(msg[:1000]); err != nil {
				return err
			}
			if _, err := w.Write(msg[1000:]); err != nil { // 59 KB in one frame
				return err
			}
			return w.Close()
		}, websocket.StatusMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.connect(t, "alice", "")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			// The server may close before the client has written everything.
			if err := tt.send(ctx, c.ws); err != nil {
				t.Logf("send: %v", err)
			}
			if got := c.closed(); got != tt.code {
				t.Errorf("closed with %v, want %v", got, tt.code)
			}
			ev := e.disconnectOf(t, c.id)
			if got := ev.RequestContext.DisconnectStatusCode; got != int64(tt.code) {
				t.Errorf("disconnectStatusCode %d, want %d", got, tt.code)
			}
			if n := len(e.rec.all(gateway.RouteDefault)) + len(e.rec.all("chat message")); n != 0 {
				t.Errorf("the refused message reached %d integrations", n)
			}
		})
	}
}

// writeFragmented sends msg as one text message in frames of frameSize.
func writeFragmented(ctx context.Context, ws *websocket.Conn, msg []byte, frameSize int) error {
	w, err := ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for len(msg) > 0 {
		n := min(len(msg), frameSize)
		if _, err := w.Write(msg[:n]); err != nil {
			return err
		}
		msg = msg[n:]
	}
	return w.Close()
}

func TestFragmentedMessageUnderTheLimitsIsReassembled(t *testing.T) {
	var got = make(chan string, 1)
	e := newEnv(t, func(c *gateway.Config) {
		c.Routes["big"] = gateway.IntegrationFunc(func(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			got <- req.Body
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		})
	})
	c := e.connect(t, "alice", "")
	// 120 KB in frames of exactly 32 KB: allowed.
	msg := `{"action":"big","pad":"` + strings.Repeat("y", 120*1024) + `"}`
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := writeFragmented(ctx, c.ws, []byte(msg), gateway.DefaultMaxFrameSize); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		if body != msg {
			t.Errorf("body of %d bytes, want the %d sent", len(body), len(msg))
		}
	case <-ctx.Done():
		t.Fatal("the message never reached its route")
	}
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Limits.IdleTimeout = 300 * time.Millisecond })
	c := e.connect(t, "alice", "")
	if got := c.closed(); got != websocket.StatusGoingAway {
		t.Errorf("closed with %v, want 1001", got)
	}
	if got := e.disconnectOf(t, c.id).RequestContext.DisconnectStatusCode; got != 1001 {
		t.Errorf("disconnectStatusCode %d, want 1001", got)
	}
}

func TestMaxDuration(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Limits.MaxDuration = 500 * time.Millisecond })
	c := e.connect(t, "alice", "")
	// Keep talking: the duration limit closes even an active connection.
	done := make(chan websocket.StatusCode, 1)
	go func() { done <- c.closed() }()
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case got := <-done:
			if got != websocket.StatusGoingAway {
				t.Errorf("closed with %v, want 1001", got)
			}
			if got := e.disconnectOf(t, c.id).RequestContext.DisconnectStatusCode; got != 1001 {
				t.Errorf("disconnectStatusCode %d, want 1001", got)
			}
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = c.ws.Write(ctx, websocket.MessageText, []byte("keep alive"))
			cancel()
		}
	}
}

func TestLargePostsAreFramedAt32KB(t *testing.T) {
	e := newEnv(t)
	c := e.connect(t, "alice", "")
	msg := strings.Repeat("z", 100*1024)
	if err := e.gw.Post(context.Background(), c.id, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if got := string(c.next()); got != msg {
		t.Errorf("got %d bytes, want %d", len(got), len(msg))
	}
}
