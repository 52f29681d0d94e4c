package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.Run(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

const region = "eu-west-1"

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// bootstraps builds every function with the Makefile targets `sam build`
// runs (for the host's architecture) and returns their bootstrap binaries by
// logical ID.
func bootstraps(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "chat-functions-")
		if buildErr != nil {
			return
		}
		for _, f := range functions {
			cmd := exec.Command("make", "--no-print-directory", "build-"+f.id,
				"ARTIFACTS_DIR="+filepath.Join(buildDir, f.id), "LAMBDA_GOARCH="+runtime.GOARCH)
			cmd.Dir = testenv.RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("make build-%s: %v\n%s", f.id, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	out := map[string]string{}
	for _, f := range functions {
		out[f.id] = filepath.Join(buildDir, f.id, "bootstrap")
	}
	return out
}

// startRIE runs bootstrap under aws-lambda-rie with env and returns the URL
// invocations are posted to, and the path of its log.
func startRIE(t *testing.T, name, bootstrap string, env map[string]string) (string, string) {
	t.Helper()
	// Each emulator needs its own Runtime API port too (the default is 9001).
	runtimeAPI := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	return startRIEOn(t, name, bootstrap, runtimeAPI, env)
}

// startRIEOn is startRIE with the emulator's Runtime API on runtimeAPI.
func startRIEOn(t *testing.T, name, bootstrap, runtimeAPI string, env map[string]string) (string, string) {
	t.Helper()
	rie := testenv.RIE(t)
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", runtimeAPI, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logPath := filepath.Join(t.TempDir(), name+".log")
	if err := testenv.Start(cmd, logPath); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	base := "http://" + addr
	if err := testenv.WaitHTTP(base, time.Minute); err != nil {
		t.Fatalf("aws-lambda-rie for %s: %v\n%s", name, err, testenv.ReadLog(logPath))
	}
	return base + "/2015-03-31/functions/function/invocations", logPath
}

// invoke posts an event to a function and returns its response.
func invoke(t *testing.T, fnURL, logPath string, event events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	body, err := invokeRaw(fnURL, event)
	if err != nil {
		t.Fatalf("invoke %s: %v\n%s", event.RequestContext.RouteKey, err, testenv.ReadLog(logPath))
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(body, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("invoke %s: response %s is not an API Gateway proxy response (%v)\n%s",
			event.RequestContext.RouteKey, body, err, testenv.ReadLog(logPath))
	}
	return resp
}

func invokeRaw(fnURL string, event any) ([]byte, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fnURL, bytes.NewReader(payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Amz-Function-Error") != "" || bytes.Contains(body, []byte(`"errorMessage"`)) {
		return body, fmt.Errorf("function error: %s", body)
	}
	return body, nil
}

// loadEvent reads events/<name> and sets its connection ID.
func loadEvent(t *testing.T, name, connectionID string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ev.RequestContext.ConnectionID = connectionID
	return ev
}

// connections is an @connections API that records the posts it receives and
// answers 410 GoneException for the connections marked gone.
type connections struct {
	mu    sync.Mutex
	posts map[string][][]byte
	gone  map[string]bool
	bad   []string
}

func newConnections(t *testing.T) (*connections, string) {
	c := &connections{posts: map[string][][]byte{}, gone: map[string]bool{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL + "/prod"
}

func (c *connections) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := strings.CutPrefix(r.URL.EscapedPath(), "/prod/@connections/")
	if ok {
		id, _ = url.PathUnescape(id)
	}
	if !ok || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		c.bad = append(c.bad, r.Method+" "+r.URL.String())
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if c.gone[id] {
		w.Header().Set("X-Amzn-ErrorType", "GoneException")
		w.WriteHeader(http.StatusGone)
		_, _ = io.WriteString(w, `{"message":null}`)
		return
	}
	c.posts[id] = append(c.posts[id], body)
}

// take returns and forgets the posts received so far, by connection.
func (c *connections) take() (map[string][][]byte, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, bad := c.posts, c.bad
	c.posts, c.bad = map[string][][]byte{}, nil
	return p, bad
}

func (c *connections) markGone(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone[id] = true
}

func dynamoClient(t *testing.T, endpoint string) *dynamodb.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("fake", "fake", ""),
	}
	return dynamo.NewClient(cfg, endpoint)
}

func getItem(t *testing.T, ctx context.Context, db *dynamodb.Client, table, id string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"connectionId": &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem %s: %v", id, err)
	}
	return out.Item
}

func attr(item map[string]types.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	return ""
}

// TestFunctionsUnderRIE builds the four bootstrap binaries as `sam build`
// does, runs each under the Lambda Runtime Interface Emulator against
// DynamoDB Local and a recording @connections server, and plays a chat
// through them with the sample events.
func TestFunctionsUnderRIE(t *testing.T) {
	testenv.RIE(t) // skip (or fail in CI) before building when it is missing
	endpoint := testenv.DynamoDB(t)
	bins := bootstraps(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db := dynamoClient(t, endpoint)
	table := fmt.Sprintf("rie-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, db, table, dynamo.DefaultIndex); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := dynamo.CreateHistoryTable(ctx, db, table+"-messages", ""); err != nil {
		t.Fatalf("create messages table: %v", err)
	}
	conns, mgmt := newConnections(t)

	env := map[string]string{
		"AWS_REGION":                region,
		"AWS_ACCESS_KEY_ID":         "fake",
		"AWS_SECRET_ACCESS_KEY":     "fake",
		"AWS_EC2_METADATA_DISABLED": "true",
		"TABLE_NAME":                table,
		"ROOM_INDEX_NAME":           "room-users",
		"MESSAGES_TABLE":            table + "-messages",
		// Unused here (no room is over the inline limit), but the queue
		// must be configured for the fan-out function to hand on.
		"FANOUT_QUEUE_URL":        "http://127.0.0.1:1/queue/fanout",
		"HISTORY_RETENTION":       "1h",
		"DYNAMODB_ENDPOINT":       endpoint,
		"MANAGEMENT_API_ENDPOINT": mgmt,
		"POST_WORKERS":            "4",
		"LOG_LEVEL":               "info",
	}
	type fn struct{ url, log string }
	fns := map[string]fn{}
	for _, f := range functions {
		if f.id == "AuthorizerFunction" {
			continue // TestAuthorizerUnderRIE
		}
		u, l := startRIE(t, f.dir, bins[f.id], env)
		fns[f.id] = fn{u, l}
	}
	call := func(id, event, connectionID string) events.APIGatewayProxyResponse {
		t.Helper()
		return invoke(t, fns[id].url, fns[id].log, loadEvent(t, event, connectionID))
	}
	connect := func(id, name, room string) events.APIGatewayProxyResponse {
		t.Helper()
		ev := loadEvent(t, "connect.json", id)
		ev.QueryStringParameters = map[string]string{"name": name, "room": room}
		ev.MultiValueQueryStringParameters = map[string][]string{"name": {name}, "room": {room}}
		return invoke(t, fns["ConnectFunction"].url, fns["ConnectFunction"].log, ev)
	}
	// expectPosts checks what the @connections API received since the last call.
	expectPosts := func(want map[string][]string) map[string][][]byte {
		t.Helper()
		got, bad := conns.take()
		if len(bad) > 0 {
			t.Errorf("unexpected @connections requests: %v", bad)
		}
		for id, frames := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s got %d frames, want none: %s", id, len(frames), frames)
			}
		}
		for id, kinds := range want {
			if len(got[id]) != len(kinds) {
				t.Errorf("%s got %d frames %s, want %d", id, len(got[id]), got[id], len(kinds))
				continue
			}
			for i, typ := range kinds {
				var f struct{ Type string }
				if err := json.Unmarshal(got[id][i], &f); err != nil || f.Type != typ {
					t.Errorf("%s frame %d = %s, want type %q", id, i, got[id][i], typ)
				}
			}
		}
		return got
	}

	alice, bob, carol, dave := "AliceConnID0001=", "BobConnID00002=", "CarolConnID003=", "DaveConnID0004="
	t.Cleanup(func() { // init and invoke durations, for BENCHMARKS.md (go test -v)
		for _, f := range functions {
			if fns[f.id].log == "" {
				continue
			}
			for _, line := range strings.Split(testenv.ReadLog(fns[f.id].log), "\n") {
				if strings.Contains(line, "INIT REPORT") || strings.HasPrefix(line, "REPORT RequestId") {
					t.Logf("%s: %s", f.id, line)
				}
			}
		}
	})

	t.Run("connect stores the connection with a TTL", func(t *testing.T) {
		start := time.Now()
		for _, c := range []struct{ id, name, room string }{
			{alice, "alice", "general"}, {bob, "bob", "general"}, {carol, "carol", "other"}, {dave, "dave", "general"},
		} {
			if resp := connect(c.id, c.name, c.room); resp.StatusCode != http.StatusOK {
				t.Fatalf("connect %s: status %d %q, want 200", c.name, resp.StatusCode, resp.Body)
			}
		}
		item := getItem(t, ctx, db, table, alice)
		if attr(item, "room") != "general" || attr(item, "name") != "alice" {
			t.Errorf("item = %v, want room general and name alice", item)
		}
		exp, err := strconv.ParseInt(attr(item, "expiresAt"), 10, 64)
		if err != nil {
			t.Fatalf("expiresAt = %q: %v", attr(item, "expiresAt"), err)
		}
		if min := start.Add(chat.TTL).Unix() - 1; exp < min {
			t.Errorf("expiresAt = %d, want at least %d (connect time + chat.TTL)", exp, min)
		}
		if _, err := strconv.ParseInt(attr(item, "connectedAt"), 10, 64); err != nil {
			t.Errorf("connectedAt = %q: %v", attr(item, "connectedAt"), err)
		}
		// Each join is announced to the room (carol is in another room).
		expectPosts(map[string][]string{alice: {"joined", "joined"}, bob: {"joined"}})
	})

	t.Run("bad connect answers 400 and stores nothing", func(t *testing.T) {
		resp := call("ConnectFunction", "connect-bad.json", "MalloryConnID05=")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d %q, want 400", resp.StatusCode, resp.Body)
		}
		if item := getItem(t, ctx, db, table, "MalloryConnID05="); item != nil {
			t.Errorf("item stored for a refused connection: %v", item)
		}
	})

	t.Run("message reaches the room but not the sender", func(t *testing.T) {
		resp := call("MessageFunction", "message.json", alice)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200", resp.StatusCode, resp.Body)
		}
		got := expectPosts(map[string][]string{bob: {"chat message"}, dave: {"chat message"}})
		if len(got[bob]) == 1 {
			var m chat.Message
			if err := json.Unmarshal(got[bob][0], &m); err != nil {
				t.Fatal(err)
			}
			if m.From != "alice" || m.Room != "general" || m.Text != "hello, room" || m.ID == "" || m.SentAt == "" || m.Seq != 1 {
				t.Errorf("bob got %+v", m)
			}
		}
	})

	t.Run("a message with a clientMsgId is acked once and stored once", func(t *testing.T) {
		ev := loadEvent(t, "message.json", alice)
		ev.Body = `{"action":"chat message","text":"exactly once","clientMsgId":"rie-1"}`
		first := invoke(t, fns["MessageFunction"].url, fns["MessageFunction"].log, ev)
		got := expectPosts(map[string][]string{alice: {"ack"}, bob: {"chat message"}, dave: {"chat message"}})
		// A retry (a reconnected page resending) is acked the same and not broadcast.
		again := invoke(t, fns["MessageFunction"].url, fns["MessageFunction"].log, ev)
		gotAgain := expectPosts(map[string][]string{alice: {"ack"}})
		if first.StatusCode != http.StatusOK || again.StatusCode != http.StatusOK {
			t.Fatalf("statuses %d, %d; want 200", first.StatusCode, again.StatusCode)
		}
		if len(got[alice]) == 1 && len(gotAgain[alice]) == 1 {
			var ack chat.Ack
			if err := json.Unmarshal(got[alice][0], &ack); err != nil || ack.Seq != 2 || ack.ClientMsgID != "rie-1" {
				t.Errorf("ack = %s, want seq 2 for rie-1", got[alice][0])
			}
			if !bytes.Equal(got[alice][0], gotAgain[alice][0]) {
				t.Errorf("second ack %s differs from the first %s", gotAgain[alice][0], got[alice][0])
			}
		}
	})

	t.Run("the fan-out function posts an SQS batch and reports a bad record", func(t *testing.T) {
		batch, _ := json.Marshal(chat.Batch{Room: "general", Seq: 9, Endpoint: mgmt,
			Frame: json.RawMessage(`{"type":"chat message","text":"from the queue"}`), Recipients: []chat.Member{{ID: bob}, {ID: dave}}})
		ev := events.SQSEvent{Records: []events.SQSMessage{
			{MessageId: "good", Body: string(batch)}, {MessageId: "bad", Body: "{"},
		}}
		body, err := invokeRaw(fns["FanoutFunction"].url, ev)
		if err != nil {
			t.Fatalf("invoke: %v\n%s", err, testenv.ReadLog(fns["FanoutFunction"].log))
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "bad" {
			t.Errorf("response %s, want the bad record reported alone", body)
		}
		expectPosts(map[string][]string{bob: {"chat message"}, dave: {"chat message"}})
	})

	t.Run("history sends the room's messages to the requester alone", func(t *testing.T) {
		resp := call("HistoryFunction", "history.json", dave)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200", resp.StatusCode, resp.Body)
		}
		got := expectPosts(map[string][]string{dave: {"history"}})
		var h chat.HistoryFrame
		if len(got[dave]) == 1 {
			if err := json.Unmarshal(got[dave][0], &h); err != nil {
				t.Fatal(err)
			}
		}
		var texts []string
		for _, m := range h.Messages {
			texts = append(texts, fmt.Sprintf("%d:%s", m.Seq, m.Text))
		}
		if want := []string{"1:hello, room", "2:exactly once"}; fmt.Sprint(texts) != fmt.Sprint(want) {
			t.Errorf("history = %q, want %q", texts, want)
		}
	})

	t.Run("bad message answers the sender alone", func(t *testing.T) {
		resp := call("MessageFunction", "message-bad.json", alice)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d %q, want 400", resp.StatusCode, resp.Body)
		}
		got := expectPosts(map[string][]string{alice: {"error"}})
		if len(got[alice]) == 1 && !strings.Contains(string(got[alice][0]), `"code":"empty_text"`) {
			t.Errorf("error frame %s, want code empty_text", got[alice][0])
		}
	})

	t.Run("default route answers the sender alone", func(t *testing.T) {
		resp := call("DefaultFunction", "default.json", alice)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d %q, want 400", resp.StatusCode, resp.Body)
		}
		got := expectPosts(map[string][]string{alice: {"error"}})
		if len(got[alice]) == 1 && !strings.Contains(string(got[alice][0]), `"code":"unknown_action"`) {
			t.Errorf("error frame %s, want code unknown_action", got[alice][0])
		}
	})

	t.Run("gone connection is deleted during a broadcast", func(t *testing.T) {
		// dave connected a minute ago: past chat.ConnectGrace, a 410 is proof.
		connectedAgo(t, ctx, db, table, dave, time.Minute)
		conns.markGone(dave)
		resp := call("MessageFunction", "message.json", bob)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200", resp.StatusCode, resp.Body)
		}
		// dave leaves as by $disconnect: the rest of the room is told.
		expectPosts(map[string][]string{alice: {"chat message", "left"}, bob: {"left"}})
		if item := getItem(t, ctx, db, table, dave); item != nil {
			t.Errorf("gone connection still stored: %v", item)
		}
	})

	t.Run("disconnect deletes the connection", func(t *testing.T) {
		resp := call("DisconnectFunction", "disconnect.json", alice)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200", resp.StatusCode, resp.Body)
		}
		if item := getItem(t, ctx, db, table, alice); item != nil {
			t.Errorf("item still stored after disconnect: %v", item)
		}
		if item := getItem(t, ctx, db, table, bob); item == nil {
			t.Errorf("bob's item deleted by alice's disconnect")
		}
		expectPosts(map[string][]string{bob: {"left"}})
		// Now bob's message reaches nobody: carol is in another room.
		if resp := call("MessageFunction", "message.json", bob); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %q, want 200", resp.StatusCode, resp.Body)
		}
		expectPosts(nil)
	})
}

