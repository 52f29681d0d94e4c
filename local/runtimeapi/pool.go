// Package runtimeapi runs a Lambda function's bootstrap executable (runtime
// provided.al2023, such as a Go program that calls aws-lambda-go's
// lambda.Start) as child processes and serves each of them the Lambda
// Runtime API, so the local API Gateway emulator can invoke the functions it
// builds for Lambda without Docker and without aws-lambda-rie. Node.js and
// Python functions run the same way (Native, native.go): the machine's node
// or python3 runs a small runtime client embedded in this package
// (nodejs/runtime.mjs, python/runtime.py) that loads the handler.
//
// A Pool plays the part of Lambda's execution environments for one function:
// each process handles one invocation at a time and is reused while it stays
// healthy; a process that times out, crashes or fails its init is replaced
// by a new one for the next invocation.
//
// The child's environment is built from scratch, not inherited: only PATH
// and HOME come from the parent, then the variables Lambda sets
// (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, ...), then
// Function.Env, which wins over everything but AWS_LAMBDA_RUNTIME_API. So a
// function sees the same variables locally as in Lambda and does not pick up
// the developer's AWS_PROFILE or credentials by accident; pass credentials
// or endpoints it needs through Function.Env.
//
// Process management (process groups) is written for Linux and other Unix
// systems.
package runtimeapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

const (
	defaultTimeout  = 3 * time.Second
	defaultMemoryMB = 128
	defaultMaxProcs = 4
	defaultRegion   = "us-east-1"

	// initTimeout bounds a process's init phase (start until its first
	// /next), like Lambda's 10-second init limit.
	initTimeout = 10 * time.Second
	// settleGrace is how long an answer may wait for its runtime to ask
	// for the next event (see serve).
	settleGrace = 100 * time.Millisecond
	// accountID is the account in the invoked function's ARN, the one the
	// AWS documentation uses in examples.
	accountID = "123456789012"
	// maxRequestPayload and maxResponsePayload are Lambda's limits for a
	// synchronous invocation's request and response.
	maxRequestPayload  = 6291456
	maxResponsePayload = 6291556
	// latest is the only version a pool runs.
	latest = "$LATEST"
)

// ErrClosed is returned by Invoke once the pool is closed.
var ErrClosed = errors.New("runtimeapi: pool closed")

// Function describes one Lambda function to run from its bootstrap.
type Function struct {
	Name      string            // the template's logical ID; used as AWS_LAMBDA_FUNCTION_NAME and in log lines
	Bootstrap string            // path to the executable
	Env       map[string]string // the function's environment (from the template and env.json)
	Timeout   time.Duration     // function timeout (default 3s if 0), enforced by killing the process
	MemoryMB  int               // reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
	MaxProcs  int               // max concurrent processes (default 4); each runs one invocation at a time
	Logger    *slog.Logger      // the process's stdout/stderr lines are logged through it, with attribute function=<Name>
	Region    string            // AWS_REGION / AWS_DEFAULT_REGION (default us-east-1)

	// For a managed runtime's interpreter (see Native): Args follow
	// Bootstrap on its command line; TaskRoot is the code's directory (the
	// working directory and LAMBDA_TASK_ROOT; default: Bootstrap's
	// directory); Handler is _HANDLER (default "bootstrap").
	Args     []string
	TaskRoot string
	Handler  string
}

// Pool runs a function's processes and serves the Runtime API to each. Its
// Invoke method has the signature of (*lambda.Client).Invoke.
type Pool struct {
	fn  Function
	arn string
	log *slog.Logger

	// slots holds one token per invocation in flight. A process is either
	// serving an invocation or idle, and a new one is started only when no
	// idle one is left, so this also bounds the processes to MaxProcs.
	slots chan struct{}
	// done is closed by Close, to stop invocations waiting for a slot.
	done chan struct{}
	// wg counts invocation goroutines and process waiters, so Close can
	// return once every child has been reaped.
	wg sync.WaitGroup

	mu     sync.Mutex
	idle   []*process // most recently used last
	all    map[*process]struct{}
	gen    int // incremented by Restart; processes of older generations are not reused
	seq    int // processes started, to name them
	closed bool
}

