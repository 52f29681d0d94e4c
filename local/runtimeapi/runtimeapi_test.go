package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/serverless-chat/chat/internal/gateway"
	"github.com/serverless-chat/chat/internal/testenv"
)

// A pool is what the gateway's Lambda integration calls.
var _ gateway.LambdaAPI = (*Pool)(nil)

// bootstrapV1 and bootstrapV2 are builds of testdata/fn, told apart by
// main.version.
var bootstrapV1, bootstrapV2 string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "runtimeapi-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bootstrapV1 = filepath.Join(dir, "v1", "bootstrap")
	bootstrapV2 = filepath.Join(dir, "v2", "bootstrap")
	for _, b := range []struct{ out, version string }{{bootstrapV1, "1"}, {bootstrapV2, "2"}} {
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+b.version, "-o", b.out, "./testdata/fn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build the test function: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// reply is what testdata/fn answers.
type reply struct {
	Version      string   `json:"version"`
	FunctionName string   `json:"functionName"`
	RequestID    string   `json:"requestId"`
	FunctionARN  string   `json:"functionArn"`
	DeadlineMS   int64    `json:"deadlineMs"`
	Memory       string   `json:"memory"`
	PID          int      `json:"pid"`
	ChildPID     int      `json:"childPid"`
	Cwd          string   `json:"cwd"`
	Env          []string `json:"env"`
}

type errorDocument struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// startPool starts a pool for fn (Bootstrap defaults to version 1) that is
// closed when the test ends; its log is printed if the test fails.
func startPool(t *testing.T, fn Function) (*Pool, *testenv.LogBuffer) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	if fn.Name == "" {
		fn.Name = "TestFunction"
	}
	if fn.Bootstrap == "" {
		fn.Bootstrap = bootstrapV1
	}
	fn.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := Start(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("pool log:\n%s", logs)
		}
	})
	return p, logs
}

func invoke(t *testing.T, p *Pool, event string) *lambda.InvokeOutput {
	t.Helper()
	out, err := p.Invoke(context.Background(), &lambda.InvokeInput{
		FunctionName: aws.String(p.fn.Name),
		Payload:      []byte(event),
	})
	if err != nil {
		t.Fatalf("invoke %s: %v", event, err)
	}
	return out
}

// invokeOK invokes and decodes a successful reply.
func invokeOK(t *testing.T, p *Pool, event string) reply {
	t.Helper()
	out := invoke(t, p, event)
	if out.StatusCode != 200 || out.FunctionError != nil {
		t.Fatalf("invoke %s: status %d, function error %v, payload %s", event, out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
	}
	var r reply
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("invoke %s: %v: %s", event, err, out.Payload)
	}
	return r
}

// invokeFails invokes and decodes the error document of a function error.
func invokeFails(t *testing.T, p *Pool, event string) errorDocument {
	t.Helper()
	out := invoke(t, p, event)
	if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" {
		t.Fatalf("invoke %s: status %d, function error %q, want 200 Unhandled; payload %s", event, out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
	}
	var doc errorDocument
	if err := json.Unmarshal(out.Payload, &doc); err != nil {
		t.Fatalf("invoke %s: error document: %v: %s", event, err, out.Payload)
	}
	return doc
}

// gone reports whether pid has exited (a zombie nobody reaps counts: it runs
// nothing).
func gone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if gone(pid) {
			return
		}
	}
	t.Errorf("process %d is still running", pid)
}

func hasEnv(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}

