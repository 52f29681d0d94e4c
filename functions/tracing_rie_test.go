package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/testenv"
)

// tracingNoise is what a tracer without its daemon or collector would log.
var tracingNoise = regexp.MustCompile(`(?i)x-?ray|subsegment|begin segment|context missing|daemon|\botel\b|opentelemetry|otlp`)

// TestFunctionsStartWithTracing runs every binary under aws-lambda-rie with
// the environment Lambda gives a function with Tracing: Active (the
// daemon's address, the context-missing strategy, a trace header on the
// invocation) and no X-Ray daemon listening: each must start and answer
// promptly, and log nothing about tracing.
func TestFunctionsStartWithTracing(t *testing.T) {
	testenv.RIE(t)
	bins := bootstraps(t)
	iss := testenv.Issuer(t, "chat-client")
	// A UDP port nobody reads: the X-Ray daemon is not there.
	daemon := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	_, mgmt := newConnections(t)
	base := map[string]string{
		"AWS_REGION": region, "AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_XRAY_DAEMON_ADDRESS": daemon, "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
		"_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		"TABLE_NAME":       "absent", "MESSAGES_TABLE": "absent-messages", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1",
		"MANAGEMENT_API_ENDPOINT": mgmt, "FANOUT_QUEUE_URL": "http://127.0.0.1:1/queue/fanout",
		"AWS_LAMBDA_FUNCTION_NAME": "chat-test-function", "LOG_LEVEL": "info",
		"JWT_ISSUER": iss.URL(), "JWT_AUDIENCE": "chat-client",
	}
	event := func(route string) any {
		if route == "" { // the fan-out function: an empty SQS event
			return map[string]any{"Records": []any{}}
		}
		return map[string]any{"requestContext": map[string]any{"routeKey": route, "connectionId": "TraceConnID001=",
			"eventType": "MESSAGE", "apiId": "a1b2c3d4e5", "stage": "prod", "requestId": "TraceReq0001="},
			"body": `{"action":"` + route + `","text":"traced"}`}
	}
	for _, f := range functions {
		t.Run(f.id, func(t *testing.T) {
			route := ""
			if len(f.routes) > 0 {
				route = f.routes[0]
			}
			var ev any = event(route)
			if f.id == "AuthorizerFunction" {
				ev = map[string]any{"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/$connect",
					"queryStringParameters": map[string]string{"token": "not-a-token"},
					"requestContext":        map[string]any{"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "TraceConnID001="}}
			}
			fnURL, logPath := startRIE(t, f.dir, bins[f.id], base)
			payload, _ := json.Marshal(ev)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fnURL, bytes.NewReader(payload))
			req.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("invoke: %v (after %v)\n%s", err, time.Since(start), testenv.ReadLog(logPath))
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("invoke: HTTP %d %s", resp.StatusCode, body)
			}
			t.Logf("answered in %v: %.80s", time.Since(start).Round(time.Millisecond), body)
			log := testenv.ReadLog(logPath)
			if !strings.Contains(log, "INIT REPORT") {
				t.Errorf("no INIT REPORT in the log:\n%s", log)
			}
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "(rapid)") || strings.Contains(line, `"_aws"`) {
					continue // the emulator's own lines; EMF lines name no tracer
				}
				if tracingNoise.MatchString(line) {
					t.Errorf("tracing noise in the log: %s", line)
				}
			}
		})
	}
}