// Start checks fn and returns a pool for it. Processes are started lazily, by
// the first invocations; ctx only bounds Start itself (call Close to stop the
// pool).
func Start(ctx context.Context, fn Function) (*Pool, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("runtimeapi: start %s: %w", fn.Name, err)
	}
	if fn.Name == "" {
		return nil, errors.New("runtimeapi: start: the function has no name")
	}
	bootstrap, err := checkBootstrap(fn.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("runtimeapi: start %s: %w", fn.Name, err)
	}
	fn.Bootstrap = bootstrap
	if fn.TaskRoot == "" {
		fn.TaskRoot = filepath.Dir(bootstrap)
	}
	if fn.TaskRoot, err = filepath.Abs(fn.TaskRoot); err != nil {
		return nil, fmt.Errorf("runtimeapi: start %s: %w", fn.Name, err)
	}
	if fn.Handler == "" {
		fn.Handler = "bootstrap"
	}
	if fn.Timeout <= 0 {
		fn.Timeout = defaultTimeout
	}
	if fn.MemoryMB <= 0 {
		fn.MemoryMB = defaultMemoryMB
	}
	if fn.MaxProcs <= 0 {
		fn.MaxProcs = defaultMaxProcs
	}
	if fn.Region == "" {
		fn.Region = defaultRegion
	}
	if fn.Logger == nil {
		fn.Logger = slog.Default()
	}
	return &Pool{
		fn:    fn,
		arn:   fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", fn.Region, accountID, fn.Name),
		log:   fn.Logger.With(slog.String("function", fn.Name)),
		slots: make(chan struct{}, fn.MaxProcs),
		done:  make(chan struct{}),
		all:   make(map[*process]struct{}),
	}, nil
}

// checkBootstrap returns the absolute path of an executable regular file; it
// must be absolute because the process runs in the bootstrap's directory.
func checkBootstrap(path string) (string, error) {
	if path == "" {
		return "", errors.New("no bootstrap")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("bootstrap %s: %w", path, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("bootstrap %s is not a regular file", abs)
	}
	if info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("bootstrap %s is not executable", abs)
	}
	return abs, nil
}

// outcome is what Invoke returns.
type outcome struct {
	out *lambda.InvokeOutput
	err error
}

// Invoke runs one RequestResponse (or DryRun) invocation on a free process,
// waiting for one while MaxProcs are busy. Errors of the function (an error
// it returned, a crash, a timeout, a failed init) are reported as Lambda
// does: StatusCode 200, FunctionError "Unhandled" and the error document as
// Payload. The options are ignored; FunctionName and Qualifier are not
// checked, as the pool runs one function.
//
// If ctx ends first, Invoke returns its error; an invocation the process has
// already taken runs on in the background until it ends or times out, and
// its process is then reused.
func (p *Pool) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("invoke %s: %w", p.fn.Name, err)
	}
	if in == nil {
		in = &lambda.InvokeInput{}
	}
	switch in.InvocationType {
	case "", types.InvocationTypeRequestResponse:
	case types.InvocationTypeDryRun:
		return &lambda.InvokeOutput{StatusCode: 204}, nil
	default:
		return nil, fmt.Errorf("invoke %s: invocation type %s is not supported", p.fn.Name, in.InvocationType)
	}
	if len(in.Payload) > maxRequestPayload {
		return nil, &types.RequestTooLargeException{
			Message: aws.String(fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", maxRequestPayload)),
		}
	}
	var clientContext string
	if in.ClientContext != nil && *in.ClientContext != "" {
		raw, err := base64.StdEncoding.DecodeString(*in.ClientContext)
		if err != nil || !json.Valid(raw) {
			return nil, &types.InvalidRequestContentException{
				Message: aws.String("Client context must be a valid Base64-encoded JSON object."),
			}
		}
		clientContext = string(raw)
	}

	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: waiting for a free process: %w", p.fn.Name, ctx.Err())
	case <-p.done:
		return nil, fmt.Errorf("invoke %s: %w", p.fn.Name, ErrClosed)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, fmt.Errorf("invoke %s: %w", p.fn.Name, ErrClosed)
	}
	p.wg.Add(1)
	p.mu.Unlock()

	payload := in.Payload
	if len(payload) == 0 {
		// Lambda hands a function invoked without a payload an empty
		// object.
		payload = []byte("{}")
	}
	inv := newInvocation(payload, clientContext)
	result := make(chan outcome, 1)
	// The invocation runs in its own goroutine so that a caller giving up
	// does not leave a busy process behind: the goroutine waits for the
	// process to finish and only then frees its slot.
	go p.serve(inv, result)
	select {
	case r := <-result:
		return r.out, r.err
	case <-ctx.Done():
		inv.abandon()
		return nil, fmt.Errorf("invoke %s: %w", p.fn.Name, ctx.Err())
	}
}

