package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/testenv"
)

// tracingNoise is what a tracer without its daemon or collector would log.
var tracingNoise = regexp.MustCompile(`(?i)x-?ray|subsegment|begin segment|context missing|daemon|\botel\b|opentelemetry|otlp`)

// The trace of the invocations below: the root and the ID of the
// function's segment, as Lambda passes them in the trace header.
const (
	traceRoot   = "1-5759e988-bd862e3fe1be46a994272793"
	traceParent = "53995c3f42cd8ad8"
)

func traceHeader(sampled bool) string {
	s := "0"
	if sampled {
		s = "1"
	}
	return "Root=" + traceRoot + ";Parent=" + traceParent + ";Sampled=" + s
}

// The members of room general in tracedChat's table.
const (
	tracedAlice = "TraceAlice0001="
	tracedBob   = "TraceBob000002="
)

// tracedChat creates a connections and a messages table in DynamoDB Local
// with alice and bob in room general, and returns the environment Lambda
// gives a function with Tracing: Active (the X-Ray daemon's address, the
// context-missing strategy, a trace header) around them, the daemon at
// daemon, and the @connections API that receives the posts.
func tracedChat(t *testing.T, daemon string) (map[string]string, *connections) {
	t.Helper()
	endpoint := testenv.DynamoDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := dynamoClient(t, endpoint)
	table := fmt.Sprintf("trace-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, db, table, dynamo.DefaultIndex); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := dynamo.CreateHistoryTable(ctx, db, table+"-messages", ""); err != nil {
		t.Fatalf("create messages table: %v", err)
	}
	store := dynamo.New(db, table, dynamo.DefaultIndex)
	for id, name := range map[string]string{tracedAlice: "alice", tracedBob: "bob"} {
		c := chat.Connection{ID: id, Room: "general", Name: name, ConnectedAt: time.Now().Add(-time.Minute)}
		if err := store.Put(ctx, c); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	conns, mgmt := newConnections(t)
	return map[string]string{
		"AWS_REGION": region, "AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_XRAY_DAEMON_ADDRESS": daemon, "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR", "_X_AMZN_TRACE_ID": traceHeader(true),
		"TABLE_NAME": table, "ROOM_INDEX_NAME": dynamo.DefaultIndex, "MESSAGES_TABLE": table + "-messages",
		"DYNAMODB_ENDPOINT": endpoint, "MANAGEMENT_API_ENDPOINT": mgmt, "FANOUT_QUEUE_URL": "http://127.0.0.1:1/queue/fanout",
		"AWS_LAMBDA_FUNCTION_NAME": "chat-test-function", "LOG_LEVEL": "info",
	}, conns
}

// tracedFunction is a function under aws-lambda-rie whose invocations
// carry a trace header.
type tracedFunction struct {
	url, log string
	header   atomic.Pointer[string] // of the next invocation
}

// tracedRIE runs bootstrap under aws-lambda-rie as startRIE does, with the
// trace header Lambda passes to each invocation (the Runtime API's
// Lambda-Runtime-Trace-Id), which the emulator leaves out: the function
// talks to the emulator's Runtime API through a proxy that adds it as each
// invocation is handed over.
func tracedRIE(t *testing.T, name, bootstrap string, env map[string]string) *tracedFunction {
	t.Helper()
	f := &tracedFunction{}
	runtimeAPI := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: runtimeAPI})
	proxy.ErrorLog = log.New(io.Discard, "", 0) // the runtime's pending request, cut when the test ends
	proxy.ModifyResponse = func(resp *http.Response) error {
		if strings.HasSuffix(resp.Request.URL.Path, "/runtime/invocation/next") {
			if h := f.header.Load(); h != nil {
				resp.Header.Set("Lambda-Runtime-Trace-Id", *h)
			}
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Close, unlike httptest.Server's, does not wait for the runtime's
	// pending request for its next invocation.
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	wrapper := filepath.Join(t.TempDir(), "bootstrap")
	script := "#!/bin/sh\nAWS_LAMBDA_RUNTIME_API=" + ln.Addr().String() + " exec " + bootstrap + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f.url, f.log = startRIEOn(t, name, wrapper, runtimeAPI, env)
	return f
}

// invoke posts event to the function with the trace header and returns
// the function's answer.
func (f *tracedFunction) invoke(t *testing.T, event any, header string) []byte {
	t.Helper()
	f.header.Store(&header)
	payload, _ := json.Marshal(event)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	req.Header.Set("X-Amzn-Trace-Id", header)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v (after %v)\n%s", err, time.Since(start), testenv.ReadLog(f.log))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
		t.Errorf("invoke: HTTP %d %s %s", resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), body)
	}
	t.Logf("answered in %v: %.100s", time.Since(start).Round(time.Millisecond), body)
	return body
}

// wsEvent is an API Gateway WebSocket event of route from connectionID.
func wsEvent(route, connectionID, body string) events.APIGatewayWebsocketProxyRequest {
	var ev events.APIGatewayWebsocketProxyRequest
	ev.RequestContext.RouteKey = route
	ev.RequestContext.ConnectionID = connectionID
	ev.RequestContext.EventType = "MESSAGE"
	ev.RequestContext.APIID = "a1b2c3d4e5"
	ev.RequestContext.Stage = "prod"
	ev.RequestContext.RequestID = "TraceReq0001="
	ev.Body = body
	return ev
}

