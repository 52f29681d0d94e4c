package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/testenv"
)

// The AWS SDK for JavaScript v3 the Node.js app uses: `make test-deps`
// installs it into .cache/node (the Python app uses this machine's boto3).
const awsSDKJSVersion = "3.1178.0"

// copyApp copies testdata/<name> to a temporary directory.
func copyApp(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "-R", filepath.Join("testdata", name), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", name, err, out)
	}
	return dst
}

// nodeModules returns .cache/node/node_modules with the SDK's clients.
func nodeModules(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node", "install Node.js 18 or later (apt-get install nodejs)")
	}
	dir := filepath.Join(testenv.CacheDir(), "node", "node_modules")
	for _, pkg := range []string{"client-dynamodb", "client-apigatewaymanagementapi"} {
		if _, err := os.Stat(filepath.Join(dir, "@aws-sdk", pkg, "package.json")); err != nil {
			testenv.Missing(t, "@aws-sdk/"+pkg+"@"+awsSDKJSVersion+" in "+dir, testenv.InstallHint)
		}
	}
	return dir
}

func requirePython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		testenv.Missing(t, "python3", "install Python 3.9 or later with boto3 (apt-get install python3-boto3)")
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		testenv.Missing(t, "boto3", "pip install boto3")
	}
}

// TestNodeApp runs a Node.js WebSocket app as AWS's samples write it,
// unchanged, from its SAM template: its functions natively, its table in
// DynamoDB Local, @connections over https at the events' domainName, a
// $connect authorizer.
func TestNodeApp(t *testing.T) {
	modules := nodeModules(t)
	dir := copyApp(t, "nodeapp")
	if err := os.Symlink(modules, filepath.Join(dir, "src", "node_modules")); err != nil {
		t.Fatal(err)
	}
	runApp(t, dir, "dev", "&token=letmein")
}

// TestPythonApp is TestNodeApp for a Python app with boto3, with an
// integration timeout instead of a function timeout and no authorizer.
func TestPythonApp(t *testing.T) {
	requirePython(t)
	runApp(t, copyApp(t, "pyapp"), "Prod", "")
}

// runApp: three clients chat; a stale connection in the table is answered
// 410 and deleted by the app; a message without data is the app's error
// and a slow route a timeout (the Internal server error frame, each); a
// client that leaves is deleted by $disconnect.
func runApp(t *testing.T, dir, stage, query string) {
	endpoint := testenv.DynamoDB(t)
	table := fmt.Sprintf("app-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	s := start(t, "-template", filepath.Join(dir, "template.yaml"), "-dynamodb-endpoint", endpoint,
		"-parameter-overrides", "TableName="+table)
	url := "ws://" + s.addr + "/" + stage
	if query != "" {
		if got := handshake(t, url+"?name=x", nil); got != http.StatusUnauthorized {
			t.Errorf("no token: status %d, want 401", got)
		}
		if got := handshake(t, url+"?name=x&token=wrong", nil); got != http.StatusForbidden {
			t.Errorf("wrong token: status %d, want 403", got)
		}
	}
	client := dynamoClient(t, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var clients []*websocket.Conn
	for _, name := range []string{"ann", "bob", "cy"} {
		ws, resp, err := websocket.Dial(ctx, url+"?name="+name+query, nil)
		if err != nil {
			t.Fatalf("%s: %v (%v)\n%s", name, err, resp, s.log)
		}
		defer ws.CloseNow()
		clients = append(clients, ws)
	}
	if n := scanCount(t, client, table); n != 3 {
		t.Fatalf("the app's table holds %d connections, want 3 (written by its $connect)", n)
	}
	// A connection the app stored that is gone: posting to it answers 410.
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table),
		Item: map[string]dynamotypes.AttributeValue{"connectionId": &dynamotypes.AttributeValueMemberS{Value: "stale0000000000="}}}); err != nil {
		t.Fatal(err)
	}
	send := func(ws *websocket.Conn, frame string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(ws *websocket.Conn) string {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v\n%s", err, s.log)
		}
		return string(b)
	}
	send(clients[0], `{"action":"sendmessage","data":"hello from ann"}`)
	for i, ws := range clients {
		if got := read(ws); got != "hello from ann" {
			t.Errorf("client %d got %q, want the message", i, got)
		}
	}
	// The app deletes the stale connection once its post answered 410,
	// which may be after the others received the message.
	waitCount(t, client, table, 3, "after the broadcast (the stale one deleted on 410)")
	send(clients[1], `{"action":"sendmessage"}`)
	if got := read(clients[1]); !strings.Contains(got, `"Internal server error"`) {
		t.Errorf("the app's error: %q, want the Internal server error frame", got)
	}
	start := time.Now()
	send(clients[2], `{"action":"slow"}`)
	if got := read(clients[2]); !strings.Contains(got, `"Internal server error"`) {
		t.Errorf("a timeout: %q, want the Internal server error frame", got)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the timeout took %v, want about 1 s", took)
	}
	clients[2].Close(websocket.StatusNormalClosure, "")
	waitCount(t, client, table, 2, "after one left ($disconnect)")
	if !strings.Contains(s.log.String(), "Found stale connection") {
		t.Errorf("the app's log line is not in the adapter's log")
	}
}

// waitCount waits until the table holds want items.
func waitCount(t *testing.T, client *dynamodb.Client, table string, want int32, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := scanCount(t, client, table)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the table holds %d connections %s, want %d", n, when, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