// serve runs inv on a process and sends its outcome to result, then puts
// the process back (or stops it) and frees the slot Invoke took.
func (p *Pool) serve(inv *invocation, result chan<- outcome) {
	defer p.wg.Done()
	var (
		r     outcome
		end   runEnd
		proc  *process
		tries int
	)
	for {
		var err error
		proc, err = p.take()
		if err != nil {
			result <- p.startFailure(inv, err)
			<-p.slots
			return
		}
		r, end = p.run(proc, inv)
		tries++
		if end != lost || tries > 1 {
			break
		}
		// An idle process died before it took the event; the function
		// never saw it, so another process may run it, as Lambda would
		// use another execution environment.
		p.log.Info("the idle runtime had exited; invoking on a new one", slog.Int("pid", proc.pid), slog.Any("exit", proc.exitErr))
		p.release(proc, false)
	}

	var deliver sync.Once
	switch end {
	case answered:
		// Hold the answer until the runtime asks for its next event, in
		// practice at once, so that the caller's next invocation finds this
		// process idle instead of starting another; a runtime slower than
		// settleGrace does not hold it back longer.
		grace := time.AfterFunc(settleGrace, func() { deliver.Do(func() { result <- r }) })
		healthy := p.settle(proc, inv)
		grace.Stop()
		p.release(proc, healthy)
	case withdrawn:
		p.release(proc, true)
	default:
		deliver.Do(func() { result <- r })
		p.release(proc, false)
	}
	// Only now, with the process idle again or gone, may another invocation
	// take the slot; freeing it earlier could start a process too many.
	<-p.slots
	deliver.Do(func() { result <- r })
}

// startFailure is the outcome of an invocation whose process did not start.
func (p *Pool) startFailure(inv *invocation, err error) outcome {
	var se *startError
	if errors.As(err, &se) {
		// Lambda reports a bootstrap it cannot execute as a function
		// error, Runtime.InvalidEntrypoint.
		return outcome{out: unhandled(errorDoc("Runtime.InvalidEntrypoint",
			fmt.Sprintf("RequestId: %s Error: %v", inv.id, se.err)))}
	}
	return outcome{err: fmt.Errorf("invoke %s: %w", p.fn.Name, err)}
}

// runEnd is how an invocation on a process ended.
type runEnd int

const (
	failed    runEnd = iota // the process failed (init, crash, timeout) and is not reused
	answered                // the runtime answered: response or function error
	withdrawn               // the caller gave up before the runtime took the event
	lost                    // an initialised process exited before taking the event
)

// run hands inv to proc and waits for the end of the invocation.
func (p *Pool) run(proc *process, inv *invocation) (outcome, runEnd) {
	proc.pending <- inv // never blocks: the channel has room for one and proc is ours alone
	closed := outcome{err: fmt.Errorf("invoke %s: %w", p.fn.Name, ErrClosed)}

	// Init: until the runtime takes the event with its /next.
	initTimer := time.NewTimer(initTimeout)
	defer initTimer.Stop()
	began := time.Now()
	select {
	case <-inv.started:
	case <-proc.initFailed:
		return outcome{out: unhandled(proc.initErrorDoc)}, failed
	case <-proc.exited:
		select {
		case <-inv.started:
			// It took the event, then exited: the invocation phase below
			// reports that.
		default:
			return p.exitedBeforeStart(proc, inv)
		}
	case <-initTimer.C:
		p.log.Warn("init timed out; stopping the process", slog.Int("pid", proc.pid), slog.Duration("after", initTimeout))
		proc.stop()
		return outcome{out: unhandled(timeoutDoc(inv.id, time.Since(began)))}, failed
	case <-inv.abandoned:
		if proc.withdraw(inv) {
			return outcome{}, withdrawn
		}
		// The runtime took it meanwhile: it runs to its end.
		<-inv.started
	case <-p.done:
		return closed, failed
	}

	// (The /next that took inv has forgotten its own nextCalled token, so
	// settle sees the one of the next /next.)

	// Invoke: until the runtime posts a response or an error.
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	select {
	case r := <-inv.result:
		return r, answered
	case <-proc.exited:
		select {
		case r := <-inv.result:
			// It answered, then exited (as aws-lambda-go does after a
			// panic): the answer stands.
			return r, answered
		case <-p.done:
			return closed, failed
		default:
		}
		p.log.Warn("runtime exited during an invocation", slog.Int("pid", proc.pid),
			slog.String("requestId", inv.id), slog.Any("error", proc.exitErr))
		return outcome{out: unhandled(exitDoc(inv.id, proc.exitErr))}, failed
	case <-timer.C:
		elapsed := time.Since(inv.startedAt)
		proc.stop()
		p.log.Warn(fmt.Sprintf("%s %s Task timed out after %.2f seconds", lambdaTime(time.Now()), inv.id, elapsed.Seconds()),
			slog.Int("pid", proc.pid))
		return outcome{out: unhandled(timeoutDoc(inv.id, elapsed))}, failed
	case <-p.done:
		return closed, failed
	}
}

