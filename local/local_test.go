package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

const wait = 60 * time.Second

// server is the local adapter running in the test process.
type server struct {
	addr string
	log  *testenv.LogBuffer
	stop func() error
}

// start runs serve with the flags in args on a free port.
func start(t *testing.T, args ...string) *server {
	t.Helper()
	return startOn(t, "127.0.0.1:0", args...)
}

// startOn runs serve with the flags in args on addr.
func startOn(t *testing.T, addr string, args ...string) *server {
	t.Helper()
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: ln.Addr().String(), log: &testenv.LogBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- serve(ctx, cfg, ln, io.Discard, log) }()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	if err := testenv.WaitHTTP("http://"+s.addr+"/config.json", wait); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"CHAT_ADDR": "127.0.0.1:9999", "CHAT_STAGE": "dev"}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:9999" || cfg.stage != "dev" || cfg.usesDynamo() || len(cfg.lambdaRoutes) != 0 {
		t.Errorf("from the environment: %+v", cfg)
	}
	cfg, err = parseConfig([]string{"-stage", "prod", "-lambda-route", "$connect=http://127.0.0.1:9001",
		"-lambda-route", "chat message=http://127.0.0.1:9002", "-idle-timeout", "1s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.stage != "prod" || cfg.lambdaRoutes["$connect"] != "http://127.0.0.1:9001" ||
		cfg.lambdaRoutes["chat message"] != "http://127.0.0.1:9002" || cfg.limits.IdleTimeout != time.Second {
		t.Errorf("flags win over the environment: %+v", cfg)
	}
	if cfg.cpuProfile != "" {
		t.Errorf("cpuProfile %q by default, want none", cfg.cpuProfile)
	}
	if cfg, err = parseConfig([]string{"-cpuprofile", "x.pprof"}, func(string) string { return "" }, io.Discard); err != nil || cfg.cpuProfile != "x.pprof" {
		t.Errorf("-cpuprofile x.pprof: cpuProfile %q, %v", cfg.cpuProfile, err)
	}
	bad := [][]string{
		{"-lambda-route", "nope"},
		{"-lambda-route", "$other=http://x"},
		{"-lambda-route", "$connect=ftp://x"},
		{"-lambda-endpoint", "127.0.0.1:3001"},
		{"-dynamodb", "-dynamodb-endpoint", "http://127.0.0.1:8000"},
		{"-idle-timeout", "0s"},
		{"-stage", "a/b"},
		{"-log-level", "loud"},
		{"-allowed-origins", "https://chat.example/page"},
		{"-auth", "dev", "-jwt-issuer", "https://x.example"},
		{"-send-burst", "-1"},
		{"-room-cap", "0"},
		{"-functions", "docker"},
		{"extra"},
	}
	for _, args := range bad {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// The -cpuprofile file is a pprof profile (gzip-compressed protocol
// buffers) once profiling stops.
func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("profile starts with % x, want gzip's 1f 8b", b[:min(len(b), 8)])
	}
	if _, err := startCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.pprof")); err == nil {
		t.Error("a profile in a missing directory: no error")
	}
}

func TestServesThePageAndItsConfig(t *testing.T) {
	s := start(t, "-stage", "dev")
	resp, err := http.Get("http://" + s.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("GET /: %d %.80q", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' ws://"+s.addr) {
		t.Errorf("Content-Security-Policy %q lacks ws://%s", csp, s.addr)
	}
	// config.json names the address the adapter listens on, whatever Host
	// the request claims: a Host header is the client's to set.
	for _, host := range []string{s.addr, "localhost:" + strings.Split(s.addr, ":")[1], "evil.example:80"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+"/config.json", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]string
		err = json.NewDecoder(resp.Body).Decode(&cfg)
		resp.Body.Close()
		if err != nil || cfg["websocketUrl"] != "ws://"+s.addr+"/dev" {
			t.Errorf("config.json for Host %s: %v %v, want ws://%s/dev", host, cfg, err, s.addr)
		}
	}
}

// chatClient is a real WebSocket client of the local adapter.
type chatClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, wsURL, name, room string) *chatClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL+"?name="+name+"&room="+room, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &chatClient{t: t, ws: ws}
}

func (c *chatClient) say(text string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": text})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next frame but join and leave notices, which depend on
// the timing of the others' connections (presenceScenario checks them).
func (c *chatClient) next() map[string]any {
	c.t.Helper()
	for {
		m := c.nextAny()
		if m["type"] != chat.TypeJoined && m["type"] != chat.TypeLeft {
			return m
		}
	}
}

func (c *chatClient) nextAny() map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("%q: %v", b, err)
	}
	return m
}

