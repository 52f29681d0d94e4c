package lambdalog_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/handler"
	"github.com/serverless-chat/chat/internal/lambdalog"
	"github.com/serverless-chat/chat/internal/memstore"
)

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
			l := lambdalog.New(tt.level).With(slog.String("connectionId", "x")).WithGroup("g")
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
	logger := lambdalog.New(slog.LevelDebug)
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