// exitedBeforeStart is the outcome of a process that exited before it took
// the event.
func (p *Pool) exitedBeforeStart(proc *process, inv *invocation) (outcome, runEnd) {
	select {
	case <-proc.initFailed:
		// The runtime reported why before exiting.
		return outcome{out: unhandled(proc.initErrorDoc)}, failed
	case <-p.done:
		return outcome{err: fmt.Errorf("invoke %s: %w", p.fn.Name, ErrClosed)}, failed
	default:
	}
	if proc.initialized.Load() {
		return outcome{out: unhandled(exitDoc(inv.id, proc.exitErr))}, lost
	}
	p.log.Warn("runtime exited during init", slog.Int("pid", proc.pid), slog.Any("error", proc.exitErr))
	return outcome{out: unhandled(exitDoc(inv.id, proc.exitErr))}, failed
}

// settle waits until the runtime that answered inv asks for the next event,
// which in Lambda ends the invocation, and reports whether the process may
// serve another one. A runtime that exits instead (as aws-lambda-go does
// after reporting a panic), or lets the deadline pass, is not reused; the
// caller has its answer already.
func (p *Pool) settle(proc *process, inv *invocation) bool {
	timer := time.NewTimer(time.Until(inv.deadline))
	defer timer.Stop()
	select {
	case <-proc.nextCalled:
		return true
	case <-proc.exited:
		return false
	case <-timer.C:
		p.log.Warn("the runtime answered but did not ask for the next event before the deadline; stopping it",
			slog.Int("pid", proc.pid), slog.String("requestId", inv.id))
		return false
	case <-p.done:
		return false
	}
}

// take returns an idle process of the current generation or starts one.
func (p *Pool) take() (*process, error) {
	var stale []*process
	defer func() {
		for _, proc := range stale {
			proc.stop()
		}
	}()
	p.mu.Lock()
	for len(p.idle) > 0 {
		proc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if proc.gen == p.gen && proc.alive() {
			p.mu.Unlock()
			return proc, nil
		}
		stale = append(stale, proc)
	}
	p.seq++
	gen, seq := p.gen, p.seq
	p.mu.Unlock()
	return p.startProcess(gen, seq)
}

// release makes proc idle if it is healthy and current, or else stops it and
// waits for it to exit, so that the processes never exceed MaxProcs.
func (p *Pool) release(proc *process, healthy bool) {
	p.mu.Lock()
	if healthy && !p.closed && proc.gen == p.gen && proc.alive() {
		p.idle = append(p.idle, proc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	proc.stop()
	<-proc.exited
}

// forget removes an exited process from the pool.
func (p *Pool) forget(proc *process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.all, proc)
	for i, q := range p.idle {
		if q == proc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
}

// Restart stops the idle processes, so that the next invocations start the
// bootstrap afresh (after a rebuild). Invocations in flight finish on their
// old processes, which are then stopped.
func (p *Pool) Restart() {
	p.mu.Lock()
	p.gen++
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, proc := range idle {
		proc.stop()
	}
	p.log.Info("restart: the next invocations start the bootstrap afresh", slog.Int("stoppedIdle", len(idle)))
}

// Close stops every process (with their process groups) and waits until
// they have exited. Invocations in flight return ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.idle = nil
	procs := make([]*process, 0, len(p.all))
	for proc := range p.all {
		procs = append(procs, proc)
	}
	p.mu.Unlock()
	close(p.done)
	for _, proc := range procs {
		proc.stop()
	}
	p.wg.Wait()
	return nil
}

// processes reports how many processes the pool has (alive or not yet
// reaped), for tests.
func (p *Pool) processes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}