// chatScenario is the same conversation in every mode: three clients, each
// message reaching the two others, bad input answered to its sender.
func chatScenario(t *testing.T, wsURL, room string) {
	t.Helper()
	alice := dial(t, wsURL, "alice", room)
	bob := dial(t, wsURL, "bob", room)
	carol := dial(t, wsURL, "carol", room)
	alice.say("hello from alice")
	for _, c := range []*chatClient{bob, carol} {
		if m := c.next(); m["from"] != "alice" || m["text"] != "hello from alice" || m["room"] != room {
			t.Errorf("got %v, want alice's message", m)
		}
	}
	bob.say("hello from bob")
	if m := alice.next(); m["from"] != "bob" {
		t.Errorf("alice got %v, want bob's message (never her own)", m)
	}
	carol.next()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := carol.ws.Write(ctx, websocket.MessageText, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if m := carol.next(); m["type"] != "error" || m["code"] != chat.CodeInvalidJSON {
		t.Errorf("carol got %v, want an invalid_json error frame", m)
	}
	carol.say("still here")
	for _, c := range []*chatClient{alice, bob} {
		if m := c.next(); m["text"] != "still here" {
			t.Errorf("got %v, want carol's message", m)
		}
	}

	// Reliable delivery: a message with a clientMsgId is acked with its
	// seq, and a resend is acked the same and not broadcast again.
	send := func(c *chatClient, frame string) {
		t.Helper()
		if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	msg := `{"action":"chat message","text":"acked","clientMsgId":"scenario-1"}`
	send(alice, msg)
	ack := alice.next()
	if ack["type"] != "ack" || ack["clientMsgId"] != "scenario-1" || ack["seq"] != float64(4) {
		t.Errorf("alice got %v, want the ack of seq 4", ack)
	}
	send(alice, msg)
	if again := alice.next(); fmt.Sprint(again) != fmt.Sprint(ack) {
		t.Errorf("resend got %v, want the same ack %v", again, ack)
	}
	// A ping (a MOCK route) answers nothing: the next frame bob gets is
	// alice's message, then his history.
	send(bob, `{"action":"ping"}`)
	if m := bob.next(); m["text"] != "acked" || m["seq"] != float64(4) {
		t.Errorf("bob got %v, want alice's acked message, seq 4", m)
	}
	// A late joiner catches up from the room's history.
	dave := dial(t, wsURL, "dave", room)
	send(dave, `{"action":"history"}`)
	h := dave.next()
	msgs, _ := h["messages"].([]any)
	var got []string
	for _, m := range msgs {
		m := m.(map[string]any)
		got = append(got, fmt.Sprintf("%v:%v", m["seq"], m["text"]))
	}
	if want := "[1:hello from alice 2:hello from bob 3:still here 4:acked]"; h["type"] != "history" || fmt.Sprint(got) != want || h["more"] != false {
		t.Errorf("dave got %v (messages %v), want history %s", h, got, want)
	}
}

func TestChatInMemory(t *testing.T) {
	s := start(t)
	chatScenario(t, "ws://"+s.addr+"/local", "general")
	presenceScenario(t, "ws://"+s.addr+"/local", "presence")
	secretNotLogged(t, s.log.String())
}

func dynamoClient(t *testing.T, endpoint string) *dynamodb.Client {
	cfg, _ := awsConfig(context.Background(), config{region: "us-east-1"}, false)
	return dynamo.NewClient(cfg, endpoint)
}

// scanCount counts the table's connections.
func scanCount(t *testing.T, client *dynamodb.Client, table string) int32 {
	t.Helper()
	// Connections only: the table also keeps counters (the room's count,
	// budgets), whose keys start with "#" (see dynamo's counters.go).
	out, err := client.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("NOT begins_with(connectionId, :counter)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":counter": &types.AttributeValueMemberS{Value: "#"}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Count
}

var tableSeq atomic.Int64

func TestChatWithDynamoDBLocal(t *testing.T) {
	endpoint := testenv.DynamoDB(t)
	table := fmt.Sprintf("local-test-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	s := start(t, "-dynamodb-endpoint", endpoint, "-table", table)
	chatScenario(t, "ws://"+s.addr+"/local", "dynamo-room")
	presenceScenario(t, "ws://"+s.addr+"/local", "dynamo-presence")
	client := dynamoClient(t, endpoint)
	// The chat's four and ann of the presence scenario (ben left).
	if n := scanCount(t, client, table); n != 5 {
		t.Errorf("table holds %d connections, want 5", n)
	}
	// Shutdown closes the five connections and each $disconnect deletes its item.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if n := scanCount(t, client, table); n != 0 {
		t.Errorf("table holds %d connections after shutdown, want 0", n)
	}
}

// TestSignalClosesEveryConnection runs the built command and stops it with
// SIGTERM: each client gets 1001, each $disconnect runs, the command exits 0.
func TestSignalClosesEveryConnection(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "local")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			port := testenv.FreePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			cmd := exec.Command(bin, "-addr", addr, "-log-level", "debug")
			var stderr testenv.LogBuffer
			cmd.Stderr = &stderr
			cmd.Stdout = io.Discard
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			if err := testenv.WaitHTTP("http://"+addr+"/config.json", wait); err != nil {
				t.Fatal(err)
			}
			clients := []*chatClient{dial(t, "ws://"+addr+"/local", "alice", "x"), dial(t, "ws://"+addr+"/local", "bob", "x")}
			codes := make(chan websocket.StatusCode, len(clients))
			for _, c := range clients {
				go func() {
					for {
						if _, _, err := c.ws.Read(context.Background()); err != nil {
							codes <- websocket.CloseStatus(err)
							return
						}
					}
				}()
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for range clients {
				if got := <-codes; got != websocket.StatusGoingAway {
					t.Errorf("client closed with %v, want 1001", got)
				}
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("exit: %v\n%s", err, stderr.String())
				}
			case <-time.After(wait):
				t.Fatal("still running after the signal")
			}
			if n := strings.Count(stderr.String(), "msg=disconnected"); n != len(clients) {
				t.Errorf("%d $disconnect runs logged, want %d:\n%s", n, len(clients), stderr.String())
			}
			if !strings.Contains(stderr.String(), "disconnectStatusCode=1001") {
				t.Errorf("no disconnectStatusCode=1001 in the log:\n%s", stderr.String())
			}
		})
	}
}

