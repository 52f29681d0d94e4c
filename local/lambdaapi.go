package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/serverless-chat/chat/internal/review"
)

// invokeAPI serves Lambda's Invoke API (POST
// /2015-03-31/functions/{name}/invocations) for the functions the adapter
// runs, so that a function may invoke another through the SDK as it would
// deployed: the functions get AWS_ENDPOINT_URL_LAMBDA pointing here. The
// message function reaches the review function this way.
type invokeAPI struct {
	mu  sync.RWMutex
	fns map[string]review.Invoker
}

func newInvokeAPI() *invokeAPI { return &invokeAPI{fns: map[string]review.Invoker{}} }

// add makes a function invocable by its name.
func (a *invokeAPI) add(name string, fn review.Invoker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fns[name] = fn
}

const invokePrefix = "/2015-03-31/functions/"

func (a *invokeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The functions' own API: for processes on this machine only, even
	// when the adapter listens on every address.
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || !net.ParseIP(host).IsLoopback() {
		http.Error(w, `{"Type":"User","message":"the Invoke API is served to this machine only"}`, http.StatusForbidden)
		return
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, invokePrefix), "/invocations")
	if r.Method != http.MethodPost || !ok || name == "" {
		http.Error(w, `{"Type":"User","message":"only POST /2015-03-31/functions/{name}/invocations is served"}`, http.StatusNotFound)
		return
	}
	// A function may be named by its ARN (arn:…:function:Name[:qualifier]).
	if i := strings.Index(name, ":function:"); i >= 0 {
		name, _, _ = strings.Cut(name[i+len(":function:"):], ":")
	}
	a.mu.RLock()
	fn := a.fns[name]
	a.mu.RUnlock()
	if fn == nil {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		http.Error(w, `{"Type":"User","message":"Function not found: `+name+`"}`, http.StatusNotFound)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, maxInvokePayload+1))
	if err != nil || len(payload) > maxInvokePayload {
		w.Header().Set("X-Amzn-ErrorType", "RequestTooLargeException")
		http.Error(w, `{"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}`, http.StatusRequestEntityTooLarge)
		return
	}
	out, err := fn.Invoke(r.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
	if err != nil {
		w.Header().Set("X-Amzn-ErrorType", "ServiceException")
		http.Error(w, `{"Type":"Service","message":"the function could not be run"}`, http.StatusInternalServerError)
		return
	}
	if out.FunctionError != nil {
		w.Header().Set("X-Amz-Function-Error", *out.FunctionError)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out.Payload)
}

// maxInvokePayload is Lambda's limit of a synchronous invocation's request.
const maxInvokePayload = 6291456
