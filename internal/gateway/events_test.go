package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/gateway"
)

// TestEventFields checks every requestContext field of the three event
// types against what API Gateway sends, and the events' shape against the
// golden files in testdata/ (values that change each run are masked).
func TestEventFields(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.APIID = "a1b2c3d4e5" })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	h := http.Header{}
	h.Set("User-Agent", "gateway-test/1.0")
	h.Add("X-Custom", "one")
	h.Add("X-Custom", "two")
	before := time.Now()
	ws, _, err := e.dial(ctx, "name=alice&room=lobby&tag=a&tag=b", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	connect := e.rec.waitFor(t, gateway.RouteConnect, nil)
	id := connect.RequestContext.ConnectionID
	body := `{"action":"chat message","text":"hi"}`
	if err := ws.Write(ctx, websocket.MessageText, []byte(body)); err != nil {
		t.Fatal(err)
	}
	message := e.rec.waitFor(t, "chat message", nil)
	_ = ws.Close(websocket.StatusNormalClosure, "done")
	disconnect := e.disconnectOf(t, id)
	after := time.Now()

	host := strings.TrimPrefix(e.srv.URL, "http://")
	timeLayout := "02/Jan/2006:15:04:05 -0700"
	for _, ev := range []events.APIGatewayWebsocketProxyRequest{connect, message, disconnect} {
		rc := ev.RequestContext
		t.Run(rc.EventType, func(t *testing.T) {
			check := func(field string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", field, got, want)
				}
			}
			check("connectionId", rc.ConnectionID, id)
			check("apiId", rc.APIID, "a1b2c3d4e5")
			check("stage", rc.Stage, "test")
			check("domainName", rc.DomainName, host)
			check("messageDirection", rc.MessageDirection, "IN")
			check("identity.sourceIp", rc.Identity.SourceIP, "127.0.0.1")
			check("identity.userAgent", rc.Identity.UserAgent, "gateway-test/1.0")
			check("connectedAt", rc.ConnectedAt, connect.RequestContext.ConnectedAt)
			check("extendedRequestId", rc.ExtendedRequestID, rc.RequestID)
			if !idPattern.MatchString(rc.ConnectionID) || !idPattern.MatchString(rc.RequestID) {
				t.Errorf("connectionId %q / requestId %q do not look like API Gateway's", rc.ConnectionID, rc.RequestID)
			}
			if rc.ConnectedAt < before.UnixMilli() || rc.ConnectedAt > after.UnixMilli() {
				t.Errorf("connectedAt %d not between %d and %d", rc.ConnectedAt, before.UnixMilli(), after.UnixMilli())
			}
			if rc.RequestTimeEpoch < rc.ConnectedAt || rc.RequestTimeEpoch > after.UnixMilli() {
				t.Errorf("requestTimeEpoch %d not between connectedAt and now", rc.RequestTimeEpoch)
			}
			rt, err := time.Parse(timeLayout, rc.RequestTime)
			if err != nil || !strings.HasSuffix(rc.RequestTime, " +0000") {
				t.Errorf("requestTime %q is not like 24/Nov/2026:15:00:00 +0000: %v", rc.RequestTime, err)
			} else if rt.Unix() != rc.RequestTimeEpoch/1000 {
				t.Errorf("requestTime %q and requestTimeEpoch %d differ", rc.RequestTime, rc.RequestTimeEpoch)
			}
			if rc.Authorizer != nil {
				t.Errorf("authorizer %v, want none (no authorizer configured)", rc.Authorizer)
			}
			check("isBase64Encoded", ev.IsBase64Encoded, false)
		})
	}

	// Per event type.
	check := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", field, got, want)
		}
	}
	cr := connect.RequestContext
	check("CONNECT routeKey", cr.RouteKey, "$connect")
	check("CONNECT eventType", cr.EventType, "CONNECT")
	check("CONNECT messageId", cr.MessageID, nil)
	check("CONNECT queryStringParameters", connect.QueryStringParameters, map[string]string{"name": "alice", "room": "lobby", "tag": "b"})
	check("CONNECT multiValueQueryStringParameters", connect.MultiValueQueryStringParameters,
		map[string][]string{"name": {"alice"}, "room": {"lobby"}, "tag": {"a", "b"}})
	check("CONNECT headers X-Custom", connect.Headers["X-Custom"], "two")
	check("CONNECT multiValueHeaders X-Custom", connect.MultiValueHeaders["X-Custom"], []string{"one", "two"})
	check("CONNECT headers Host", connect.Headers["Host"], host)
	check("CONNECT headers Sec-WebSocket-Version", connect.Headers["Sec-WebSocket-Version"], "13")
	for _, k := range []string{"Sec-WebSocket-Key", "X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"} {
		if connect.Headers[k] == "" {
			t.Errorf("CONNECT headers lack %s: %v", k, connect.Headers)
		}
	}
	check("CONNECT body", connect.Body, "")
	check("CONNECT disconnectStatusCode", cr.DisconnectStatusCode, int64(0))

	mr := message.RequestContext
	check("MESSAGE routeKey", mr.RouteKey, "chat message")
	check("MESSAGE eventType", mr.EventType, "MESSAGE")
	check("MESSAGE body", message.Body, body)
	if s, _ := mr.MessageID.(string); !idPattern.MatchString(s) {
		t.Errorf("MESSAGE messageId %v does not look like API Gateway's", mr.MessageID)
	}
	if mr.RequestID == cr.RequestID {
		t.Error("MESSAGE has CONNECT's requestId")
	}
	check("MESSAGE headers", message.Headers, map[string]string(nil))

	dr := disconnect.RequestContext
	check("DISCONNECT routeKey", dr.RouteKey, "$disconnect")
	check("DISCONNECT eventType", dr.EventType, "DISCONNECT")
	check("DISCONNECT disconnectStatusCode", dr.DisconnectStatusCode, int64(1000))
	check("DISCONNECT disconnectReason", *dr.DisconnectReason, "done")
	check("DISCONNECT messageId", dr.MessageID, nil)
	check("DISCONNECT headers", sortedKeys(disconnect.Headers), []string{"Host", "X-Forwarded-For", "x-api-key", "x-restapi"})

	for name, ev := range map[string]events.APIGatewayWebsocketProxyRequest{"connect": connect, "message": message, "disconnect": disconnect} {
		golden(t, name, ev)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	maskIDs   = regexp.MustCompile(`"[A-Za-z0-9_-]{15}="`)
	maskTimes = regexp.MustCompile(`"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000"`)
	maskEpoch = regexp.MustCompile(`("(?:connectedAt|requestTimeEpoch)": )\d+`)
	maskTrace = regexp.MustCompile(`Root=1-[0-9a-f]{8}-[0-9a-f]{24}`)
	maskKey   = regexp.MustCompile(`"[A-Za-z0-9+/]{22}=="`)
	maskPort  = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	maskPortN = regexp.MustCompile(`("X-Forwarded-Port": (?:\[\s*)?)"\d+"`)
)