func TestEchoSeesTheLambdaContext(t *testing.T) {
	t.Setenv("RUNTIMEAPI_TEST_PARENT_ONLY", "leaked")
	p, logs := startPool(t, Function{
		Name:     "EchoFunction",
		Timeout:  7 * time.Second,
		MemoryMB: 256,
		Region:   "eu-west-1",
		Env:      map[string]string{"TABLE": "chat", "AWS_LAMBDA_RUNTIME_API": "ignored", "TZ": "Europe/Paris"},
	})
	before := time.Now()
	r := invokeOK(t, p, `{"do":"echo"}`)

	if r.FunctionName != "EchoFunction" {
		t.Errorf("function name %q", r.FunctionName)
	}
	if r.FunctionARN != "arn:aws:lambda:eu-west-1:123456789012:function:EchoFunction" {
		t.Errorf("function ARN %q", r.FunctionARN)
	}
	if len(r.RequestID) != 36 {
		t.Errorf("request ID %q", r.RequestID)
	}
	if want := before.Add(7 * time.Second).UnixMilli(); r.DeadlineMS < want-50 || r.DeadlineMS > want+2000 {
		t.Errorf("deadline %d ms, want about now+7s = %d", r.DeadlineMS, want)
	}
	if r.Memory != "256" {
		t.Errorf("memory %q", r.Memory)
	}
	if want := filepath.Dir(bootstrapV1); r.Cwd != want {
		t.Errorf("working directory %q, want %q", r.Cwd, want)
	}
	for _, kv := range []string{
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/EchoFunction",
		"AWS_REGION=eu-west-1",
		"AWS_DEFAULT_REGION=eu-west-1",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(bootstrapV1),
		"TABLE=chat",
		"TZ=Europe/Paris", // the function's environment wins
		"PATH=" + os.Getenv("PATH"),
	} {
		if !hasEnv(r.Env, kv) {
			t.Errorf("environment lacks %s: %q", kv, r.Env)
		}
	}
	for _, kv := range r.Env {
		switch {
		case strings.HasPrefix(kv, "RUNTIMEAPI_TEST_PARENT_ONLY="):
			t.Errorf("the parent's environment leaked: %s", kv)
		case kv == "AWS_LAMBDA_RUNTIME_API=ignored":
			t.Errorf("the function's environment overrode %s", kv)
		case strings.HasPrefix(kv, "AWS_LAMBDA_LOG_STREAM_NAME=") && !strings.Contains(kv, "/[$LATEST]"):
			t.Errorf("log stream %s", kv)
		}
	}

	// The process is reused, like a warm execution environment.
	if again := invokeOK(t, p, `{"do":"echo"}`); again.PID != r.PID || again.RequestID == r.RequestID {
		t.Errorf("second invocation: pid %d, request %s; first: pid %d, request %s", again.PID, again.RequestID, r.PID, r.RequestID)
	}

	// The function's output goes to the logger, with its name.
	p.Close()
	if log := logs.String(); !strings.Contains(log, `msg="handling echo" function=EchoFunction`) {
		t.Errorf("the function's output is not in the log:\n%s", log)
	}
}

func TestHandlerError(t *testing.T) {
	p, _ := startPool(t, Function{})
	first := invokeOK(t, p, `{"do":"echo"}`)
	doc := invokeFails(t, p, `{"do":"error"}`)
	if doc.ErrorMessage != "boom" || doc.ErrorType != "errorString" {
		t.Errorf("error document %+v", doc)
	}
	// A returned error does not end the environment.
	if r := invokeOK(t, p, `{"do":"echo"}`); r.PID != first.PID {
		t.Errorf("the process changed after a handler error: %d, then %d", first.PID, r.PID)
	}
}

func TestPanicIsReportedThenTheProcessIsReplaced(t *testing.T) {
	p, _ := startPool(t, Function{})
	first := invokeOK(t, p, `{"do":"echo"}`)
	// aws-lambda-go posts the panic to /error, then exits.
	doc := invokeFails(t, p, `{"do":"panic"}`)
	if doc.ErrorMessage != "oops" {
		t.Errorf("error document %+v", doc)
	}
	if r := invokeOK(t, p, `{"do":"echo"}`); r.PID == first.PID {
		t.Errorf("the process that panicked (%d) served again", first.PID)
	}
}

func TestTimeoutKillsTheProcess(t *testing.T) {
	p, _ := startPool(t, Function{Timeout: 500 * time.Millisecond})
	first := invokeOK(t, p, `{"do":"echo"}`)
	start := time.Now()
	doc := invokeFails(t, p, `{"do":"sleep","ms":10000}`)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("the timeout took %v", elapsed)
	}
	if !strings.Contains(doc.ErrorMessage, "Task timed out after 0.5") || !strings.Contains(doc.ErrorMessage, " Task timed out") {
		t.Errorf("error document %+v", doc)
	}
	waitGone(t, first.PID)
	if r := invokeOK(t, p, `{"do":"echo"}`); r.PID == first.PID {
		t.Errorf("the process that timed out (%d) served again", first.PID)
	}
}

func TestExitMidInvocation(t *testing.T) {
	p, _ := startPool(t, Function{})
	doc := invokeFails(t, p, `{"do":"exit"}`)
	if doc.ErrorType != "Runtime.ExitError" || !strings.HasPrefix(doc.ErrorMessage, "RequestId: ") ||
		!strings.HasSuffix(doc.ErrorMessage, " Error: Runtime exited with error: exit status 2") {
		t.Errorf("error document %+v", doc)
	}
	invokeOK(t, p, `{"do":"echo"}`)
}

