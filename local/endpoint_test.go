package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// lambdaInvokeServer speaks the Lambda Invoke API (POST
// /2015-03-31/functions/NAME/invocations), as sam local start-lambda
// does, with the game template's two functions written in Go; it records
// the names invoked.
type lambdaInvokeServer struct {
	*httptest.Server
	mu      sync.Mutex
	invoked map[string]int
}

func newLambdaInvokeServer(t *testing.T) *lambdaInvokeServer {
	s := &lambdaInvokeServer{invoked: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
		name, ok2 := strings.CutSuffix(name, "/invocations")
		if r.Method != http.MethodPost || !ok || !ok2 {
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			http.Error(w, `{"message":"not the Invoke API"}`, http.StatusNotFound)
			return
		}
		s.mu.Lock()
		s.invoked[name]++
		s.mu.Unlock()
		payload, _ := io.ReadAll(r.Body)
		var out any
		switch name {
		case "AuthFunction":
			var req events.APIGatewayCustomAuthorizerRequestTypeRequest
			_ = json.Unmarshal(payload, &req)
			effect := "Deny"
			if req.QueryStringParameters["token"] == "good" {
				effect = "Allow"
			}
			// As AWS's examples write it: Action and Resource as strings.
			out = map[string]any{"principalId": "user-1", "context": map[string]any{"player": "p1"},
				"policyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{
					map[string]any{"Action": "execute-api:Invoke", "Effect": effect, "Resource": req.MethodArn}}}}
		case "GameFunction":
			var req events.APIGatewayWebsocketProxyRequest
			_ = json.Unmarshal(payload, &req)
			switch req.RequestContext.RouteKey {
			case "move":
				auth, _ := req.RequestContext.Authorizer.(map[string]any)
				body, _ := json.Marshal(map[string]any{"moved": 7, "player": auth["player"]})
				out = events.APIGatewayProxyResponse{StatusCode: 200, Body: string(body)}
			case "boom":
				w.Header().Set("X-Amz-Function-Error", "Unhandled")
				out = map[string]any{"errorMessage": "boom", "errorType": "Error"}
			default:
				out = events.APIGatewayProxyResponse{StatusCode: 200}
			}
		default:
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			http.Error(w, `{"message":"Function not found: `+name+`"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestLambdaEndpointWithAnyTemplate: -lambda-endpoint with a template that
// is not the chat's, whose functions are Java (no bootstrap here): every
// function goes through the Lambda Invoke API by logical ID, and the
// template's authorizer, selection, two-way route and MOCK integration
// still apply. Without -lambda-endpoint the template is refused at start,
// naming it.
func TestLambdaEndpointWithAnyTemplate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "game", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tpl := filepath.Join(dir, "template.yaml")
	java := strings.ReplaceAll(string(src), "Runtime: provided.al2023", "Runtime: java21")
	if err := os.WriteFile(tpl, []byte(java), 0o644); err != nil {
		t.Fatal(err)
	}

	cfg, err := parseConfig([]string{"-template", tpl}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := serveOnce(t, cfg); err == nil || !strings.Contains(err.Error(), "-lambda-endpoint") || !strings.Contains(err.Error(), "java21") {
		t.Errorf("a Java function without -lambda-endpoint: %v, want a refusal naming the runtime and -lambda-endpoint", err)
	}

	// A container image function is refused the same way.
	image := strings.Replace(java, "      Runtime: java21\n      Handler: bootstrap\n      CodeUri: fn/\n      Timeout: 5\n",
		"      PackageType: Image\n      ImageUri: game:latest\n      Timeout: 5\n", 1)
	if image == java {
		t.Fatal("the image variant of the template did not change it")
	}
	imageTpl := filepath.Join(dir, "image.yaml")
	if err := os.WriteFile(imageTpl, []byte(image), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ = parseConfig([]string{"-template", imageTpl}, func(string) string { return "" }, io.Discard)
	if err := serveOnce(t, cfg); err == nil || !strings.Contains(err.Error(), "no local code") || !strings.Contains(err.Error(), "-lambda-endpoint") {
		t.Errorf("an image function without -lambda-endpoint: %v, want a refusal naming -lambda-endpoint", err)
	}

	lambdaAPI := newLambdaInvokeServer(t)
	s := start(t, "-template", tpl, "-lambda-endpoint", lambdaAPI.URL)
	url := "ws://" + s.addr + "/play"
	if got := handshake(t, url, nil); got != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401 (the template's identity source)", got)
	}
	if got := handshake(t, url+"?token=bad", nil); got != http.StatusForbidden {
		t.Errorf("bad token: status %d, want 403 (the authorizer's Deny)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url+"?token=good", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	c := &chatClient{t: t, ws: ws}
	send := func(frame string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"meta":{"kind":"shout"}}`) // one-way: nothing back
	send(`{"meta":{"kind":"move"}}`)
	if m := c.nextAny(); m["moved"] != float64(7) || m["player"] != "p1" {
		t.Errorf("move reply = %v, want moved 7 by p1 (the authorizer's context)", m)
	}
	send(`{"meta":{"kind":"status"}}`)
	if m := c.nextAny(); m["status"] != "ok" {
		t.Errorf("MOCK route reply = %v, want its response template", m)
	}
	send(`{"action":"move"}`)
	if m := c.nextAny(); m["message"] != "Forbidden" {
		t.Errorf("the chat's selection key: %v, want Forbidden (this API selects by meta.kind)", m)
	}
	send(`{"meta":{"kind":"boom"}}`)
	if m := c.nextAny(); m["message"] != "Internal server error" {
		t.Errorf("a failing function: %v, want the Internal server error frame", m)
	}
	lambdaAPI.mu.Lock()
	defer lambdaAPI.mu.Unlock()
	if lambdaAPI.invoked["AuthFunction"] != 2 || lambdaAPI.invoked["GameFunction"] < 4 {
		t.Errorf("invoked %v, want AuthFunction twice and GameFunction for $connect and each routed message", lambdaAPI.invoked)
	}
}

