package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/internal/testenv"
)

// startRIE runs bootstrap under aws-lambda-rie and returns its endpoint.
func startRIE(t *testing.T, bootstrap string, env ...string) string {
	t.Helper()
	rie := testenv.RIE(t)
	port := testenv.FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Each emulator needs its own Runtime API port too (the default is 9001).
	runtimeAPI := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", runtimeAPI, bootstrap)
	cmd.Env = append(os.Environ(), append([]string{"AWS_LAMBDA_FUNCTION_TIMEOUT=10", "AWS_REGION=us-east-1"}, env...)...)
	logPath := filepath.Join(t.TempDir(), "rie.log")
	if err := testenv.Start(cmd, logPath); err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + addr
	if err := testenv.WaitHTTP(endpoint, wait); err != nil {
		t.Fatalf("%v\n%s", err, testenv.ReadLog(logPath))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("RIE log:\n%s", testenv.ReadLog(logPath))
		}
	})
	return endpoint
}

// buildFunction builds testdata/lambdafn as a Lambda bootstrap.
func buildFunction(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "./testdata/lambdafn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the test function: %v\n%s", err, b)
	}
	return out
}

// TestLambdaIntegrationUnderRIE runs every route through a real Lambda
// function under aws-lambda-rie, through the Lambda Invoke API.
func TestLambdaIntegrationUnderRIE(t *testing.T) {
	bootstrap := buildFunction(t)
	// The function posts back through the gateway, whose address is known
	// only once it runs: the gateway first, the function next.
	var fn gateway.Integration
	late := gateway.IntegrationFunc(func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return fn.Invoke(ctx, req)
	})
	e := newEnv(t, func(c *gateway.Config) {
		c.Limits.IntegrationTimeout = 2 * time.Second
		c.Routes = map[string]gateway.Integration{gateway.RouteConnect: late, gateway.RouteDisconnect: late, gateway.RouteDefault: late}
	})
	endpoint := startRIE(t, bootstrap, "MANAGEMENT_API_ENDPOINT="+e.api)
	fn = gateway.NewLambda(lambda.New(lambda.Options{
		BaseEndpoint: aws.String(endpoint), Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}), "function", 1)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	t.Run("connect refused by the function", func(t *testing.T) {
		ws, resp, err := e.dial(ctx, "refuse=1", nil)
		if err == nil {
			ws.CloseNow()
			t.Fatal("accepted")
		}
		if resp == nil || resp.StatusCode != 403 {
			t.Fatalf("got %v, want 403", resp)
		}
	})
	ws, _, err := e.dial(ctx, "name=lambda", &websocket.DialOptions{Subprotocols: []string{"chat.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != "chat.v1" {
		t.Errorf("subprotocol %q, want the function's chat.v1", ws.Subprotocol())
	}
	id := e.rec.waitFor(t, gateway.RouteConnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.QueryStringParameters["name"] == "lambda"
	}).RequestContext.ConnectionID
	c := &client{t: t, ws: ws, id: id}

	t.Run("event reaches the function intact and it posts back", func(t *testing.T) {
		c.t = t
		c.sendText(`{"action":"echo"}`)
		var ev events.APIGatewayWebsocketProxyRequest
		if err := json.Unmarshal(c.next(), &ev); err != nil {
			t.Fatal(err)
		}
		rc := ev.RequestContext
		if rc.ConnectionID != id || rc.RouteKey != gateway.RouteDefault || rc.EventType != "MESSAGE" || ev.Body != `{"action":"echo"}` {
			t.Errorf("the function saw %+v", ev)
		}
	})
	for _, action := range []string{"fail", "sleep"} {
		t.Run(action, func(t *testing.T) {
			c.t = t
			c.sendText(`{"action":"` + action + `"}`)
			if f := c.statusFrame(); f.Message != "Internal server error" {
				t.Errorf("got %q, want Internal server error", f.Message)
			}
		})
	}
	c.t = t
	_ = ws.Close(websocket.StatusNormalClosure, "")
	if got := e.disconnectOf(t, id).RequestContext.DisconnectStatusCode; got != 1000 {
		t.Errorf("disconnectStatusCode %d", got)
	}
}
