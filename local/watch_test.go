package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/testenv"
)

const watchFunction = `package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: "VERSION"}, nil
	})
}
`

const watchTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: watch
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: "$request.body.action"
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Api
      StageName: local
  VersionRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: version
      RouteResponseSelectionExpression: $default
      Target: !Sub "integrations/${Integration}"
  VersionRouteResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref Api
      RouteId: !Ref VersionRoute
      RouteResponseKey: $default
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${VersionFunction.Arn}/invocations"
  VersionFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: makefile
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: fn/
`

// TestWatch: with -build -watch, a change to a function's source is built
// and runs on the next message, on the same connection.
func TestWatch(t *testing.T) {
	// Inside the module (under testdata, which go build ./... skips), so
	// that the function builds with the module's aws-lambda-go.
	dir, err := os.MkdirTemp("testdata", "watch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("template.yaml", watchTemplate)
	write("Makefile", "build-VersionFunction:\n\tCGO_ENABLED=0 go build -o $(ARTIFACTS_DIR)/bootstrap ./fn\n")
	write("fn/main.go", strings.Replace(watchFunction, "VERSION", "one", 1))

	s := start(t, "-template", filepath.Join(dir, "template.yaml"), "-functions", "bootstrap", "-build", "-watch")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/local", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	version := func() string { t.Helper(); return askVersion(t, ctx, ws) }
	if got := version(); got != "one" {
		t.Fatalf("first version %q, want one", got)
	}
	write("fn/main.go", strings.Replace(watchFunction, "VERSION", "two", 1))
	for got := version(); got != "two"; got = version() {
		if got != "one" {
			t.Fatalf("version %q, want one then two", got)
		}
		if ctx.Err() != nil {
			t.Fatal("the new code never ran")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestWatchNative: with -watch, a change to a Node.js function's code runs
// on the next message (nothing to build).
func TestWatchNative(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node", "install Node.js 18 or later (apt-get install nodejs)")
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tpl := strings.Replace(watchTemplate, "    Metadata:\n      BuildMethod: makefile\n", "", 1)
	tpl = strings.Replace(tpl, "Runtime: provided.al2023\n      Handler: bootstrap", "Runtime: nodejs20.x\n      Handler: index.handler", 1)
	write("template.yaml", tpl)
	const code = `exports.handler = async () => ({ statusCode: 200, body: "VERSION" });`
	write("fn/index.js", strings.Replace(code, "VERSION", "one", 1))

	s := start(t, "-template", filepath.Join(dir, "template.yaml"), "-watch")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/local", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	version := func() string { t.Helper(); return askVersion(t, ctx, ws) }
	if got := version(); got != "one" {
		t.Fatalf("first version %q, want one", got)
	}
	// A different size too, so that a same-second write is seen.
	write("fn/index.js", strings.Replace(code, "VERSION", "two, changed", 1))
	for got := version(); got != "two, changed"; got = version() {
		if got != "one" {
			t.Fatalf("version %q, want one then two", got)
		}
		if ctx.Err() != nil {
			t.Fatal("the new code never ran")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// askVersion sends the test function's "version" action and returns its
// answer.
func askVersion(t *testing.T, ctx context.Context, ws *websocket.Conn) string {
	t.Helper()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"version"}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
