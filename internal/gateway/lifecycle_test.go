package gateway_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/gateway"
)

func TestDisconnectRunsExactlyOnce(t *testing.T) {
	tests := []struct {
		name   string
		config func(*gateway.Config)
		end    func(t *testing.T, e *env, c *client)
		code   int64
	}{
		{"client close", nil, func(t *testing.T, e *env, c *client) {
			_ = c.ws.Close(websocket.StatusNormalClosure, "bye")
		}, 1000},
		{"client going away", nil, func(t *testing.T, e *env, c *client) {
			_ = c.ws.Close(websocket.StatusGoingAway, "")
		}, 1001},
		{"client close without status", nil, func(t *testing.T, e *env, c *client) {
			_ = c.ws.Close(websocket.StatusNoStatusRcvd, "")
		}, 1005},
		{"dropped TCP", nil, func(t *testing.T, e *env, c *client) {
			_ = c.ws.CloseNow()
		}, 1006},
		{"DELETE @connections", nil, func(t *testing.T, e *env, c *client) {
			req, _ := http.NewRequest(http.MethodDelete, e.api+"/@connections/"+url.PathEscape(c.id), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 204 {
				t.Fatalf("DELETE: %d, want 204", resp.StatusCode)
			}
			if got := c.closed(); got != websocket.StatusNormalClosure {
				t.Errorf("client saw %v, want 1000", got)
			}
		}, 1000},
		{"idle timeout", func(c *gateway.Config) { c.Limits.IdleTimeout = 200 * time.Millisecond }, func(t *testing.T, e *env, c *client) {
			c.closed()
		}, 1001},
		{"duration limit", func(c *gateway.Config) { c.Limits.MaxDuration = 200 * time.Millisecond }, func(t *testing.T, e *env, c *client) {
			c.closed()
		}, 1001},
		{"shutdown", nil, func(t *testing.T, e *env, c *client) {
			closed := c.drain()
			e.shutdown(t)
			if got := <-closed; got != websocket.StatusGoingAway {
				t.Errorf("client saw %v, want 1001", got)
			}
		}, 1001},
		{"binary frame", nil, func(t *testing.T, e *env, c *client) {
			_ = c.ws.Write(context.Background(), websocket.MessageBinary, []byte{1})
			c.closed()
		}, 1003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg []func(*gateway.Config)
			if tt.config != nil {
				cfg = append(cfg, tt.config)
			}
			e := newEnv(t, cfg...)
			c := e.connect(t, "alice", "")
			other := e.connect(t, "bob", "")
			other.drain()
			tt.end(t, e, c)
			ev := e.disconnectOf(t, c.id)
			if got := ev.RequestContext.DisconnectStatusCode; got != tt.code {
				t.Errorf("disconnectStatusCode %d, want %d", got, tt.code)
			}
			if ev.RequestContext.DisconnectReason == nil {
				t.Error("disconnectReason missing")
			}
			// The store forgot alice: bob's message reaches no one, and a
			// post to her is gone.
			if tt.name != "shutdown" && tt.name != "idle timeout" && tt.name != "duration limit" {
				other.say("anyone?")
			}
			e.shutdown(t) // every $disconnect has run after this
			if n := len(e.rec.disconnectsOf(c.id)); n != 1 {
				t.Errorf("$disconnect ran %d times, want 1", n)
			}
			if n := len(e.rec.disconnectsOf(other.id)); n != 1 {
				t.Errorf("bob's $disconnect ran %d times, want 1", n)
			}
			if _, err := e.store.Get(context.Background(), c.id); err == nil {
				t.Error("the store still has the connection")
			}
		})
	}
}

func TestShutdownRefusesNewConnections(t *testing.T) {
	e := newEnv(t)
	c := e.connect(t, "alice", "")
	closed := c.drain()
	e.shutdown(t)
	if got := <-closed; got != websocket.StatusGoingAway {
		t.Errorf("closed with %v, want 1001", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := e.dial(ctx, "", nil)
	if err == nil {
		ws.CloseNow()
		t.Fatal("connected after shutdown")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("got %v, want 503", resp)
	}
}

// handshake sends a raw WebSocket handshake and returns the response.
func handshake(t *testing.T, e *env, protocols string) *http.Response {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET /test HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if protocols != "" {
		req += "Sec-WebSocket-Protocol: " + protocols + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestSubprotocol(t *testing.T) {
	withProtocol := func(p string) gateway.Integration {
		return gateway.IntegrationFunc(func(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			resp := events.APIGatewayProxyResponse{StatusCode: 200}
			if p != "" && strings.Contains(req.Headers["Sec-WebSocket-Protocol"], p) {
				resp.Headers = map[string]string{"Sec-WebSocket-Protocol": p}
			}
			return resp, nil
		})
	}
	tests := []struct {
		name      string
		connect   gateway.Integration // nil: no $connect route
		requested string
		want      string
	}{
		{"echoed when $connect returns it", withProtocol("chat.v1"), "chat.v2, chat.v1", "chat.v1"},
		{"not echoed when $connect does not return it", withProtocol(""), "chat.v1", ""},
		{"not echoed without a $connect route", nil, "chat.v1", ""},
		{"none asked, none sent", withProtocol("chat.v1"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) {
				c.Routes = map[string]gateway.Integration{}
				if tt.connect != nil {
					c.Routes[gateway.RouteConnect] = tt.connect
				}
			})
			resp := handshake(t, e, tt.requested)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tt.want)
			}
		})
	}
	// With a real client: the negotiated protocol is $connect's.
	e := newEnv(t, func(c *gateway.Config) {
		c.Routes = map[string]gateway.Integration{gateway.RouteConnect: withProtocol("chat.v1")}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := e.dial(ctx, "", &websocket.DialOptions{Subprotocols: []string{"chat.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if got := ws.Subprotocol(); got != "chat.v1" {
		t.Errorf("negotiated %q, want chat.v1", got)
	}
}
