package runtimeapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// The Runtime API's headers
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	headerRequestID     = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline      = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID       = "Lambda-Runtime-Trace-Id"
	headerClientContext = "Lambda-Runtime-Client-Context"
	headerErrorType     = "Lambda-Runtime-Function-Error-Type"
	// aws-lambda-go sends these as trailers of a response whose body failed
	// to read (a handler returning an io.Reader).
	trailerErrorType = "Lambda-Runtime-Function-Error-Type"
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"

	apiPrefix = "/2018-06-01/runtime"
)

// routes is the Runtime API of one process.
func (proc *process) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"/invocation/next", proc.next)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/response", proc.response)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/error", proc.invocationError)
	mux.HandleFunc("POST "+apiPrefix+"/init/error", proc.initError)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		proc.pool.log.Warn("runtime API: unsupported request", slog.String("method", r.Method), slog.String("path", r.URL.Path))
		writeJSON(w, http.StatusNotFound, errorDoc("NotFound", "unsupported Runtime API request "+r.Method+" "+r.URL.Path))
	})
	return mux
}

// next hands the runtime its next event, waiting for one as long as it
// takes (Lambda freezes the process meanwhile).
func (proc *process) next(w http.ResponseWriter, r *http.Request) {
	proc.initialized.Store(true)
	select {
	case proc.nextCalled <- struct{}{}:
	default: // a token is there already
	}
	var inv *invocation
	select {
	case inv = <-proc.pending:
	case <-r.Context().Done():
		return
	case <-proc.stopped:
		return
	}
	if r.Context().Err() != nil {
		// The runtime hung up (it died) as the event arrived: give the
		// event back, for the pool to run it elsewhere.
		proc.pending <- inv
		return
	}
	// The token this /next signalled is spent: it ended the previous
	// invocation (settle) or the init. Forget it here, before the runtime
	// has the event, so that the token of the /next that follows this
	// invocation is the one settle sees, however fast the runtime answers.
	select {
	case <-proc.nextCalled:
	default:
	}
	now := time.Now()
	deadline := now.Add(proc.pool.fn.Timeout)
	proc.current.Store(inv)
	inv.begin(now, deadline)

	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, proc.pool.arn)
	h.Set(headerTraceID, inv.traceID)
	if inv.clientContext != "" {
		h.Set(headerClientContext, inv.clientContext)
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	// A failed write means the runtime is gone; its exit is what counts.
	_, _ = w.Write(inv.payload)
}

// response takes the function's result.
func (proc *process) response(w http.ResponseWriter, r *http.Request) {
	inv, ok := proc.invocationFor(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponsePayload+1))
	if err != nil {
		proc.pool.log.Warn("runtime API: reading the response", slog.String("requestId", inv.id), slog.Any("error", err))
		return
	}
	res := outcome{out: success(body)}
	switch {
	case len(body) > maxResponsePayload:
		_, _ = io.Copy(io.Discard, r.Body)
		res = outcome{out: unhandled(errorDoc("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponsePayload)))}
		proc.finish(w, inv, res, http.StatusRequestEntityTooLarge,
			errorDoc("RequestEntityTooLarge", fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", maxResponsePayload)))
		return
	case r.Trailer.Get(trailerErrorType) != "":
		// The body broke off; the runtime says why in the trailers.
		doc, err := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody))
		if err != nil || len(doc) == 0 {
			doc = errorDoc(r.Trailer.Get(trailerErrorType), "the function's response failed")
		}
		res = outcome{out: unhandled(doc)}
	}
	proc.finish(w, inv, res, http.StatusAccepted, []byte(`{"status":"OK"}`))
}

// invocationError takes the error document of a failed invocation.
func (proc *process) invocationError(w http.ResponseWriter, r *http.Request) {
	inv, ok := proc.invocationFor(w, r)
	if !ok {
		return
	}
	doc, err := readErrorDoc(r)
	if err != nil {
		proc.pool.log.Warn("runtime API: reading the error", slog.String("requestId", inv.id), slog.Any("error", err))
		return
	}
	proc.finish(w, inv, outcome{out: unhandled(doc)}, http.StatusAccepted, []byte(`{"status":"OK"}`))
}

// initError takes the error document of a runtime that failed to start;
// the invocation waiting for it fails with that document.
func (proc *process) initError(w http.ResponseWriter, r *http.Request) {
	if proc.initialized.Load() {
		writeJSON(w, http.StatusForbidden, errorDoc("InvalidStateTransition", "init/error is only allowed before the first invocation/next"))
		return
	}
	doc, err := readErrorDoc(r)
	if err != nil {
		proc.pool.log.Warn("runtime API: reading the init error", slog.Any("error", err))
		return
	}
	reported := false
	proc.initOnce.Do(func() {
		proc.initErrorDoc = doc
		close(proc.initFailed)
		reported = true
	})
	if !reported {
		writeJSON(w, http.StatusForbidden, errorDoc("InvalidStateTransition", "init/error was already reported"))
		return
	}
	proc.pool.log.Warn("runtime init error", slog.String("error", string(doc)))
	writeJSON(w, http.StatusAccepted, []byte(`{"status":"OK"}`))
}

// invocationFor returns the invocation the request's {id} names, which must
// be the one the runtime is running; it answers the request otherwise.
func (proc *process) invocationFor(w http.ResponseWriter, r *http.Request) (*invocation, bool) {
	inv := proc.current.Load()
	if inv == nil || inv.id != r.PathValue("id") {
		writeJSON(w, http.StatusBadRequest, errorDoc("InvalidRequestID", "Invalid request ID"))
		return nil, false
	}
	return inv, true
}

// finish hands the runtime's answer to the waiting invocation and answers
// the runtime.
func (proc *process) finish(w http.ResponseWriter, inv *invocation, res outcome, status int, body []byte) {
	if !inv.answer(res) {
		writeJSON(w, http.StatusForbidden, errorDoc("InvalidStateTransition", "the invocation was already answered"))
		return
	}
	proc.current.CompareAndSwap(inv, nil)
	writeJSON(w, status, body)
}

// readErrorDoc reads an error document posted by the runtime. An empty or
// non-JSON body is wrapped in a document with the error type header, so
// that callers always get one.
func readErrorDoc(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponsePayload))
	if err != nil {
		return nil, fmt.Errorf("read the error body: %w", err)
	}
	if len(body) > 0 && json.Valid(body) {
		return body, nil
	}
	errorType := r.Header.Get(headerErrorType)
	if errorType == "" {
		errorType = "Runtime.Unknown"
	}
	if len(body) == 0 {
		return errorDoc(errorType, "the runtime reported an error without a message"), nil
	}
	return errorDoc(errorType, string(body)), nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