// TestChatWithTheLambdaFunctionsUnderRIE builds the functions as `sam
// build` does, runs each under its own aws-lambda-rie against DynamoDB
// Local, and chats through the local adapter in Lambda-invoke mode: the
// functions post back through its @connections API.
func TestChatWithTheLambdaFunctionsUnderRIE(t *testing.T) {
	rie := testenv.RIE(t)
	endpoint := testenv.DynamoDB(t)
	table := fmt.Sprintf("local-rie-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AWS_REGION=us-east-1",
		// DynamoDB Local keeps one database per access key and region
		// (without -sharedDb): the functions use the adapter's.
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true",
		"TABLE_NAME=" + table, "MESSAGES_TABLE=" + table + "-messages", "DYNAMODB_ENDPOINT=" + endpoint,
		"MANAGEMENT_API_ENDPOINT=http://" + addr + "/local", "LOG_LEVEL=info",
		// Each function runs one invocation at a time under its RIE: the
		// shutdown's $disconnects would wait the 5 s grace one after the
		// other.
		"LEAVE_GRACE=100ms",
	}
	args := []string{"-dynamodb-endpoint", endpoint, "-table", table, "-messages-table", table + "-messages"}
	for route, fn := range samFunctions {
		out := filepath.Join(dir, fn)
		build := exec.Command("make", "--no-print-directory", "build-"+fn, "ARTIFACTS_DIR="+out, "LAMBDA_GOARCH="+runtime.GOARCH)
		build.Dir = testenv.RepoRoot()
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", fn, err, b)
		}
		rieAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		runtimeAPI := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		cmd := exec.Command(rie, "--runtime-interface-emulator-address", rieAddr, "--runtime-api-address", runtimeAPI,
			filepath.Join(out, "bootstrap"))
		cmd.Dir = out
		cmd.Env = env
		logPath := filepath.Join(dir, fn+".log")
		if err := testenv.Start(cmd, logPath); err != nil {
			t.Fatal(err)
		}
		if err := testenv.WaitHTTP("http://"+rieAddr, wait); err != nil {
			t.Fatalf("%s: %v\n%s", fn, err, testenv.ReadLog(logPath))
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log:\n%s", fn, testenv.ReadLog(logPath))
			}
		})
		args = append(args, "-lambda-route", route+"="+"http://"+rieAddr)
	}
	s := startOn(t, addr, args...)
	chatScenario(t, "ws://"+s.addr+"/local", "lambda-room")
	presenceScenario(t, "ws://"+s.addr+"/local", "lambda-presence")
	logs := s.log.String()
	for _, fn := range samFunctions {
		logs += testenv.ReadLog(filepath.Join(dir, fn+".log"))
	}
	secretNotLogged(t, logs)
	client := dynamoClient(t, endpoint)
	if n := scanCount(t, client, table); n != 5 {
		t.Errorf("table holds %d connections, want 5 (stored by ConnectFunction)", n)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if n := scanCount(t, client, table); n != 0 {
		t.Errorf("table holds %d connections after shutdown, want 0 (deleted by DisconnectFunction)", n)
	}
}