// golden compares an event, with run-specific values masked, to
// testdata/{name}.golden.json; UPDATE_GOLDEN=1 rewrites the files.
func golden(t *testing.T, name string, ev events.APIGatewayWebsocketProxyRequest) {
	t.Helper()
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	s := maskIDs.ReplaceAllString(string(b), `"<id>"`)
	s = maskTimes.ReplaceAllString(s, `"<requestTime>"`)
	s = maskEpoch.ReplaceAllString(s, `${1}0`)
	s = maskTrace.ReplaceAllString(s, `Root=<trace>`)
	s = maskKey.ReplaceAllString(s, `"<key>"`)
	s = maskPort.ReplaceAllString(s, `127.0.0.1:<port>`)
	s = maskPortN.ReplaceAllString(s, `${1}"<port>"`)
	path := filepath.Join("testdata", name+".golden.json")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if got := s + "\n"; got != string(want) {
		t.Errorf("%s event differs from %s:\n%s", name, path, diffLines(string(want), got))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}

// A ";" in the query string is part of a value, not a separator that makes
// Go drop the pair: ?room=a;b reaches $connect as "a;b", which the chat
// refuses (400), instead of putting the client in the default room.
func TestQueryStringSemicolon(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := e.dial(ctx, "name=alice&room=a;b", nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("dial with room=a;b: %v %v, want 400", resp, err)
	}
	ev := e.rec.waitFor(t, gateway.RouteConnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.QueryStringParameters["name"] == "alice"
	})
	if got := ev.QueryStringParameters["room"]; got != "a;b" {
		t.Errorf("room = %q, want a;b", got)
	}
	// Escapes still decode; a pair without "=" has an empty value.
	_, _, _ = e.dial(ctx, "name=bob%20lee&room=x%3By&flag", nil)
	ev = e.rec.waitFor(t, gateway.RouteConnect, func(ev events.APIGatewayWebsocketProxyRequest) bool {
		return ev.QueryStringParameters["name"] == "bob lee"
	})
	if ev.QueryStringParameters["room"] != "x;y" || ev.MultiValueQueryStringParameters["flag"][0] != "" {
		t.Errorf("query = %v, want room x;y and an empty flag", ev.MultiValueQueryStringParameters)
	}
}
