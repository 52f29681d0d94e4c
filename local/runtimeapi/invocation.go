package runtimeapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// invocation is one event on its way through a process.
type invocation struct {
	id            string
	traceID       string
	payload       []byte
	clientContext string // JSON, for Lambda-Runtime-Client-Context

	// started is closed when the runtime takes the event (its /next);
	// deadline and startedAt are written before.
	started   chan struct{}
	deadline  time.Time
	startedAt time.Time

	// result receives the runtime's answer, once.
	result   chan outcome
	answered atomic.Bool

	// abandoned is closed when the caller stops waiting.
	abandoned   chan struct{}
	abandonOnce sync.Once
}

func newInvocation(payload []byte, clientContext string) *invocation {
	return &invocation{
		id:            newRequestID(),
		traceID:       newTraceID(time.Now()),
		payload:       payload,
		clientContext: clientContext,
		started:       make(chan struct{}),
		result:        make(chan outcome, 1),
		abandoned:     make(chan struct{}),
	}
}

// begin marks the event as taken by the runtime, which has until deadline.
func (inv *invocation) begin(now, deadline time.Time) {
	inv.startedAt = now
	inv.deadline = deadline
	close(inv.started)
}

// answer records the runtime's answer; it reports false if there already was
// one.
func (inv *invocation) answer(r outcome) bool {
	if !inv.answered.CompareAndSwap(false, true) {
		return false
	}
	inv.result <- r
	return true
}

func (inv *invocation) abandon() {
	inv.abandonOnce.Do(func() { close(inv.abandoned) })
}

// success is the Invoke output of a function that returned payload.
func success(payload []byte) *lambda.InvokeOutput {
	return &lambda.InvokeOutput{StatusCode: 200, Payload: payload, ExecutedVersion: aws.String(latest)}
}

// unhandled is the Invoke output of a function error: Lambda answers 200
// with X-Amz-Function-Error: Unhandled and the error document.
func unhandled(doc []byte) *lambda.InvokeOutput {
	out := success(doc)
	out.FunctionError = aws.String("Unhandled")
	return out
}

// errorDoc is the error document of a failure the pool reports itself, in
// the runtimes' format.
func errorDoc(errorType, message string) []byte {
	doc, err := json.Marshal(struct {
		Type    string `json:"errorType,omitempty"`
		Message string `json:"errorMessage"`
	}{errorType, message})
	if err != nil {
		// Two strings always marshal; keep a document anyway.
		return []byte(`{"errorMessage":"runtimeapi: cannot encode the error"}`)
	}
	return doc
}

// exitDoc reports a runtime that exited instead of answering, as Lambda
// does.
func exitDoc(requestID string, exitErr error) []byte {
	reason := "Runtime exited without providing a reason"
	var ee *exec.ExitError
	switch {
	case errors.As(exitErr, &ee):
		reason = "Runtime exited with error: " + ee.String()
	case exitErr != nil:
		reason = "Runtime exited with error: " + exitErr.Error()
	}
	return errorDoc("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: %s", requestID, reason))
}

// timeoutDoc reports an invocation that ran out of time, in the format of
// Lambda's Invoke response (the same line Lambda writes to the log).
func timeoutDoc(requestID string, elapsed time.Duration) []byte {
	return errorDoc("", fmt.Sprintf("%s %s Task timed out after %.2f seconds", lambdaTime(time.Now()), requestID, elapsed.Seconds()))
}

// lambdaTime formats t as Lambda's log lines do: 2024-01-31T12:34:56.789Z.
func lambdaTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// newRequestID returns a random (version 4) UUID, like Lambda's request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceID returns an X-Ray trace header such as Lambda passes in
// Lambda-Runtime-Trace-Id (not sampled: nothing collects traces locally).
func newTraceID(now time.Time) string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", now.Unix(), randomHex(12), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
