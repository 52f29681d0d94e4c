package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// rawConn is a client's hijacked TCP connection, under coder/websocket.
//
// Reads go through a frameSniffer (see frames.go).
//
// Writes may be corked. coder/websocket flushes every frame it writes, so a
// connection sent many small messages would cost a write system call each,
// which dominated the server's CPU in a busy room. The write loop corks
// the connection, writes every message already queued, and uncorks it:
// the batch leaves in one system call. While corked, writes only append to
// a buffer; that includes control frames (pong, close) the library writes
// from other goroutines, which therefore leave with the batch. Only the
// write loop corks, and it always uncorks right after its batch, so nothing
// stays buffered. A buffer over maxCorked bytes is sent at once, so a
// batch never holds more than that.
//
// Every write to the network has a deadline of timeout from its start, so
// a client that stops reading cannot hold a writer forever: the write fails
// and the connection is dropped.
type rawConn struct {
	net.Conn
	r       io.Reader
	s       *frameSniffer
	timeout time.Duration

	mu     sync.Mutex // serialises writes; guards corked and buf
	corked bool
	buf    *[]byte // corked bytes; from corkBuffers, only while corked
	// sentClose is the status code of the close frame written to the
	// client, 0 until one is: the library answers frame-level protocol
	// errors with a close of its own (1002), and $disconnect must record
	// the code the client was sent.
	sentClose atomic.Int32
	// closeWritten says a close frame went out (with a code or not): no
	// data frame may follow it.
	closeWritten atomic.Bool
}

// maxCorked bounds the bytes a corked connection buffers.
const maxCorked = 256 << 10

// corkBuffers lends buffers to corked connections, so that idle ones keep
// none.
var corkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.s.observe(p[:n])
	if c.s.tooManyFrames.Load() {
		return 0, errTooManyFrames
	}
	return n, err
}

// errTooManyFrames ends a connection whose message has more frames than
// maxFragments.
var errTooManyFrames = errors.New("too many frames in one message")

// Write sends p, or buffers it while the connection is corked.
func (c *rawConn) Write(p []byte) (int, error) {
	// A server's close frame, unmasked: 0x88, length, status (2 bytes).
	if len(p) >= 2 && p[0] == 0x88 {
		c.closeWritten.Store(true)
	}
	if len(p) >= 4 && p[0] == 0x88 && p[1]&0x7f >= 2 && p[1]&0x7f < 126 {
		c.sentClose.CompareAndSwap(0, int32(p[2])<<8|int32(p[3]))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(p)
}

// errCloseSent refuses a data message after the close frame.
var errCloseSent = errors.New("close frame already sent")

// writeMessage writes msg as one text message in frames of at most
// maxFrame bytes, the last with FIN set, as API Gateway splits what it
// sends. coder/websocket's message writer ends a fragmented message with
// an empty FIN frame, which API Gateway never sends; so the gateway writes
// its data frames itself, all of one message under the lock, and leaves the
// library the handshake and the control frames.
func (c *rawConn) writeMessage(msg []byte, maxFrame int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeWritten.Load() {
		return errCloseSent
	}
	var hdr [10]byte
	opcode := byte(opText)
	for first := true; first || len(msg) > 0; first = false {
		n := min(len(msg), maxFrame)
		b0 := opcode
		if n == len(msg) {
			b0 |= 0x80 // FIN
		}
		if _, err := c.write(appendFrameHeader(hdr[:0], b0, n)); err != nil {
			return err
		}
		if _, err := c.write(msg[:n]); err != nil {
			return err
		}
		msg = msg[n:]
		opcode = opContinuation
	}
	return nil
}

// appendFrameHeader appends a server's (unmasked) frame header, RFC 6455
// section 5.2.
func appendFrameHeader(b []byte, b0 byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, b0, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, b0, 127), uint64(n))
}

// write sends p, or buffers it while the connection is corked. c.mu is held.
func (c *rawConn) write(p []byte) (int, error) {
	if !c.corked {
		return c.send(p)
	}
	if c.buf == nil {
		c.buf = corkBuffers.Get().(*[]byte)
	}
	if len(*c.buf)+len(p) > maxCorked {
		if err := c.flush(); err != nil {
			return 0, err
		}
		if len(p) > maxCorked {
			return c.send(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// cork makes writes buffer until uncork.
func (c *rawConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork sends what the connection buffered, in one write, and makes
// writes go straight out again.
func (c *rawConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.buf == nil {
		return nil
	}
	err := c.flush()
	corkBuffers.Put(c.buf)
	c.buf = nil
	return err
}

// closeFlushTimeout bounds the last flush of Close.
const closeFlushTimeout = time.Second

// Close sends what is buffered before it closes the connection: the echo of
// a client's close frame, written by the library while the write loop had
// the connection corked, may be in the buffer. Closing without it made
// about 0.5 % of clean closes in a busy room end as 1006 in the browser.
func (c *rawConn) Close() error {
	c.mu.Lock()
	if c.buf != nil && len(*c.buf) > 0 {
		if c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout)) == nil {
			_, _ = c.Conn.Write(*c.buf)
		}
		*c.buf = (*c.buf)[:0]
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// flush sends the buffered bytes. c.mu is held.
func (c *rawConn) flush() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	_, err := c.send(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// send writes p to the network, within the write timeout. c.mu is held.
func (c *rawConn) send(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// hijackingWriter wraps the ResponseWriter given to websocket.Accept so
// that the connection it hijacks is a rawConn, kept in conn.
type hijackingWriter struct {
	http.ResponseWriter
	s       *frameSniffer
	timeout time.Duration
	conn    *rawConn // set by a successful Hijack
}

// writeBufferSize is the size of the buffered writer coder/websocket writes
// frames through. Corking does the batching, so it can be small; larger
// writes bypass it.
const writeBufferSize = 1024

func (w *hijackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Bytes the server already buffered (a client that sent frames right
	// behind its handshake) go through the sniffer first.
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	rc := &rawConn{
		Conn:    conn,
		r:       io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn),
		s:       w.s,
		timeout: w.timeout,
	}
	w.conn = rc
	return rc, bufio.NewReadWriter(bufio.NewReader(rc), bufio.NewWriterSize(rc, writeBufferSize)), nil
}

func (w *hijackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