func TestInitCrash(t *testing.T) {
	p, logs := startPool(t, Function{Env: map[string]string{"CRASH_ON_INIT": "1"}})
	for range 2 {
		start := time.Now()
		doc := invokeFails(t, p, `{"do":"echo"}`)
		if doc.ErrorType != "Runtime.ExitError" || !strings.HasSuffix(doc.ErrorMessage, "Runtime exited with error: exit status 3") {
			t.Errorf("error document %+v", doc)
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("the failed init took %v", elapsed)
		}
	}
	p.Close()
	if !strings.Contains(logs.String(), "crashing during init") {
		t.Errorf("the crash's output is not in the log:\n%s", logs)
	}
}

func TestInitError(t *testing.T) {
	p, _ := startPool(t, Function{Env: map[string]string{"INIT_ERROR": "1"}})
	doc := invokeFails(t, p, `{"do":"echo"}`)
	if doc.ErrorType != "ConfigError" || doc.ErrorMessage != "TABLE is not set" {
		t.Errorf("error document %+v", doc)
	}
}

func TestConcurrencyIsBoundedByMaxProcs(t *testing.T) {
	p, _ := startPool(t, Function{MaxProcs: 2})
	const n = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		pids    = map[int]bool{}
		most    int
		stop    = make(chan struct{})
		sampler sync.WaitGroup
	)
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if k := p.processes(); k > most {
				most = k
			}
		}
	}()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := p.Invoke(context.Background(), &lambda.InvokeInput{Payload: []byte(`{"do":"sleep","ms":400}`)})
			if err != nil || out.FunctionError != nil {
				t.Errorf("invoke: %v %v", err, out)
				return
			}
			var r reply
			if err := json.Unmarshal(out.Payload, &r); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			pids[r.PID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	if len(pids) > 2 || most > 2 {
		t.Errorf("%d processes served, at most %d at once; want at most 2", len(pids), most)
	}
	if elapsed := time.Since(start); elapsed < 800*time.Millisecond {
		t.Errorf("4 invocations of 400 ms on 2 processes took %v", elapsed)
	}
}

func TestContextCancelled(t *testing.T) {
	p, _ := startPool(t, Function{MaxProcs: 1})
	invokeOK(t, p, `{"do":"echo"}`) // warm

	// Cancelled while the process runs the invocation.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := p.Invoke(ctx, &lambda.InvokeInput{Payload: []byte(`{"do":"sleep","ms":600}`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("invoke with a short context: %v", err)
	}

	// Cancelled while waiting for the one process.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := p.Invoke(ctx2, &lambda.InvokeInput{Payload: []byte(`{"do":"echo"}`)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("invoke while the process is busy: %v", err)
	}

	// The slot comes back once the abandoned invocation ends.
	invokeOK(t, p, `{"do":"echo"}`)
	if k := p.processes(); k != 1 {
		t.Errorf("%d processes, want 1", k)
	}
}

