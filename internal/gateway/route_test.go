package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/gateway"
)

// ok is an integration that answers 200.
var ok = gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return events.APIGatewayProxyResponse{StatusCode: 200}, nil
})

// frame is API Gateway's status frame.
type frame struct {
	Message      string `json:"message"`
	ConnectionID string `json:"connectionId"`
	RequestID    string `json:"requestId"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{15}=$`)

// statusFrame reads the next message as API Gateway's status frame, checking
// its exact layout.
func (c *client) statusFrame() frame {
	c.t.Helper()
	b := c.next()
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %q: %v", b, err)
	}
	want := fmt.Sprintf(`{"message": %q, "connectionId":%q, "requestId":%q}`, f.Message, c.id, f.RequestID)
	if string(b) != want {
		c.t.Errorf("frame %s, want %s", b, want)
	}
	if !idPattern.MatchString(f.RequestID) {
		c.t.Errorf("requestId %q does not look like API Gateway's", f.RequestID)
	}
	return f
}

func TestNoRouteAndNoDefaultIsForbidden(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		delete(c.Routes, gateway.RouteDefault)
	})
	alice := e.connect(t, "alice", "")
	bob := e.connect(t, "bob", "")
	// Route selection matches the key "action" exactly, as API Gateway's
	// $request.body.action does: other casings match no route.
	for _, body := range []string{"not json", `{"action":"dance"}`, `{"action":"$default"}`, `{"text":"no action"}`,
		`{"ACTION":"chat message","TEXT":"x"}`, `{"Action":"chat message","text":"x"}`} {
		alice.sendText(body)
		if f := alice.statusFrame(); f.Message != "Forbidden" {
			t.Errorf("%s: got %q, want Forbidden", body, f.Message)
		}
	}
	// The connection lives on and a matching route still works.
	alice.say("still routed")
	if m := bob.nextJSON(); m["text"] != "still routed" {
		t.Errorf("bob got %v", m)
	}
	if got := e.rec.all(gateway.RouteDefault); len(got) != 0 {
		t.Errorf("$default ran %d times without a route", len(got))
	}
}

func TestIntegrationFailureIsInternalServerError(t *testing.T) {
	failing := map[string]gateway.Integration{
		"error": gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, errors.New("boom")
		}),
		"panic": gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			panic("integration bug")
		}),
		"timeout": gateway.IntegrationFunc(func(ctx context.Context, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-ctx.Done() // never answers in time
			time.Sleep(50 * time.Millisecond)
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}),
		// A 500 response is not a failure: the route has no route
		// response, so nothing is sent back.
		"status500": gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 500, Body: "not sent"}, nil
		}),
	}
	e := newEnv(t, func(c *gateway.Config) {
		for k, v := range failing {
			c.Routes[k] = v
		}
		c.Limits.IntegrationTimeout = 300 * time.Millisecond
	})
	alice := e.connect(t, "alice", "")
	for _, action := range []string{"error", "panic", "timeout"} {
		t.Run(action, func(t *testing.T) {
			alice.t = t
			alice.sendText(`{"action":"` + action + `"}`)
			f := alice.statusFrame()
			if f.Message != "Internal server error" {
				t.Errorf("got %q, want Internal server error", f.Message)
			}
			ev := e.rec.waitFor(t, action, nil)
			if f.RequestID != ev.RequestContext.RequestID {
				t.Errorf("frame requestId %s, event's %s", f.RequestID, ev.RequestContext.RequestID)
			}
		})
	}
	alice.t = t
	// status500 sends nothing: the next frame alice sees is the answer to
	// her following bad input.
	alice.sendText(`{"action":"status500"}`)
	alice.sendText(`not json`)
	if m := alice.nextJSON(); m["code"] != chat.CodeInvalidJSON {
		t.Errorf("got %v, want the invalid_json error frame (nothing for status500)", m)
	}
}

func TestConnectFailures(t *testing.T) {
	tests := []struct {
		name     string
		connect  gateway.Integration
		status   int
		bodyPart string
	}{
		{"error", gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, errors.New("boom")
		}), 500, "Internal server error"},
		{"panic", gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			panic("bug")
		}), 500, "Internal server error"},
		{"timeout", gateway.IntegrationFunc(func(ctx context.Context, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			<-ctx.Done()
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}), 500, "Internal server error"},
		{"403", gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 403, Body: "go away"}, nil
		}), 403, "go away"},
		{"302", gateway.IntegrationFunc(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 302}, nil
		}), 302, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) {
				c.Routes[gateway.RouteConnect] = tt.connect
				c.Limits.IntegrationTimeout = 300 * time.Millisecond
			})
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			ws, resp, err := e.dial(ctx, "", nil)
			if err == nil {
				ws.CloseNow()
				t.Fatal("handshake accepted")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("got %v (%v), want status %d", resp, err, tt.status)
			}
			var body strings.Builder
			if resp.Body != nil {
				buf := make([]byte, 512)
				n, _ := resp.Body.Read(buf)
				body.Write(buf[:n])
			}
			if !strings.Contains(body.String(), tt.bodyPart) {
				t.Errorf("body %q, want it to contain %q", body.String(), tt.bodyPart)
			}
			e.shutdown(t)
			if n := len(e.rec.all(gateway.RouteDisconnect)); n != 0 {
				t.Errorf("$disconnect ran %d times for a refused connection", n)
			}
		})
	}
}

func TestNoConnectRouteAccepts(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Routes = map[string]gateway.Integration{"echo": ok}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := e.dial(ctx, "", nil)
	if err != nil {
		t.Fatalf("dial without a $connect route: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"echo"}`)); err != nil {
		t.Fatal(err)
	}
	e.rec.waitFor(t, "echo", nil)
}

func TestNonWebSocketRequestsNeverRunConnect(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/test", "/test?room=x"} {
		resp, err := e.srv.Client().Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("GET %s without upgrade: status %d, want an error", path, resp.StatusCode)
		}
	}
	resp, err := e.srv.Client().Get(e.srv.URL + "/otherstage")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("unknown stage: status %d, want 403", resp.StatusCode)
	}
	if n := len(e.rec.all(gateway.RouteConnect)); n != 0 {
		t.Errorf("$connect ran %d times for plain HTTP requests", n)
	}
}
