// Command fn is the Lambda function the runtimeapi tests run: a
// provided.al2023 bootstrap built with aws-lambda-go, whose behaviour is
// chosen by the event ({"do": ...}) and, for init failures, by its
// environment.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// version is set with -ldflags "-X main.version=2" to tell builds apart.
var version = "1"

type event struct {
	// RequestContext marks an API Gateway proxy event, answered with a
	// proxy response.
	RequestContext json.RawMessage `json:"requestContext"`
	Do             string          `json:"do"`
	MS             int             `json:"ms"`
	Bytes          int             `json:"bytes"`
}

type reply struct {
	Version      string   `json:"version"`
	Do           string   `json:"do"`
	FunctionName string   `json:"functionName"`
	RequestID    string   `json:"requestId"`
	FunctionARN  string   `json:"functionArn"`
	DeadlineMS   int64    `json:"deadlineMs"`
	Memory       string   `json:"memory"`
	PID          int      `json:"pid"`
	ChildPID     int      `json:"childPid,omitempty"`
	Cwd          string   `json:"cwd"`
	Env          []string `json:"env"`
	Pad          string   `json:"pad,omitempty"`
}

func main() {
	if os.Getenv("CRASH_ON_INIT") == "1" {
		fmt.Fprintln(os.Stderr, "crashing during init")
		os.Exit(3)
	}
	if os.Getenv("INIT_ERROR") == "1" {
		postInitError()
		os.Exit(1)
	}
	fmt.Println("init done, version", version)
	lambda.Start(handle)
}

// postInitError reports an initialisation failure the way a runtime that
// checks its configuration does, through /runtime/init/error.
func postInitError() {
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	body := `{"errorMessage":"TABLE is not set","errorType":"ConfigError"}`
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	resp.Body.Close()
}

func handle(ctx context.Context, ev event) (any, error) {
	if ev.RequestContext != nil {
		return map[string]any{"statusCode": 200, "body": "proxied by version " + version}, nil
	}
	fmt.Println("handling", ev.Do)
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	cwd, _ := os.Getwd()
	r := reply{
		Version:      version,
		Do:           ev.Do,
		FunctionName: lambdacontext.FunctionName,
		RequestID:    lc.AwsRequestID,
		FunctionARN:  lc.InvokedFunctionArn,
		DeadlineMS:   deadline.UnixMilli(),
		Memory:       os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
		PID:          os.Getpid(),
		Cwd:          cwd,
		Env:          os.Environ(),
	}
	switch ev.Do {
	case "echo":
	case "error":
		return nil, errors.New("boom")
	case "panic":
		panic("oops")
	case "sleep":
		// Ignores ctx on purpose: a handler that overruns its deadline.
		time.Sleep(time.Duration(ev.MS) * time.Millisecond)
	case "exit":
		fmt.Fprintln(os.Stderr, "exiting mid-invocation")
		os.Exit(2)
	case "spawn":
		// A grandchild that outlives the handler, to check Close kills the
		// whole process group.
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		r.ChildPID = cmd.Process.Pid
	case "setsid":
		// A grandchild in a session of its own, out of the process group.
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		r.ChildPID = cmd.Process.Pid
	case "brokenreader":
		return &brokenReader{}, nil
	case "big":
		r.Pad = string(bytes.Repeat([]byte("x"), ev.Bytes))
	default:
		return nil, fmt.Errorf("unknown action %q", ev.Do)
	}
	return r, nil
}

// brokenReader is a raw response whose body fails midway: aws-lambda-go
// reports the error in the trailers of its /response.
type brokenReader struct {
	// C makes it impossible to encode as JSON, so that aws-lambda-go
	// streams it as a reader.
	C chan int
}

func (*brokenReader) Read([]byte) (int, error) { return 0, errors.New("stream broke") }