func TestContextCancelledDuringInit(t *testing.T) {
	p, _ := startPool(t, Function{MaxProcs: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := p.Invoke(ctx, &lambda.InvokeInput{Payload: []byte(`{"do":"echo"}`)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("invoke: %v", err)
	}
	// The event was withdrawn or ran; either way the process serves the
	// next one.
	first := invokeOK(t, p, `{"do":"echo"}`)
	if r := invokeOK(t, p, `{"do":"echo"}`); r.PID != first.PID || p.processes() != 1 {
		t.Errorf("pids %d then %d, %d processes; want one process", first.PID, r.PID, p.processes())
	}
}

func TestIdleProcessKilledFromOutside(t *testing.T) {
	p, _ := startPool(t, Function{})
	first := invokeOK(t, p, `{"do":"echo"}`)
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Once the pool has noticed, the next event goes to a new process. (An
	// event handed out as the runtime dies fails with Runtime.ExitError, as
	// the pool cannot tell whether the function started on it.)
	for deadline := time.Now().Add(5 * time.Second); p.processes() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if r := invokeOK(t, p, `{"do":"echo"}`); r.PID == first.PID {
		t.Errorf("the killed process %d served", first.PID)
	}
}

func TestEmptyPayloadIsAnEmptyObject(t *testing.T) {
	p, _ := startPool(t, Function{})
	if doc := invokeFails(t, p, ``); doc.ErrorMessage != `unknown action ""` {
		t.Errorf("error document %+v", doc)
	}
}

// replaceBootstrap installs src at dst the way a build does, by renaming,
// since a running executable cannot be overwritten.
func replaceBootstrap(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func TestRestartPicksUpARebuiltBootstrap(t *testing.T) {
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	replaceBootstrap(t, bootstrapV1, bootstrap)
	p, _ := startPool(t, Function{Bootstrap: bootstrap})
	first := invokeOK(t, p, `{"do":"echo"}`)
	if first.Version != "1" {
		t.Fatalf("version %q", first.Version)
	}

	// An invocation in flight during the restart finishes on the old
	// process.
	slow := make(chan reply, 1)
	go func() {
		out, err := p.Invoke(context.Background(), &lambda.InvokeInput{Payload: []byte(`{"do":"sleep","ms":500}`)})
		var r reply
		if err == nil {
			err = json.Unmarshal(out.Payload, &r)
		}
		if err != nil {
			t.Errorf("slow invocation: %v", err)
		}
		slow <- r
	}()
	time.Sleep(150 * time.Millisecond)

	replaceBootstrap(t, bootstrapV2, bootstrap)
	p.Restart()
	if r := invokeOK(t, p, `{"do":"echo"}`); r.Version != "2" || r.PID == first.PID {
		t.Errorf("after the restart: version %q on pid %d (before: pid %d)", r.Version, r.PID, first.PID)
	}
	old := <-slow
	if old.Version != "1" || old.PID != first.PID {
		t.Errorf("the invocation in flight ran version %q on pid %d", old.Version, old.PID)
	}
	waitGone(t, first.PID) // stopped once its invocation ended
	if r := invokeOK(t, p, `{"do":"echo"}`); r.Version != "2" {
		t.Errorf("version %q", r.Version)
	}
}

func TestCloseKillsTheProcessGroup(t *testing.T) {
	p, _ := startPool(t, Function{})
	r := invokeOK(t, p, `{"do":"spawn"}`)
	if r.ChildPID == 0 || gone(r.ChildPID) {
		t.Fatalf("no grandchild: %+v", r.ChildPID)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{r.PID, r.ChildPID} {
		if !gone(pid) {
			t.Errorf("process %d survived Close", pid)
		}
	}
	if _, err := p.Invoke(context.Background(), &lambda.InvokeInput{Payload: []byte(`{}`)}); !errors.Is(err, ErrClosed) {
		t.Errorf("invoke after Close: %v", err)
	}
}

func TestStartChecksTheBootstrap(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []Function{
		{Name: "F", Bootstrap: filepath.Join(dir, "missing")},
		{Name: "F", Bootstrap: notExec},
		{Name: "F", Bootstrap: dir},
		{Name: "F"},
		{Bootstrap: bootstrapV1},
	} {
		if _, err := Start(context.Background(), fn); err == nil {
			t.Errorf("Start(%+v) succeeded", fn)
		}
	}
}

func TestUnexecutableBootstrap(t *testing.T) {
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(bootstrap, []byte("not a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, _ := startPool(t, Function{Bootstrap: bootstrap})
	if doc := invokeFails(t, p, `{}`); doc.ErrorType != "Runtime.InvalidEntrypoint" {
		t.Errorf("error document %+v", doc)
	}
}

func TestInvocationTypes(t *testing.T) {
	p, _ := startPool(t, Function{})
	out, err := p.Invoke(context.Background(), &lambda.InvokeInput{InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Errorf("dry run: %v %+v", err, out)
	}
	if _, err := p.Invoke(context.Background(), &lambda.InvokeInput{InvocationType: types.InvocationTypeEvent}); err == nil {
		t.Error("an Event invocation succeeded")
	}
	var tooLarge *types.RequestTooLargeException
	if _, err := p.Invoke(context.Background(), &lambda.InvokeInput{Payload: make([]byte, maxRequestPayload+1)}); !errors.As(err, &tooLarge) {
		t.Errorf("a payload too large: %v", err)
	}
}

func TestResponseTooLarge(t *testing.T) {
	p, _ := startPool(t, Function{})
	doc := invokeFails(t, p, fmt.Sprintf(`{"do":"big","bytes":%d}`, maxResponsePayload))
	if doc.ErrorType != "Function.ResponseSizeTooLarge" {
		t.Errorf("error document %+v", doc)
	}
	invokeOK(t, p, `{"do":"echo"}`)
}

// TestThroughTheGatewayIntegration runs the function behind the gateway's
// Lambda integration, as the local emulator will.
func TestThroughTheGatewayIntegration(t *testing.T) {
	p, _ := startPool(t, Function{Name: "MessageFunction"})
	integration := gateway.NewLambda(p, "MessageFunction", 0)
	resp, err := integration.Invoke(context.Background(), events.APIGatewayWebsocketProxyRequest{
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{RouteKey: "sendMessage"},
	})
	if err != nil || resp.StatusCode != 200 || resp.Body != "proxied by version 1" {
		t.Errorf("proxy response %+v, %v", resp, err)
	}
}

func TestResponseBodyErrorInTrailers(t *testing.T) {
	p, _ := startPool(t, Function{})
	doc := invokeFails(t, p, `{"do":"brokenreader"}`)
	if doc.ErrorMessage != "stream broke" || doc.ErrorType != "errorString" {
		t.Errorf("error document %+v", doc)
	}
}

// TestRuntimeAPIRejectsProtocolErrors drives one process's Runtime API by
// hand, as a misbehaving runtime would.
func TestRuntimeAPIRejectsProtocolErrors(t *testing.T) {
	p, _ := startPool(t, Function{})
	proc := &process{
		pool:       p,
		pending:    make(chan *invocation, 1),
		nextCalled: make(chan struct{}, 1),
		initFailed: make(chan struct{}),
		exited:     make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	api := proc.routes()
	call := func(method, path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		return rec
	}

	inv := newInvocation([]byte(`{"a":1}`), `{"custom":{"k":"v"}}`)
	proc.pending <- inv
	next := call("GET", "/2018-06-01/runtime/invocation/next", "")
	if next.Code != 200 || next.Body.String() != `{"a":1}` {
		t.Fatalf("next: %d %s", next.Code, next.Body)
	}
	for _, h := range []string{headerRequestID, headerDeadline, headerFunctionARN, headerTraceID, headerClientContext} {
		if next.Header().Get(h) == "" {
			t.Errorf("next: no %s header", h)
		}
	}
	if got := next.Header().Get(headerRequestID); got != inv.id {
		t.Errorf("request ID %q, want %q", got, inv.id)
	}

	if rec := call("POST", "/2018-06-01/runtime/invocation/not-the-id/response", `{}`); rec.Code != 400 {
		t.Errorf("response for another request ID: %d %s", rec.Code, rec.Body)
	}
	if rec := call("POST", "/2018-06-01/runtime/init/error", `{}`); rec.Code != 403 {
		t.Errorf("init/error after next: %d %s", rec.Code, rec.Body)
	}
	if rec := call("POST", "/2018-06-01/runtime/invocation/"+inv.id+"/response", `"ok"`); rec.Code != 202 {
		t.Errorf("response: %d %s", rec.Code, rec.Body)
	}
	if r := <-inv.result; string(r.out.Payload) != `"ok"` || r.out.FunctionError != nil {
		t.Errorf("outcome %+v", r.out)
	}
	if rec := call("POST", "/2018-06-01/runtime/invocation/"+inv.id+"/error", `{}`); rec.Code != 400 {
		t.Errorf("error after the response: %d %s", rec.Code, rec.Body)
	}
	if rec := call("GET", "/2018-06-01/runtime/restore/next", ""); rec.Code != 404 {
		t.Errorf("unsupported path: %d %s", rec.Code, rec.Body)
	}

	// An error without a JSON body still yields an error document.
	inv2 := newInvocation([]byte(`{}`), "")
	proc.pending <- inv2
	call("GET", "/2018-06-01/runtime/invocation/next", "")
	req := httptest.NewRequest("POST", "/2018-06-01/runtime/invocation/"+inv2.id+"/error", strings.NewReader("plain text"))
	req.Header.Set(headerErrorType, "Runtime.Custom")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code != 202 {
		t.Fatalf("error: %d %s", rec.Code, rec.Body)
	}
	r := <-inv2.result
	var doc errorDocument
	if err := json.Unmarshal(r.out.Payload, &doc); err != nil || doc.ErrorType != "Runtime.Custom" || doc.ErrorMessage != "plain text" {
		t.Errorf("error document %s (%v)", r.out.Payload, err)
	}
}
