package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/gateway"
)

// testAuthorizer decides by the token: "alice" is allowed with a context,
// "deny" is denied, "other-route" is allowed on another route's ARN only,
// "boom" fails, "unauthorized" returns the error Unauthorized.
func testAuthorizer(calls *atomic.Int64, seen *atomic.Value) gateway.InProcessAuthorizer {
	return func(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		calls.Add(1)
		seen.Store(req)
		allow := func(resource string) events.APIGatewayCustomAuthorizerResponse {
			return events.APIGatewayCustomAuthorizerResponse{
				PrincipalID: "user-alice",
				PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
					{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{resource}},
				}},
				Context: map[string]any{"sub": "user-alice", "name": "Alice", "admin": false},
			}
		}
		switch req.QueryStringParameters["token"] {
		case "alice":
			return allow(req.MethodArn), nil
		case "wildcard":
			// A policy for every route of every stage of the API.
			arn := req.MethodArn[:strings.LastIndex(req.MethodArn, "/"+req.RequestContext.Stage+"/")]
			return allow(arn + "/*"), nil
		case "other-route":
			return allow(strings.TrimSuffix(req.MethodArn, "$connect") + "chat message"), nil
		case "deny":
			r := allow(req.MethodArn)
			r.PolicyDocument.Statement[0].Effect = "Deny"
			return r, nil
		case "unauthorized":
			return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
		}
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("boom")
	}
}

func TestAuthorizer(t *testing.T) {
	var calls atomic.Int64
	var seen atomic.Value
	e := newEnv(t, func(c *gateway.Config) {
		c.Authorizer = &gateway.Authorizer{
			IdentitySource: []string{"route.request.querystring.token"},
			Function:       testAuthorizer(&calls, &seen),
		}
		c.Region = "eu-west-1"
	})
	tests := []struct {
		name, query string
		want        int // 0: accepted
		wantCall    bool
	}{
		{"no token: 401 without calling the authorizer", "room=r", http.StatusUnauthorized, false},
		{"empty token counts as missing", "room=r&token=", http.StatusUnauthorized, false},
		{"allowed", "room=r&token=alice", 0, true},
		{"allowed by a wildcard", "room=r&token=wildcard", 0, true},
		{"denied", "room=r&token=deny", http.StatusForbidden, true},
		{"allowed elsewhere only", "room=r&token=other-route", http.StatusForbidden, true},
		{"Unauthorized error", "room=r&token=unauthorized", http.StatusUnauthorized, true},
		{"authorizer failure", "room=r&token=boom", http.StatusInternalServerError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			ws, resp, err := e.dial(ctx, tt.query, nil)
			got := 0
			if err != nil {
				if resp == nil {
					t.Fatal(err)
				}
				got = resp.StatusCode
			} else {
				ws.CloseNow()
			}
			if got != tt.want {
				t.Errorf("handshake: %d, want %d", got, tt.want)
			}
			if called := calls.Load() > before; called != tt.wantCall {
				t.Errorf("authorizer called: %v, want %v", called, tt.wantCall)
			}
		})
	}
	req := seen.Load().(events.APIGatewayCustomAuthorizerRequestTypeRequest)
	wantArn := "arn:aws:execute-api:eu-west-1:123456789012:" + e.gw.APIID() + "/test/$connect"
	if req.Type != "REQUEST" || req.MethodArn != wantArn {
		t.Errorf("authorizer event: type %q, methodArn %q; want REQUEST, %s", req.Type, req.MethodArn, wantArn)
	}

	// The context reaches $connect and every later event.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := e.dial(ctx, "room=r&token=alice&name=ctx", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, ws: ws}
	connect := e.rec.waitFor(t, gateway.RouteConnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.QueryStringParameters["name"] == "ctx"
	})
	if a := seen.Load().(events.APIGatewayCustomAuthorizerRequestTypeRequest); a.RequestContext.RequestID != connect.RequestContext.RequestID {
		t.Errorf("authorizer requestId %q, $connect's %q: one handshake is one request", a.RequestContext.RequestID, connect.RequestContext.RequestID)
	}
	c.say("hello")
	msg := e.rec.waitFor(t, chat.ActionChatMessage, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.RequestContext.ConnectionID == connect.RequestContext.ConnectionID
	})
	ws.Close(1000, "")
	disc := e.rec.waitFor(t, gateway.RouteDisconnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.RequestContext.ConnectionID == connect.RequestContext.ConnectionID
	})
	for _, ev := range []events.APIGatewayWebsocketProxyRequest{connect, msg, disc} {
		a, ok := ev.RequestContext.Authorizer.(map[string]any)
		if !ok || a["principalId"] != "user-alice" || a["sub"] != "user-alice" || a["name"] != "Alice" || a["admin"] != false {
			t.Errorf("%s: requestContext.authorizer = %#v, want principalId and the context", ev.RequestContext.RouteKey, ev.RequestContext.Authorizer)
		}
	}
}

func TestStageThrottling(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Throttle = &gateway.Throttle{RateLimit: 1, BurstLimit: 3}
		// The chat message route may take more than the stage default.
		c.RouteThrottles = map[string]gateway.Throttle{chat.ActionChatMessage: {RateLimit: 0.001, BurstLimit: 5}}
	})
	// Handshakes: a burst of 3 on $connect, then 429.
	var accepted, throttled int
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		ws, resp, err := e.dial(ctx, "room=t", nil)
		cancel()
		switch {
		case err == nil:
			accepted++
			defer ws.CloseNow()
		case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatal(err)
		}
	}
	if accepted != 3 || throttled != 2 {
		t.Errorf("handshakes: %d accepted, %d got 429; want 3 and 2", accepted, throttled)
	}
	time.Sleep(1100 * time.Millisecond) // one token back
	sender := e.connect(t, "sender", "t")
	// Messages: the route's burst of 5, then the Too Many Requests frame.
	for range 7 {
		sender.sendText(`{"action":"who"}`)
	}
	var frames, tooMany int
	for frames < 7 {
		m := sender.nextJSON()
		if m["message"] == "Too Many Requests" {
			tooMany++
			if m["connectionId"] != sender.id || m["requestId"] == "" {
				t.Errorf("throttle frame %v lacks connectionId or requestId", m)
			}
		}
		if m["type"] == chat.TypeMembers || m["message"] != nil {
			frames++
		}
	}
	if tooMany != 4 {
		t.Errorf("%d Too Many Requests frames for 7 who on the stage's burst of 3, want 4", tooMany)
	}
	// chat message has its own bucket (RouteSettings), of 5: its 6th is throttled.
	for i := range 6 {
		sender.sendText(fmt.Sprintf(`{"action":"chat message","text":"m%d","clientMsgId":"m%d"}`, i, i)) // acked
	}
	tooMany = 0
	for range 6 {
		if m := sender.nextJSON(); m["message"] == "Too Many Requests" {
			tooMany++
		}
	}
	if tooMany != 1 {
		t.Errorf("%d of 6 chat messages throttled on the route's burst of 5, want 1", tooMany)
	}
}
