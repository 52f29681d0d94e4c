package runtimeapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// process is one running bootstrap, an execution environment: it has its own
// Runtime API listener, so requests need no routing, and serves one
// invocation at a time.
type process struct {
	pool *Pool
	gen  int
	pid  int
	cmd  *exec.Cmd
	srv  *http.Server
	// marker is the environment entry only this process and what it
	// starts carry (its log stream name, which ends in 32 random hex
	// digits): how killTree finds descendants that left the process group.
	marker string

	// pending holds the invocation handed to this process until the
	// runtime's /next takes it.
	pending chan *invocation
	// current is the invocation the runtime took and has not answered.
	current atomic.Pointer[invocation]
	// nextCalled gets a token whenever the runtime calls /next: it is done
	// with its previous invocation.
	nextCalled chan struct{}
	// initialized is set by the first /next: init is over.
	initialized atomic.Bool

	initFailed   chan struct{} // closed by /runtime/init/error
	initErrorDoc []byte        // written before initFailed is closed
	initOnce     sync.Once

	exited  chan struct{} // closed once the process has been reaped
	exitErr error         // written before exited is closed

	stopped  chan struct{} // closed by stop
	stopOnce sync.Once
}

// startError is a bootstrap that could not be executed.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// startProcess starts the bootstrap with a Runtime API listener of its own
// on 127.0.0.1 and registers it in the pool.
func (p *Pool) startProcess(gen, seq int) (*process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API listener: %w", err)
	}
	proc := &process{
		pool:       p,
		gen:        gen,
		pending:    make(chan *invocation, 1),
		nextCalled: make(chan struct{}, 1),
		initFailed: make(chan struct{}),
		exited:     make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	proc.srv = &http.Server{
		Handler:           proc.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = proc.srv.Serve(ln) }() // returns when stop closes the server

	// Our own pipes rather than exec's copying goroutines: Wait then returns
	// as soon as the bootstrap exits, even if a grandchild still holds the
	// pipe.
	outR, outW, err := os.Pipe()
	if err != nil {
		proc.srv.Close()
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		proc.srv.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd := exec.Command(p.fn.Bootstrap, p.fn.Args...)
	cmd.Dir = p.fn.TaskRoot
	stream := logStreamName(time.Now())
	cmd.Env = p.environ(ln.Addr().String(), stream)
	cmd.Stdout = outW
	cmd.Stderr = errW
	setProcessGroup(cmd)
	err = cmd.Start()
	outW.Close() // the child has its copies
	errW.Close()
	if err != nil {
		proc.srv.Close()
		outR.Close()
		errR.Close()
		return nil, &startError{err: err}
	}
	proc.cmd = cmd
	proc.pid = cmd.Process.Pid
	proc.marker = "AWS_LAMBDA_LOG_STREAM_NAME=" + stream
	for _, kv := range cmd.Env {
		if strings.HasPrefix(kv, "AWS_LAMBDA_LOG_STREAM_NAME=") {
			proc.marker = kv // as the process has it, should the function's Env set it
		}
	}

	log := p.log.With(slog.Int("pid", proc.pid))
	var logs sync.WaitGroup
	logs.Add(2)
	go func() { defer logs.Done(); logLines(log, "stdout", outR) }()
	go func() { defer logs.Done(); logLines(log, "stderr", errR) }()

	p.mu.Lock()
	p.all[proc] = struct{}{}
	closed := p.closed
	// The invocation goroutine that called us holds the WaitGroup above
	// zero, so this Add cannot race with Close's Wait.
	p.wg.Add(1)
	p.mu.Unlock()
	go proc.wait(log, &logs, outR, errR)
	if closed {
		proc.stop()
		return nil, ErrClosed
	}
	log.Debug("runtime started", slog.Int("process", seq), slog.String("api", ln.Addr().String()))
	return proc, nil
}

// wait reaps the process, then kills what is left of its process group (in
// Lambda a runtime's exit ends its whole environment) and drains its output.
func (proc *process) wait(log *slog.Logger, logs *sync.WaitGroup, pipes ...*os.File) {
	p := proc.pool
	defer p.wg.Done()
	err := proc.cmd.Wait()
	proc.exitErr = err
	killGroup(proc.pid)
	// Reaped: its pid may be another process's now, so the tree is found by
	// its marker only (its children were orphaned anyway).
	killTree(0, proc.marker)
	waitGroupGone(proc.pid, 2*time.Second)
	close(proc.exited)
	select {
	case <-proc.stopped:
		log.Debug("runtime stopped", slog.Any("exit", err))
	default:
		log.Info("runtime exited", slog.Any("exit", err))
	}
	proc.stop()
	p.forget(proc)

	// The pipes close when the group is gone; a process that left the
	// group (setsid) may hold them open, so do not wait for ever.
	drained := make(chan struct{})
	go func() { logs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(time.Second):
		for _, f := range pipes {
			f.Close()
		}
		<-drained
	}
	for _, f := range pipes {
		f.Close()
	}
}

// stop kills the process group and closes its Runtime API. It does not wait;
// exited is closed once the process has been reaped.
func (proc *process) stop() {
	proc.stopOnce.Do(func() {
		close(proc.stopped)
		if proc.cmd != nil {
			killGroup(proc.pid)
			root := proc.pid
			select {
			case <-proc.exited:
				root = 0 // reaped: its pid may be another process's now
			default:
			}
			killTree(root, proc.marker)
		}
		proc.srv.Close()
	})
}

// alive reports whether the process is running and has not been stopped.
func (proc *process) alive() bool {
	select {
	case <-proc.exited:
		return false
	case <-proc.stopped:
		return false
	default:
		return true
	}
}

// withdraw takes inv back if the runtime has not taken it yet.
func (proc *process) withdraw(inv *invocation) bool {
	select {
	case got := <-proc.pending:
		if got != inv {
			// Cannot happen: a process has one invocation at a time.
			proc.pending <- got
			return false
		}
		return true
	default:
		return false
	}
}

// environ builds the child's environment: PATH and HOME from the parent,
// Lambda's variables, then the function's own, which win except for
// AWS_LAMBDA_RUNTIME_API.
func (p *Pool) environ(runtimeAPI, logStream string) []string {
	env := map[string]string{
		// Lambda's PATH, for a parent without one.
		"PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	env["AWS_LAMBDA_FUNCTION_NAME"] = p.fn.Name
	env["AWS_LAMBDA_FUNCTION_VERSION"] = latest
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(p.fn.MemoryMB)
	env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + p.fn.Name
	env["AWS_LAMBDA_LOG_STREAM_NAME"] = logStream
	env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "on-demand"
	env["AWS_REGION"] = p.fn.Region
	env["AWS_DEFAULT_REGION"] = p.fn.Region
	env["_HANDLER"] = p.fn.Handler
	env["LAMBDA_TASK_ROOT"] = p.fn.TaskRoot
	env["TZ"] = ":UTC"
	for k, v := range p.fn.Env {
		env[k] = v
	}
	env["AWS_LAMBDA_RUNTIME_API"] = runtimeAPI

	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// logStreamName is a name like Lambda's: 2024/01/31/[$LATEST]<32 hex digits>.
func logStreamName(now time.Time) string {
	return now.UTC().Format("2006/01/02") + "/[" + latest + "]" + randomHex(16)
}

// maxLogLine is where a function's log line is cut, as Lambda cuts a log
// event at 256 KB: the rest of the line, up to its newline, is dropped
// without being held.
const maxLogLine = 256 << 10

// logLines logs each line the process writes to one of its streams, each cut
// at maxLogLine.
func logLines(log *slog.Logger, stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		if room := maxLogLine - len(line); len(chunk) > room {
			chunk, cut = chunk[:room], true
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // the line goes on
		}
		if s := strings.TrimRight(string(line), "\r\n"); s != "" {
			if cut {
				log.Info(s, slog.String("stream", stream), slog.Bool("truncated", true))
			} else {
				log.Info(s, slog.String("stream", stream))
			}
		}
		line, cut = line[:0], false
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				log.Debug("reading the function's output", slog.String("stream", stream), slog.Any("error", err))
			}
			return
		}
	}
}
