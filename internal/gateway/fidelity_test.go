package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/serverless-chat/chat/internal/gateway"
)

// invokeFunc is a Lambda Invoke API whose function answers with the
// payload f returns for the event.
type invokeFunc func(event []byte) []byte

func (f invokeFunc) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	return &lambda.InvokeOutput{StatusCode: 200, Payload: f(in.Payload)}, nil
}

// TestAuthorizerPolicyStrings: IAM takes Action and Resource (and
// Statement) as one value or a list; AWS's authorizer examples return
// "Action": "execute-api:Invoke". Each form is a valid policy.
func TestAuthorizerPolicyStrings(t *testing.T) {
	policies := map[string]string{
		"strings":       `{"principalId":"me","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"%s"}]}}`,
		"lists":         `{"principalId":"me","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":["execute-api:Invoke"],"Effect":"Allow","Resource":["%s"]}]}}`,
		"one statement": `{"principalId":"me","policyDocument":{"Version":"2012-10-17","Statement":{"Action":"execute-api:*","Effect":"Allow","Resource":"%s"}}}`,
		"deny string":   `{"principalId":"me","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Deny","Resource":"%s"}]}}`,
	}
	want := map[string]int{"strings": 0, "lists": 0, "one statement": 0, "deny string": http.StatusForbidden}
	for name, policy := range policies {
		t.Run(name, func(t *testing.T) {
			fn := invokeFunc(func(event []byte) []byte {
				var req gateway.AuthorizerRequest
				_ = json.Unmarshal(event, &req)
				b, _ := json.Marshal(req.MethodArn)
				return []byte(replaceOnce(policy, string(b[1:len(b)-1])))
			})
			e := newEnv(t, func(c *gateway.Config) {
				c.Authorizer = &gateway.Authorizer{Function: gateway.NewLambda(fn, "Authorizer", 0)}
			})
			if got := handshakeStatus(t, e, "room=r"); got != want[name] {
				t.Errorf("handshake: %d, want %d", got, want[name])
			}
		})
	}
}

func replaceOnce(format, arn string) string {
	for i := 0; i+1 < len(format); i++ {
		if format[i] == '%' && format[i+1] == 's' {
			return format[:i] + arn + format[i+2:]
		}
	}
	return format
}

// handshakeStatus dials with the query and returns 0 when accepted, else the
// handshake's HTTP status.
func handshakeStatus(t *testing.T, e *env, query string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := e.dial(ctx, query, nil)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	_ = ws.CloseNow()
	return 0
}

// TestAuthorizerIdentitySources: stageVariables.NAME and context.NAME
// identity sources are looked up (a missing one refuses with 401 without
// calling the function), as query strings and headers are.
func TestAuthorizerIdentitySources(t *testing.T) {
	allow := gateway.InProcessAuthorizer(func(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "me", PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17", Statement: []events.IAMPolicyStatement{{Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{req.MethodArn}}},
		}}, nil
	})
	tests := []struct {
		name   string
		source []string
		want   int
	}{
		{"stage variable set", []string{"stageVariables.tenant"}, 0},
		{"stage variable missing", []string{"stageVariables.nope"}, http.StatusUnauthorized},
		{"context field", []string{"context.routeKey", "context.identity.sourceIp", "context.connectedAt"}, 0},
		{"context field missing", []string{"context.nope"}, http.StatusUnauthorized},
		{"with a query string", []string{"route.request.querystring.room", "stageVariables.tenant", "context.stage"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) {
				c.StageVariables = map[string]string{"tenant": "acme"}
				c.Authorizer = &gateway.Authorizer{IdentitySource: tt.source, Function: allow}
			})
			if got := handshakeStatus(t, e, "room=r"); got != tt.want {
				t.Errorf("handshake: %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRouteTimeouts: a route's TimeoutInMillis applies: its integration
// fails with the Internal server error frame after it, not after the
// gateway's integration timeout.
func TestRouteTimeouts(t *testing.T) {
	slow := gateway.IntegrationFunc(func(ctx context.Context, _ events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		<-ctx.Done()
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	})
	e := newEnv(t, func(c *gateway.Config) {
		c.Routes["slow"] = slow
		c.RouteTimeouts = map[string]time.Duration{"slow": 300 * time.Millisecond}
		c.Limits.IntegrationTimeout = 10 * time.Second
	})
	alice := e.connect(t, "alice", "")
	start := time.Now()
	alice.sendText(`{"action":"slow"}`)
	f := alice.statusFrame()
	if f.Message != "Internal server error" {
		t.Errorf("got %q, want Internal server error", f.Message)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Internal server error after %v: the route's 300ms timeout was not applied", took)
	}
}

// TestRouteSelectionVariables: an expression of several variables with
// text between them (AWS's ${request.body.service}/${request.body.action})
// selects the route its evaluation names; a missing variable goes to
// $default.
func TestRouteSelectionVariables(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.RouteSelection = "${request.body.service}/${request.body.action}"
		c.Routes["chat/join"] = ok
		c.Routes["game/move"] = ok
		c.Routes[gateway.RouteDefault] = ok
	})
	alice := e.connect(t, "alice", "")
	for body, want := range map[string]string{
		`{"service":"chat","action":"join"}`: "chat/join",
		`{"service":"game","action":"move"}`: "game/move",
		`{"service":"game"}`:                 gateway.RouteDefault,
		`{"action":"join"}`:                  gateway.RouteDefault,
		`not json`:                           gateway.RouteDefault,
	} {
		alice.sendText(body)
		ev := e.rec.waitFor(t, want, func(ev events.APIGatewayWebsocketProxyRequest) bool { return ev.Body == body })
		if ev.RequestContext.RouteKey != want {
			t.Errorf("%s: route %q, want %q", body, ev.RequestContext.RouteKey, want)
		}
	}
}

func TestParseRouteSelection(t *testing.T) {
	for expr, wantErr := range map[string]bool{
		"$request.body.action":                           false,
		"${request.body.action}":                         false,
		"${request.body.meta.kind}":                      false,
		"${request.body.service}/${request.body.action}": false,
		"${request.body.version}-beta":                   false,
		`\$default`:                                      true,
		"$request.header.x":                              true,
		"${context.routeKey}":                            true,
		"action":                                         true,
		"${request.body.a}${request.body.b}":             false,
	} {
		_, err := gateway.ParseRouteSelection(expr)
		if (err != nil) != wantErr {
			t.Errorf("ParseRouteSelection(%q): %v, want error %v", expr, err, wantErr)
		}
	}
}