// TestFunctionsStartWithTracing runs every binary under aws-lambda-rie with
// the environment Lambda gives a function with Tracing: Active and a
// sampled trace header on each invocation, against DynamoDB Local and an
// @connections server, with no X-Ray daemon listening: each must start,
// give its usual answer promptly, twice (the second time after the
// daemon's port refused the first one's subsegments), and log nothing
// about tracing.
func TestFunctionsStartWithTracing(t *testing.T) {
	testenv.RIE(t)
	bins := bootstraps(t)
	iss := testenv.Issuer(t, "chat-client")
	// A UDP port nobody reads: the X-Ray daemon is not there.
	env, _ := tracedChat(t, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	env["JWT_ISSUER"], env["JWT_AUDIENCE"] = iss.URL(), "chat-client"

	connect := wsEvent("$connect", "TraceCarol003=", "")
	connect.RequestContext.EventType = "CONNECT"
	connect.QueryStringParameters = map[string]string{"name": "carol", "room": "general"}
	batch, _ := json.Marshal(chat.Batch{Room: "general", Frame: json.RawMessage(`{"type":"chat message","text":"traced"}`),
		Recipients: []chat.Member{{ID: tracedBob, Name: "bob"}}})
	cases := map[string]struct {
		event any
		want  string // in the answer
	}{
		"ConnectFunction":    {connect, `"statusCode":200`},
		"DisconnectFunction": {wsEvent("$disconnect", "TraceNobody09=", ""), `"statusCode":200`},
		"MessageFunction":    {wsEvent("chat message", tracedAlice, `{"action":"chat message","text":"traced"}`), `"statusCode":200`},
		"DefaultFunction":    {wsEvent("$default", tracedAlice, `{"action":"shout"}`), `"statusCode":400`},
		"HistoryFunction":    {wsEvent("history", tracedAlice, `{"action":"history","since":0}`), `"statusCode":200`},
		"PresenceFunction":   {wsEvent("who", tracedAlice, `{"action":"who"}`), `"statusCode":200`},
		"FanoutFunction":     {events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(batch)}}}, `"batchItemFailures":null`},
		"AuthorizerFunction": {map[string]any{"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/$connect",
			"queryStringParameters": map[string]string{"token": "not-a-token"},
			"requestContext":        map[string]any{"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "TraceConnID001="}}, `"policyDocument"`},
	}
	for _, f := range functions {
		t.Run(f.id, func(t *testing.T) {
			c, ok := cases[f.id]
			if !ok {
				t.Fatalf("no case for %s", f.id)
			}
			fn := tracedRIE(t, f.dir, bins[f.id], env)
			for range 2 {
				if body := fn.invoke(t, c.event, traceHeader(true)); !strings.Contains(string(body), c.want) {
					t.Errorf("answer %s, want %s in it", body, c.want)
				}
			}
			out := testenv.ReadLog(fn.log)
			if !strings.Contains(out, "INIT REPORT") {
				t.Errorf("no INIT REPORT in the log:\n%s", out)
			}
			for _, line := range strings.Split(out, "\n") {
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

// TestFunctionSDKCallsTraced runs the message function under aws-lambda-rie
// with a UDP listener standing in for the X-Ray daemon, and reads what a
// sampled chat message sends it: a subsegment for each DynamoDB call and
// for the post to bob through @connections, in the invocation's trace,
// under the function's segment. An unsampled message sends nothing.
func TestFunctionSDKCallsTraced(t *testing.T) {
	testenv.RIE(t)
	bins := bootstraps(t)
	daemon := testenv.NewXRayDaemon(t)
	env, conns := tracedChat(t, daemon.Addr())
	fn := tracedRIE(t, "message", bins["MessageFunction"], env)
	message := wsEvent("chat message", tracedAlice, `{"action":"chat message","text":"traced"}`)

	t.Run("sampled", func(t *testing.T) {
		if body := fn.invoke(t, message, traceHeader(true)); !strings.Contains(string(body), `"statusCode":200`) {
			t.Fatalf("answer %s, want status 200", body)
		}
		if posts, _ := conns.take(); len(posts[tracedBob]) != 1 {
			t.Errorf("bob got %d posts, want 1", len(posts[tracedBob]))
		}
		// The subsegments are sent as each call ends, before the answer;
		// wait a little for any late one.
		segs := daemon.Read(t, 100, 500*time.Millisecond)
		ops := map[string][]string{}
		for _, s := range segs {
			t.Logf("%s %v error=%v fault=%v", s.Name, s.AWS["operation"], s.Error, s.Fault)
			if s.Type != "subsegment" || s.TraceID != traceRoot || s.ParentID != traceParent || s.Namespace != "aws" || s.ID == "" {
				t.Errorf("%s: type, trace_id, parent_id, namespace = %q, %q, %q, %q, want subsegment, %s, %s, aws",
					s.Name, s.Type, s.TraceID, s.ParentID, s.Namespace, traceRoot, traceParent)
			}
			op, _ := s.AWS["operation"].(string)
			ops[s.Name] = append(ops[s.Name], op)
		}
		if len(ops["DynamoDB"]) == 0 {
			t.Errorf("no DynamoDB subsegment; got %v", ops)
		}
		if got := ops["ApiGatewayManagementApi"]; len(got) != 1 || got[0] != "PostToConnection" {
			t.Errorf("@connections subsegments %v, want one PostToConnection", got)
		}
	})
	t.Run("not sampled", func(t *testing.T) {
		fn.invoke(t, message, traceHeader(false))
		if segs := daemon.Read(t, 1, 500*time.Millisecond); len(segs) > 0 {
			t.Errorf("got %d subsegments, want none: %+v", len(segs), segs)
		}
	})
}
