package main

// A minimal WebSocket client (RFC 6455) for the load generator, built for
// low CPU per received frame: the server under test shares the machine's
// two cores with the load generator, so every microsecond spent here is
// taken from it.
//
// The handshake and the protocol's session opening run on an ordinary
// blocking net.Conn. The socket is then detached from Go's network poller
// (dup, close the original) and read by a few pollers, each an epoll loop
// that reads a ready socket once, parses every complete frame and hands
// each message to its client. That is one read system call per batch of
// frames instead of the two (one data, one EAGAIN) plus a goroutine switch
// that a goroutine per connection costs; on this machine it halves the
// load generator's CPU per delivery, measured against coder/websocket.
//
// Only what a chat client needs: text messages (fragmented or not), ping,
// pong and close; no extensions. Frames are masked as clients must.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxMessage bounds a message (and a frame) the client accepts.
const maxMessage = 1 << 20

var (
	errFrameTooLarge = errors.New("websocket: frame larger than 1 MiB")
	errBadFrame      = errors.New("websocket: malformed frame")
)

// frame is one parsed WebSocket frame; payload aliases the input.
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseFrame parses the frame at the start of b. It returns n == 0 when b
// does not yet hold a whole frame. A masked frame is unmasked in place.
func parseFrame(b []byte) (f frame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	if b[0]&0x70 != 0 { // RSV bits: no extension was negotiated
		return f, 0, errBadFrame
	}
	f.fin = b[0]&0x80 != 0
	f.op = b[0] & 0x0F
	masked := b[1]&0x80 != 0
	length := uint64(b[1] & 0x7F)
	hdr := 2
	switch length {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
		hdr = 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		length = binary.BigEndian.Uint64(b[2:10])
		hdr = 10
	}
	if length > maxMessage {
		return f, 0, errFrameTooLarge
	}
	if f.op >= opClose && (length > 125 || !f.fin) {
		return f, 0, errBadFrame // control frames are short and never fragmented
	}
	var key [4]byte
	if masked {
		if len(b) < hdr+4 {
			return f, 0, nil
		}
		copy(key[:], b[hdr:hdr+4])
		hdr += 4
	}
	end := hdr + int(length)
	if len(b) < end {
		return f, 0, nil
	}
	f.payload = b[hdr:end]
	if masked {
		maskBytes(key, f.payload)
	}
	return f, end, nil
}

