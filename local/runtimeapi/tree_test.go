package runtimeapi

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
)

// A grandchild that left the process group (setsid) dies with its function:
// when the pool closes, and when the runtime exits on its own.
func TestSetsidGrandchildDiesWithTheFunction(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		p, _ := startPool(t, Function{})
		r := invokeOK(t, p, `{"do":"setsid"}`)
		if r.ChildPID == 0 || gone(r.ChildPID) {
			t.Fatalf("no grandchild: %+v", r.ChildPID)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		waitGone(t, r.ChildPID)
	})
	t.Run("runtime exits", func(t *testing.T) {
		p, _ := startPool(t, Function{MaxProcs: 1})
		r := invokeOK(t, p, `{"do":"setsid"}`)
		if r.ChildPID == 0 || gone(r.ChildPID) {
			t.Fatalf("no grandchild: %+v", r.ChildPID)
		}
		invokeFails(t, p, `{"do":"exit"}`)
		waitGone(t, r.PID)
		waitGone(t, r.ChildPID)
	})
}

// lineLengths is a slog handler that keeps only the length of each message.
type lineLengths struct{ n []int }

func (h *lineLengths) Enabled(context.Context, slog.Level) bool { return true }
func (h *lineLengths) Handle(_ context.Context, r slog.Record) error {
	h.n = append(h.n, len(r.Message))
	return nil
}
func (h *lineLengths) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lineLengths) WithGroup(string) slog.Handler      { return h }

// endless is n bytes of 'x' without a newline, then "\nafter\n".
type endless struct {
	n    int
	tail string
}

func (e *endless) Read(b []byte) (int, error) {
	if e.n == 0 {
		if e.tail == "" {
			return 0, io.EOF
		}
		k := copy(b, e.tail)
		e.tail = e.tail[k:]
		return k, nil
	}
	k := min(len(b), e.n)
	for i := range k {
		b[i] = 'x'
	}
	e.n -= k
	return k, nil
}

// A function's log line is cut at 256 KB, as Lambda cuts a log event, and
// reading it does not hold the whole line: a function writing 300 MB
// without a newline raised the adapter's RSS to 316 MB.
func TestLogLinesCutAt256KB(t *testing.T) {
	h := &lineLengths{}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	logLines(slog.New(h), "stdout", &endless{n: 64 << 20, tail: "\nafter\n"})
	runtime.ReadMemStats(&after)
	if len(h.n) != 2 || h.n[0] != maxLogLine || h.n[1] != len("after") {
		t.Errorf("line lengths %v, want [%d %d]", h.n, maxLogLine, len("after"))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("reading a 64 MiB line allocated %d bytes, want under 8 MiB", got)
	}
}
