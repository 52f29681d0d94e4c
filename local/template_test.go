package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/testenv"
)

// gameTemplate copies testdata/game to a temporary directory and builds its
// two functions' bootstraps where sam build puts them.
func gameTemplate(t *testing.T, file string) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "game", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "template.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"GameFunction", "AuthFunction"} {
		out := filepath.Join(dir, ".aws-sam", "build", id, "bootstrap")
		cmd := exec.Command("go", "build", "-o", out, "./testdata/game/fn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", id, err, b)
		}
	}
	return filepath.Join(dir, "template.yaml")
}

// TestAnyTemplate runs a WebSocket API that is not the chat from its SAM
// template, in both forms: its own route names, a nested selection
// expression, no $default, a two-way route, a MOCK route with a route
// response, a REQUEST authorizer, and its functions' bootstraps under the
// built-in Runtime API.
func TestAnyTemplate(t *testing.T) {
	for _, file := range []string{"template.yaml", "template-sam.yaml"} {
		t.Run(file, func(t *testing.T) { runGame(t, gameTemplate(t, file)) })
	}
}

func runGame(t *testing.T, tpl string) {
	s := start(t, "-template", tpl, "-parameter-overrides", "Greeting=bonjour", "-stage", "play")
	url := "ws://" + s.addr + "/play"
	if got := handshake(t, url, nil); got != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", got)
	}
	if got := handshake(t, url+"?token=bad", nil); got != http.StatusForbidden {
		t.Errorf("bad token: status %d, want 403", got)
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
	// A one-way route: nothing comes back. Then the two-way route's reply,
	// which must be the next frame.
	send(`{"meta":{"kind":"shout"}}`)
	send(`{"meta":{"kind":"move"},"x":7}`)
	if m := c.nextAny(); m["moved"] != float64(7) || m["player"] != "p1" || m["greeting"] != "bonjour" {
		t.Errorf("move reply = %v, want moved 7 by p1 (the authorizer's context) with the overridden greeting", m)
	}
	send(`{"meta":{"kind":"status"}}`)
	if m := c.nextAny(); m["status"] != "ok" {
		t.Errorf("MOCK route reply = %v, want its response template", m)
	}
	send(`{"meta":{"kind":"nothing"}}`)
	if m := c.nextAny(); m["message"] != "Forbidden" {
		t.Errorf("no route and no $default: %v, want the Forbidden frame", m)
	}
	send(`{"action":"move"}`)
	if m := c.nextAny(); m["message"] != "Forbidden" {
		t.Errorf("the chat's selection key: %v, want Forbidden (this API selects by meta.kind)", m)
	}
	send(`{"meta":{"kind":"boom"}}`)
	if m := c.nextAny(); m["message"] != "Internal server error" {
		t.Errorf("a failing function: %v, want the Internal server error frame", m)
	}
}