func maskBytes(key [4]byte, p []byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// appendFrame appends a masked client frame.
func appendFrame(dst []byte, op byte, payload []byte, key [4]byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	maskBytes(key, dst[start:])
	return dst
}

// assembler joins frames into messages and answers control frames.
type assembler struct {
	pending []byte // bytes of an incomplete frame
	msg     []byte // fragments of an incomplete message
	inMsg   bool
}

// feed parses data (appended to any pending bytes) and calls onMessage for
// each complete data message and onControl for each control frame. Payloads
// alias internal buffers: valid only during the call.
func (a *assembler) feed(data []byte, onMessage func(op byte, msg []byte), onControl func(op byte, payload []byte)) error {
	buf, usedPending := data, len(a.pending) > 0
	if usedPending {
		a.pending = append(a.pending, data...)
		buf = a.pending
	}
	for {
		f, n, err := parseFrame(buf)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		buf = buf[n:]
		switch {
		case f.op >= opClose:
			onControl(f.op, f.payload)
		case f.op == opContinuation:
			if !a.inMsg {
				return errBadFrame
			}
			if len(a.msg)+len(f.payload) > maxMessage {
				return errFrameTooLarge
			}
			a.msg = append(a.msg, f.payload...)
			if f.fin {
				onMessage(opText, a.msg)
				a.msg, a.inMsg = a.msg[:0], false
			}
		case f.op == opText || f.op == opBinary:
			if a.inMsg {
				return errBadFrame
			}
			if f.fin {
				onMessage(f.op, f.payload)
			} else {
				a.msg, a.inMsg = append(a.msg[:0], f.payload...), true
			}
		default:
			return errBadFrame
		}
	}
	// Keep the incomplete tail for the next read.
	if usedPending {
		a.pending = a.pending[:copy(a.pending, buf)] // buf is a later part of the same array
	} else {
		a.pending = append(a.pending[:0], buf...)
	}
	return nil
}

// wsKeyGUID is RFC 6455's magic string.
const wsKeyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsKeyGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// handshakeError is a refused upgrade: the server answered status instead of 101.
type handshakeError struct {
	status int
	body   string
}

func (e *handshakeError) Error() string {
	return fmt.Sprintf("handshake refused: HTTP %d %s", e.status, e.body)
}

// session is a connection during its opening, in blocking mode: the
// WebSocket handshake done, the protocol's own opening (Socket.IO's) still
// to run. It implements messenger.
type session struct {
	nc  net.Conn
	br  *bufio.Reader
	asm assembler
	q   [][]byte // messages parsed but not yet returned
}

// messenger reads and writes whole text messages while a session opens.
type messenger interface {
	ReadMessage(ctx context.Context) ([]byte, error)
	WriteText(ctx context.Context, p []byte) error
}

// dialWS connects to a ws:// URL on a loopback address and performs the
// WebSocket handshake.
func dialWS(ctx context.Context, rawURL string) (*session, error) {
	u, err := loopbackURL(rawURL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if ra, ok := nc.RemoteAddr().(*net.TCPAddr); !ok || !ra.IP.IsLoopback() {
		nc.Close()
		return nil, fmt.Errorf("refusing %s: not a loopback address", nc.RemoteAddr())
	}
	s := &session{nc: nc, br: bufio.NewReaderSize(nc, 4096)}
	if err := s.handshake(ctx, u); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

func (s *session) handshake(ctx context.Context, u *url.URL) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.nc.SetDeadline(dl)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	path := u.RequestURI()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: chat-loadgen\r\n\r\n"
	if _, err := io.WriteString(s.nc, req); err != nil {
		return fmt.Errorf("send handshake: %w", err)
	}
	resp, err := http.ReadResponse(s.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return fmt.Errorf("read handshake response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return &handshakeError{status: resp.StatusCode, body: string(bytes.TrimSpace(body))}
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return fmt.Errorf("handshake: Sec-WebSocket-Accept %q does not match the key", got)
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return fmt.Errorf("handshake: server chose extensions %q, none were offered", ext)
	}
	return nil
}

// ReadMessage returns the next text message, answering pings meanwhile.
func (s *session) ReadMessage(ctx context.Context) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.nc.SetReadDeadline(dl)
	}
	var buf [4096]byte
	for range 1000 { // bounded: a session opens in a few messages
		if len(s.q) > 0 {
			m := s.q[0]
			s.q = s.q[1:]
			return m, nil
		}
		n, err := s.br.Read(buf[:])
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		var ctrlErr error
		err = s.asm.feed(buf[:n], func(_ byte, msg []byte) {
			s.q = append(s.q, bytes.Clone(msg))
		}, func(op byte, p []byte) {
			switch op {
			case opPing:
				ctrlErr = s.writeFrame(ctx, opPong, p)
			case opClose:
				ctrlErr = fmt.Errorf("server closed the connection: %s", closeReason(p))
			}
		})
		if err != nil {
			return nil, err
		}
		if ctrlErr != nil {
			return nil, ctrlErr
		}
	}
	return nil, errors.New("no message")
}

func (s *session) WriteText(ctx context.Context, p []byte) error {
	return s.writeFrame(ctx, opText, p)
}

func (s *session) writeFrame(ctx context.Context, op byte, p []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.nc.SetWriteDeadline(dl)
	}
	_, err := s.nc.Write(appendFrame(nil, op, p, newMaskKey()))
	return err
}

// detach takes the socket out of Go's network poller and returns a wsConn
// that owns it.
func (s *session) detach() (*wsConn, error) {
	_ = s.nc.SetDeadline(time.Time{})
	sc, ok := s.nc.(syscall.Conn)
	if !ok {
		return nil, errors.New("detach: not a syscall.Conn")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(f uintptr) {
		fd, dupErr = syscall.Dup(int(f))
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup socket: %w", dupErr)
	}
	syscall.CloseOnExec(fd)
	c := &wsConn{fd: fd}
	// Bytes already read past the handshake belong to the next frames.
	if n := s.br.Buffered(); n > 0 {
		b, _ := s.br.Peek(n)
		c.asm.pending = append(c.asm.pending, b...)
	}
	if len(s.q) > 0 {
		s.nc.Close()
		syscall.Close(fd)
		return nil, errors.New("detach: messages left unread while opening")
	}
	s.nc.Close() // the dup keeps the socket open
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("set nonblocking: %w", err)
	}
	return c, nil
}