// serveOnce runs serve with cfg and returns its error if it stops at
// start; nil if it serves (it is then stopped).
func serveOnce(t *testing.T, cfg config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, ln, io.Discard, slog.New(slog.DiscardHandler)) }()
	select {
	case err := <-done:
		return err
	case <-time.After(3 * time.Second):
		cancel()
		<-done
		return nil
	}
}

// TestFunctionModes: -function picks how one function runs, over
// -lambda-endpoint's default: the game's function as its bootstrap, its
// authorizer through the endpoint.
func TestFunctionModes(t *testing.T) {
	lambdaAPI := newLambdaInvokeServer(t)
	s := start(t, "-template", gameTemplate(t, "template.yaml"), "-lambda-endpoint", lambdaAPI.URL,
		"-function", "GameFunction=bootstrap", "-parameter-overrides", "Greeting=hej")
	ws := dialGame(t, "ws://"+s.addr+"/play?token=good")
	c := &chatClient{t: t, ws: ws}
	if err := ws.Write(context.Background(), websocket.MessageText, []byte(`{"meta":{"kind":"move"},"x":3}`)); err != nil {
		t.Fatal(err)
	}
	if m := c.nextAny(); m["moved"] != float64(3) || m["greeting"] != "hej" || m["player"] != "p1" {
		t.Errorf("move reply = %v, want the bootstrap's (moved 3, greeting hej) with the endpoint authorizer's player", m)
	}
	lambdaAPI.mu.Lock()
	defer lambdaAPI.mu.Unlock()
	if lambdaAPI.invoked["AuthFunction"] != 1 || lambdaAPI.invoked["GameFunction"] != 0 {
		t.Errorf("the endpoint ran %v, want AuthFunction once and GameFunction never", lambdaAPI.invoked)
	}

	for _, args := range [][]string{{"-function", "X"}, {"-function", "X=docker"}, {"-function", "=native"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	game := gameTemplate(t, "template.yaml")
	cfg, _ := parseConfig([]string{"-template", game, "-function", "GameFunction=endpoint"}, func(string) string { return "" }, io.Discard)
	if err := serveOnce(t, cfg); err == nil || !strings.Contains(err.Error(), "needs -lambda-endpoint") {
		t.Errorf("-function X=endpoint without -lambda-endpoint: %v, want a refusal", err)
	}
	cfg, _ = parseConfig([]string{"-template", game, "-lambda-route", "$connect=" + lambdaAPI.URL}, func(string) string { return "" }, io.Discard)
	if err := serveOnce(t, cfg); err == nil || !strings.Contains(err.Error(), "-lambda-route names this project's routes") {
		t.Errorf("-lambda-route with another template: %v, want a refusal naming -function", err)
	}
}

func dialGame(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}