// TestTemplateStageAndTimeout: without -stage the template's StageName is
// served (another stage answers 403, as API Gateway does), and a route's
// TimeoutInMillis (1 s, on a function that takes 3 s) sends the Internal
// server error frame after it.
func TestTemplateStageAndTimeout(t *testing.T) {
	s := start(t, "-template", gameTemplate(t, "template.yaml"))
	if got := handshake(t, "ws://"+s.addr+"/local?token=good", nil); got != http.StatusForbidden {
		t.Errorf("/local: status %d, want 403 (the template's stage is play)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/play?token=good", nil)
	if err != nil {
		t.Fatalf("/play: %v", err)
	}
	defer ws.CloseNow()
	c := &chatClient{t: t, ws: ws}
	sent := time.Now()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"meta":{"kind":"slow"}}`)); err != nil {
		t.Fatal(err)
	}
	if m := c.nextAny(); m["message"] != "Internal server error" {
		t.Errorf("slow route: %v, want the Internal server error frame", m)
	}
	if took := time.Since(sent); took < 900*time.Millisecond || took > 2900*time.Millisecond {
		t.Errorf("Internal server error after %v, want about the route's TimeoutInMillis (1 s)", took)
	}
}

// TestUnsupportedTemplate: something the emulator cannot honour stops it
// at start, naming the resource and the property.
func TestUnsupportedTemplate(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.ReadFile(filepath.Join("testdata", "game", "template.yaml"))
	bad := strings.Replace(string(src), "      ProtocolType: WEBSOCKET\n", "      ProtocolType: WEBSOCKET\n      ApiKeySelectionExpression: $request.header.x-api-key\n", 1)
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"-template", path}, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadTemplate(cfg, "127.0.0.1:8080", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "GameApi") || !strings.Contains(err.Error(), "ApiKeySelectionExpression") {
		t.Errorf("err = %v, want one naming GameApi and ApiKeySelectionExpression", err)
	}
}

// TestChatTemplateWithItsBootstraps runs this project's template with its
// functions' real bootstraps under the built-in Runtime API (no RIE, no
// Docker), against DynamoDB Local: the chat and presence scenarios.
func TestChatTemplateWithItsBootstraps(t *testing.T) {
	endpoint := testenv.DynamoDB(t)
	table := fmt.Sprintf("local-bootstrap-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "template.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"ConnectFunction", "DisconnectFunction", "MessageFunction", "DefaultFunction", "HistoryFunction", "PresenceFunction"} {
		build := exec.Command("make", "--no-print-directory", "build-"+fn,
			"ARTIFACTS_DIR="+filepath.Join(dir, ".aws-sam", "build", fn), "LAMBDA_GOARCH="+runtime.GOARCH)
		build.Dir = testenv.RepoRoot()
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", fn, err, b)
		}
	}
	// The message function's bootstrap reaches the review function's
	// through the SDK and the adapter's Invoke API, as deployed.
	s := start(t, "-template", filepath.Join(dir, "template.yaml"), "-functions", "bootstrap",
		"-dynamodb-endpoint", endpoint, "-table", table, "-messages-table", table+"-messages",
		"-parameter-overrides", "ReviewFunctionArn=ReviewFunction ReviewTimeoutMs=10000",
		"-review", buildReviewFunction(t), "-review-env", "MASK_WORDS=darn", "-review-env", "DENY_WORDS=spam")
	chatScenario(t, "ws://"+s.addr+"/local", "bootstrap-room")
	presenceScenario(t, "ws://"+s.addr+"/local", "bootstrap-presence")
	reviewScenario(t, "ws://"+s.addr+"/local", "bootstrap-review")
	client := dynamoClient(t, endpoint)
	// The chat's four, ann of the presence scenario, and the review's two.
	if n := scanCount(t, client, table); n != 7 {
		t.Errorf("table holds %d connections, want 7 (stored by ConnectFunction's bootstrap)", n)
	}
	if !strings.Contains(s.log.String(), "function=ConnectFunction") {
		t.Errorf("the functions' own log lines are not in the adapter's log, named by function")
	}
}

// TestTemplateRoutesInProcess: with this project's template in process, a
// route taken out of the template is gone locally too (Forbidden frame, as
// the API would answer without it), and one the handlers do not know is
// refused at start.
func TestTemplateRoutesInProcess(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Without the who route (its route resource), the template's API has none.
	noWho := regexpWhoRoute.ReplaceAllString(string(src), "$1")
	if noWho == string(src) {
		t.Fatal("the template's WhoRoute was not found")
	}
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(noWho, " WhoRoute,", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, "-template", path)
	c := dial(t, "ws://"+s.addr+"/local", "alice", "routes")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(`{"action":"who"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		m := c.nextAny()
		if m["type"] == "joined" {
			continue
		}
		// $default answers unknown actions with the chat's error frame.
		if m["type"] != "error" || m["code"] != "unknown_action" {
			t.Errorf("who without its route: %v, want $default's unknown_action", m)
		}
		break
	}
}

// regexpWhoRoute matches the WhoRoute resource, up to the next resource.
var regexpWhoRoute = regexp.MustCompile(`(?s)\n  WhoRoute:\n.*?(\n  [A-Za-z]+:\n)`)
