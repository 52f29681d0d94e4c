package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/metrics"
	"github.com/serverless-chat/chat/internal/testenv"
)

// emfLines returns the EMF lines of a function's log since offset, each
// checked against the specification (metrics.Parse), and the new offset.
func emfLines(t *testing.T, logPath string, offset int) ([]metrics.Line, int) {
	t.Helper()
	log := testenv.ReadLog(logPath)
	var out []metrics.Line
	for _, line := range strings.Split(log[min(offset, len(log)):], "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		l, err := metrics.Parse([]byte(strings.TrimSpace(line)))
		if err != nil {
			t.Errorf("EMF line breaks the specification: %v\n%s", err, line)
			continue
		}
		out = append(out, l)
	}
	return out, len(log)
}

// TestFunctionMetricsUnderRIE runs the message and fan-out binaries under
// aws-lambda-rie and reads the EMF lines they write for a message, a
// rate-limited sender and a fan-out batch: the namespace, the Stack
// dimension, the units, the values, and a level that passes Lambda's
// log-level filter at the function's LOG_LEVEL.
func TestFunctionMetricsUnderRIE(t *testing.T) {
	testenv.RIE(t)
	endpoint := testenv.DynamoDB(t)
	bins := bootstraps(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := dynamoClient(t, endpoint)
	table := fmt.Sprintf("emf-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, db, table, dynamo.DefaultIndex); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := dynamo.CreateHistoryTable(ctx, db, table+"-messages", ""); err != nil {
		t.Fatalf("create messages table: %v", err)
	}
	conns, mgmt := newConnections(t)
	env := map[string]string{
		"AWS_REGION": region, "AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake",
		"AWS_EC2_METADATA_DISABLED": "true", "TABLE_NAME": table, "MESSAGES_TABLE": table + "-messages",
		"FANOUT_QUEUE_URL": "http://127.0.0.1:1/queue/fanout", "DYNAMODB_ENDPOINT": endpoint,
		"MANAGEMENT_API_ENDPOINT": mgmt, "POST_WORKERS": "4",
		// Metrics must survive Lambda's filter at WARN: their level is the function's.
		"LOG_LEVEL": "warn",
		// Two frames, then one a minute: the third is rate-limited.
		"SEND_BURST": "2", "SEND_RATE": "0.016",
	}
	named := func(name string) map[string]string { // Lambda sets the function's name
		e := maps.Clone(env)
		e["AWS_LAMBDA_FUNCTION_NAME"] = name
		return e
	}
	connectURL, connectLog := startRIE(t, "connect", bins["ConnectFunction"], named("chat-test-ConnectFunction"))
	messageURL, messageLog := startRIE(t, "message", bins["MessageFunction"], named("chat-test-MessageFunction"))
	fanoutURL, fanoutLog := startRIE(t, "fanout", bins["FanoutFunction"], named("chat-test-FanoutFunction"))

	alice, bob, carol := "AliceEMFConn01=", "BobEMFConn0002=", "CarolEMFConn03="
	for _, c := range []struct{ id, name string }{{alice, "alice"}, {bob, "bob"}, {carol, "carol"}} {
		ev := loadEvent(t, "connect.json", c.id)
		ev.QueryStringParameters = map[string]string{"name": c.name, "room": "general"}
		if resp := invoke(t, connectURL, connectLog, ev); resp.StatusCode != http.StatusOK {
			t.Fatalf("connect %s: %d %s", c.name, resp.StatusCode, resp.Body)
		}
	}
	if lines, _ := emfLines(t, connectLog, 0); len(lines) != 0 {
		t.Errorf("connect wrote %d EMF lines, want none", len(lines))
	}
	conns.take()
	// carol's connection is gone, and older than chat.ConnectGrace: a 410
	// for it is proof, counted in PostsGone.
	connectedAgo(t, ctx, db, table, carol, time.Minute)
	conns.markGone(carol)

	check := func(t *testing.T, function string, l metrics.Line, want map[string]float64) {
		t.Helper()
		if l.Namespace != metrics.Namespace || fmt.Sprint(l.Dimensions) != "[[FunctionName]]" || l.Members["FunctionName"] != function {
			t.Errorf("namespace %q, dimensions %v, FunctionName %v; want %s, [[FunctionName]], %s",
				l.Namespace, l.Dimensions, l.Members["FunctionName"], metrics.Namespace, function)
		}
		if l.Members["level"] != "WARN" {
			t.Errorf("level = %v, want WARN (the function's LOG_LEVEL, so Lambda's filter keeps the line)", l.Members["level"])
		}
		if age := time.Since(time.UnixMilli(l.Timestamp)); age < 0 || age > time.Minute {
			t.Errorf("Timestamp %d is %v old", l.Timestamp, age)
		}
		for name, unit := range l.Units {
			if unit != metrics.Units[name] {
				t.Errorf("%s: unit %q, want %q", name, unit, metrics.Units[name])
			}
		}
		for name, v := range want {
			got, ok := l.Values[name]
			switch {
			case !ok:
				t.Errorf("no %s in %v", name, l.Values)
			case v >= 0 && got != v:
				t.Errorf("%s = %v, want %v", name, got, v)
			case v < 0 && got <= 0: // any positive value
				t.Errorf("%s = %v, want more than 0", name, got)
			}
		}
		if len(l.Values) != len(want) {
			t.Errorf("metrics %v, want exactly %v", l.Values, want)
		}
	}

	offset := 0
	t.Run("a message: accepted, its recipients, delivered and gone posts", func(t *testing.T) {
		ev := loadEvent(t, "message.json", alice)
		ev.Body = `{"action":"chat message","text":"counted"}`
		if resp := invoke(t, messageURL, messageLog, ev); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
		}
		var lines []metrics.Line
		lines, offset = emfLines(t, messageLog, offset)
		if len(lines) != 1 {
			t.Fatalf("%d EMF lines, want 1", len(lines))
		}
		check(t, "chat-test-MessageFunction", lines[0], map[string]float64{
			metrics.MessagesAccepted: 1, metrics.Recipients: 2, metrics.PostsDelivered: 1, metrics.PostsGone: 1,
			metrics.PostsThrottled: 0, metrics.BatchesQueued: 0, metrics.FanoutDuration: -1,
		})
	})
	t.Run("a sender over its limit", func(t *testing.T) {
		ev := loadEvent(t, "message.json", bob)
		var codes []string
		for i := range 3 {
			ev.Body = fmt.Sprintf(`{"action":"chat message","text":"flood %d"}`, i)
			resp := invoke(t, messageURL, messageLog, ev)
			codes = append(codes, fmt.Sprint(resp.StatusCode))
		}
		if got := strings.Join(codes, " "); got != "200 200 400" {
			t.Fatalf("statuses %s, want 200 200 400 (the third rate-limited)", got)
		}
		var lines []metrics.Line
		lines, offset = emfLines(t, messageLog, offset)
		if len(lines) != 3 {
			t.Fatalf("%d EMF lines, want 3", len(lines))
		}
		check(t, "chat-test-MessageFunction", lines[2], map[string]float64{metrics.SendersRateLimited: 1})
	})
	t.Run("a fan-out batch", func(t *testing.T) {
		batch, _ := json.Marshal(chat.Batch{Room: "general", Seq: 9, Endpoint: mgmt,
			Frame: json.RawMessage(`{"type":"chat message","text":"from the queue"}`), Recipients: []chat.Member{{ID: alice}, {ID: bob}}})
		ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: string(batch)}}}
		if body, err := invokeRaw(fanoutURL, ev); err != nil {
			t.Fatalf("invoke: %v %s\n%s", err, body, testenv.ReadLog(fanoutLog))
		}
		lines, _ := emfLines(t, fanoutLog, 0)
		if len(lines) != 1 {
			t.Fatalf("%d EMF lines, want 1", len(lines))
		}
		check(t, "chat-test-FanoutFunction", lines[0], map[string]float64{
			metrics.PostsDelivered: 2, metrics.PostsGone: 0, metrics.PostsThrottled: 0, metrics.FanoutDuration: -1,
		})
	})
}