func closeReason(p []byte) string {
	if len(p) < 2 {
		return "no status"
	}
	return fmt.Sprintf("status %d %q", binary.BigEndian.Uint16(p[:2]), p[2:])
}

var maskCounter atomic.Uint64

// newMaskKey returns a masking key. RFC 6455 wants it unpredictable to
// defeat proxy cache poisoning; between this program and a server on the
// same machine a cheap mix of a counter is enough.
func newMaskKey() [4]byte {
	x := maskCounter.Add(0x9E3779B97F4A7C15)
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x = bits.RotateLeft64(x, 17)
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], uint32(x))
	return k
}

// wsConn is an open WebSocket on a non-blocking socket read by a poller.
// The poller owns asm; writes may come from any goroutine.
type wsConn struct {
	fd     int
	asm    assembler
	wmu    sync.Mutex
	wbuf   []byte
	closed atomic.Bool // the fd was closed
}

var errWriteTimeout = errors.New("write timed out: the server is not reading")

// writeFrame writes one masked frame, waiting (bounded by timeout) while the
// socket's send buffer is full.
func (c *wsConn) writeFrame(op byte, p []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return net.ErrClosed
	}
	c.wbuf = appendFrame(c.wbuf[:0], op, p, newMaskKey())
	b := c.wbuf
	var deadline time.Time
	for len(b) > 0 {
		n, err := syscall.Write(c.fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == nil || err == syscall.EINTR:
		case err == syscall.EAGAIN:
			if deadline.IsZero() {
				deadline = time.Now().Add(timeout)
			} else if time.Now().After(deadline) {
				return errWriteTimeout
			}
			time.Sleep(200 * time.Microsecond)
		default:
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// close releases the socket (once).
func (c *wsConn) close() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.CompareAndSwap(false, true) {
		syscall.Close(c.fd)
	}
}

// handler receives what a poller reads from one connection.
type handler interface {
	conn() *wsConn
	// onData is called with the frames read in one go and the time they
	// were read.
	onData(data []byte, at time.Time)
	// onEnd is called once when the connection ends (EOF or error).
	onEnd(err error)
}

// poller reads the sockets of its connections with one epoll loop.
type poller struct {
	epfd    int
	mu      sync.Mutex
	members map[int]handler // by fd
	buf     []byte
	stop    atomic.Bool
	done    chan struct{}
	running atomic.Bool
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &poller{epfd: fd, members: map[int]handler{}, buf: make([]byte, 64<<10), done: make(chan struct{})}, nil
}

// add starts reading h's connection (level-triggered: a socket with bytes
// left is reported again).
func (p *poller) add(h handler) error {
	fd := h.conn().fd
	p.mu.Lock()
	p.members[fd] = h
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.members, fd)
		p.mu.Unlock()
		return fmt.Errorf("epoll_ctl add: %w", err)
	}
	return nil
}

// run reads until stopped; it calls onData and onEnd from this goroutine only.
func (p *poller) run() {
	p.running.Store(true)
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for !p.stop.Load() {
		n, err := syscall.EpollWait(p.epfd, events, 50) // ms: how soon a stop is noticed
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			return
		}
		for i := range n {
			fd := int(events[i].Fd)
			p.mu.Lock()
			h := p.members[fd]
			p.mu.Unlock()
			if h == nil {
				continue
			}
			p.readOnce(fd, h)
		}
	}
}

func (p *poller) readOnce(fd int, h handler) {
	n, err := syscall.Read(fd, p.buf)
	switch {
	case n > 0:
		h.onData(p.buf[:n], time.Now())
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		p.remove(fd, h, fmt.Errorf("read: %w", err))
	default: // n == 0: EOF
		p.remove(fd, h, io.EOF)
	}
}

func (p *poller) remove(fd int, h handler, err error) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	p.mu.Lock()
	delete(p.members, fd)
	p.mu.Unlock()
	h.onEnd(err)
}

// count is how many connections the poller still reads.
func (p *poller) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.members)
}

// shutdown stops the loop, waits for it, and closes the epoll instance.
func (p *poller) shutdown() {
	p.stop.Store(true)
	if p.running.Load() {
		<-p.done
	}
	syscall.Close(p.epfd)
}