// presenceScenario is the Socket.io feature set in every mode: join and
// leave notices with the count, who, typing, a direct message, a rename.
func presenceScenario(t *testing.T, wsURL, room string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	send := func(c *chatClient, frame string) {
		t.Helper()
		if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(c *chatClient, who string, want map[string]any) {
		t.Helper()
		got := c.nextAny()
		for k, v := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("%s got %v, want %v", who, got, want)
				return
			}
		}
	}
	ann := dialAs(t, wsURL, "ann", room, annSecret)
	ben := dial(t, wsURL, "ben", room)
	joined := ann.nextAny()
	if joined["type"] != "joined" || joined["name"] != "ben" || fmt.Sprint(joined["count"]) != "2" {
		t.Errorf("ann got %v, want ben's join", joined)
	}
	benID, _ := joined["userId"].(string)

	send(ben, `{"action":"who"}`)
	who := ben.nextAny()
	you, _ := who["you"].(map[string]any)
	if who["type"] != "members" || fmt.Sprint(who["count"]) != "2" || you["userId"] != benID || you["name"] != "ben" {
		t.Errorf("ben's who = %v, want two people, and ben as %s", who, benID)
	}
	var annID string
	for _, m := range who["members"].([]any) {
		if m := m.(map[string]any); m["name"] == "ann" {
			annID, _ = m["userId"].(string)
		}
	}

	// A second tab of ann's (the same secret) is the same person: no join
	// notice, her name, and private messages reach it too.
	annTab := dialAs(t, wsURL, "someone-else", room, annSecret)
	send(annTab, `{"action":"who"}`)
	expect(annTab, "ann's tab", map[string]any{"type": "members", "count": 2, "you": map[string]any{"name": "ann", "userId": annID}})

	send(ann, `{"action":"typing"}`)
	expect(ben, "ben", map[string]any{"type": "typing", "from": "ann", "fromId": annID})

	send(ann, `{"action":"direct message","toId":"`+benID+`","text":"just you","clientMsgId":"dm-`+room+`"}`)
	expect(ann, "ann", map[string]any{"type": "ack", "clientMsgId": "dm-" + room, "seq": 1})
	expect(ben, "ben", map[string]any{"type": "direct message", "from": "ann", "fromId": annID, "to": "ben", "toId": benID, "text": "just you"})
	expect(annTab, "ann's tab", map[string]any{"type": "direct message", "fromId": annID, "text": "just you"})
	send(ann, `{"action":"direct message","toId":"`+annID+`","text":"hello?"}`)
	expect(ann, "ann", map[string]any{"type": "error", "code": chat.CodeNoSuchMember})
	// The conversation's history, for its two people alone.
	conversation := chat.ConversationID(annID, benID)
	send(ben, `{"action":"history","conversation":"`+conversation+`","since":0}`)
	expect(ben, "ben", map[string]any{"type": "history", "conversation": conversation})

	send(ben, `{"action":"rename","name":"ANN"}`)
	expect(ben, "ben", map[string]any{"type": "error", "code": chat.CodeNameTaken})
	send(ben, `{"action":"rename","name":"Benjamin"}`)
	for _, c := range []*chatClient{ann, annTab, ben} {
		expect(c, "a member", map[string]any{"type": "renamed", "userId": benID, "from": "ben", "name": "Benjamin"})
	}
	if err := annTab.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := ben.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	// One of ann's two tabs closing is no leave: the next notice is ben's,
	// after the leave grace.
	expect(ann, "ann", map[string]any{"type": "left", "name": "Benjamin", "userId": benID, "count": 1})
}

// annSecret is ann's in presenceScenario.
const annSecret = "ann-secret-0123456789abcdef"

// secretNotLogged checks a run's log at debug level (the functions' own
// lines included, under the built-in Runtime API) for ann's secret: it
// travels in a header that neither host may log.
func secretNotLogged(t *testing.T, log string) {
	t.Helper()
	if strings.Contains(log, annSecret) {
		t.Errorf("the anonymous secret is in the log")
	}
	if !strings.Contains(log, "connected") {
		t.Errorf("the log holds no connection line: nothing was checked")
	}
}

// dialAs connects as the anonymous person whose client keeps secret, as
// the page does (docs/protocol.md, "Who you are"), and checks that the
// handshake selected chat.v1 and did not echo the secret.
func dialAs(t *testing.T, wsURL, name, room, secret string) *chatClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, wsURL+"?name="+name+"&room="+room,
		&websocket.DialOptions{Subprotocols: []string{chat.ProtocolName, chat.SecretProtocolPrefix + secret}})
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != chat.ProtocolName {
		t.Errorf("handshake selected %q, want %q alone", got, chat.ProtocolName)
	}
	return &chatClient{t: t, ws: ws}
}