// TestFunctionConfigError checks that a function with a bad environment fails
// its init, naming every bad variable, instead of failing inside a handler.
func TestFunctionConfigError(t *testing.T) {
	testenv.RIE(t)
	bins := bootstraps(t)
	u, logPath := startRIE(t, "bad-config", bins["ConnectFunction"], map[string]string{
		"AWS_ACCESS_KEY_ID": "fake", "AWS_SECRET_ACCESS_KEY": "fake",
		"AWS_REGION": region, "POST_WORKERS": "lots", "DYNAMODB_ENDPOINT": "not a url",
	})
	body, err := invokeRaw(u, loadEvent(t, "connect.json", "NoConfigConnID="))
	if err == nil {
		t.Fatalf("invocation succeeded without TABLE_NAME: %s", body)
	}
	log := testenv.ReadLog(logPath)
	for _, name := range []string{"TABLE_NAME", "POST_WORKERS", "DYNAMODB_ENDPOINT"} {
		if !strings.Contains(log, name) {
			t.Errorf("the function's log does not name %s:\n%s", name, log)
		}
	}
}

// connectedAgo makes the stored connection id look connected d ago. The
// room index tells a broadcast a member's age by its expiresAt, which is
// connectedAt + chat.TTL, so both move.
func connectedAgo(t *testing.T, ctx context.Context, db *dynamodb.Client, table, id string, d time.Duration) {
	t.Helper()
	then := time.Now().Add(-d)
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(table),
		Key:              map[string]types.AttributeValue{"connectionId": &types.AttributeValueMemberS{Value: id}},
		UpdateExpression: aws.String("SET connectedAt = :then, expiresAt = :expires"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":then":    &types.AttributeValueMemberN{Value: strconv.FormatInt(then.UnixMilli(), 10)},
			":expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(then.Add(chat.TTL).Unix(), 10)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}
