package lambdaapp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/config"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdaapp"
	"github.com/serverless-chat/chat/internal/memstore"
)

func lookup(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestNew(t *testing.T) {
	h, err := lambdaapp.New(context.Background(), lookup(map[string]string{
		"TABLE_NAME": "chat", "AWS_REGION": "eu-west-1", "POST_WORKERS": "2000",
	}))
	if err == nil {
		t.Fatalf("New = %+v, want an error for POST_WORKERS=2000", h)
	}
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "POST_WORKERS") {
		t.Errorf("error %q does not name POST_WORKERS as invalid", err)
	}

	h, err = lambdaapp.New(context.Background(), lookup(map[string]string{
		"TABLE_NAME": "chat", "AWS_REGION": "eu-west-1", "POST_WORKERS": "500",
		"MANAGEMENT_API_ENDPOINT": "http://127.0.0.1:8080/local",
		"AWS_ACCESS_KEY_ID":       "fake", "AWS_SECRET_ACCESS_KEY": "fake",
	}))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if h.Store == nil || h.Senders == nil || h.Logger == nil {
		t.Errorf("handler not wired: %+v", h)
	}
	if h.Workers != 500 || h.DeadlineMargin != lambdaapp.DeadlineMargin {
		t.Errorf("Workers, DeadlineMargin = %d, %v, want 500, %v", h.Workers, h.DeadlineMargin, lambdaapp.DeadlineMargin)
	}
}

func TestLoggerLevel(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		level         slog.Level
		debug, errors bool
	}{
		{slog.LevelDebug, true, true},
		{slog.LevelInfo, false, true},
		{slog.LevelError, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			l := lambdaapp.Logger(tt.level).With(slog.String("connectionId", "x")).WithGroup("g")
			if got := l.Enabled(ctx, slog.LevelDebug); got != tt.debug {
				t.Errorf("debug enabled = %v, want %v", got, tt.debug)
			}
			if got := l.Enabled(ctx, slog.LevelError); got != tt.errors {
				t.Errorf("error enabled = %v, want %v", got, tt.errors)
			}
		})
	}
}

// In Lambda, each key says one thing once: requestId is Lambda's request
// ID (added by aws-lambda-go's handler), apiRequestId API Gateway's, and
// connectionId appears once.
func TestLogKeysOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w // lambdacontext's handler writes to the os.Stdout it finds
	logger := lambdaapp.Logger(slog.LevelDebug)
	os.Stdout = stdout

	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	h := &handler.Handler{Store: memstore.New(), Messages: memstore.NewHistory(), Logger: logger,
		Senders: func(*events.APIGatewayWebsocketProxyRequest) chat.Sender { return discard{} }}
	req := events.APIGatewayWebsocketProxyRequest{
		QueryStringParameters: map[string]string{"name": "ann"},
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: "$connect", ConnectionID: "conn-1=", RequestID: "apigw-req-1", EventType: "CONNECT"},
	}
	if _, err := h.Connect(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.RequestContext.RouteKey, req.Body = "chat message", `{"action":"chat message","text":"hi"}`
	if _, err := h.Message(ctx, req); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	out, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("nothing logged")
	}
	for _, line := range lines {
		for _, kv := range []string{"requestId=lambda-req-1", "apiRequestId=apigw-req-1", `connectionId="conn-1="`} {
			if n := strings.Count(line, " "+kv); n != 1 {
				t.Errorf("%q appears %d times in %s", kv, n, line)
			}
		}
		if strings.Contains(line, " requestId=apigw-req-1") {
			t.Errorf("API Gateway's request ID under requestId: %s", line)
		}
	}
}

type discard struct{}

func (discard) Post(context.Context, string, []byte) error { return nil }
