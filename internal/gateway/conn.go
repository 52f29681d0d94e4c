package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
)

// conn is one client connection, from $connect to $disconnect.
type conn struct {
	g           *Gateway
	id          string
	connectedAt time.Time
	sourceIP    string
	userAgent   string
	domain      string
	// authorizer is requestContext.authorizer of every event: the
	// authorizer's principalId and context (nil without an authorizer).
	authorizer map[string]any

	ws    *websocket.Conn
	raw   *rawConn // the connection under ws
	sniff *frameSniffer

	lastActive atomic.Int64 // unix nanoseconds of the last data message, in or out
	queue      *writeQueue
	done       chan struct{} // closed when the connection ends

	closeMu     sync.Mutex
	idle        *time.Timer // the idle timeout's timer
	closeSet    bool        // the server decided to close, with closeCode
	closeCode   int
	closeReason string
}

// serveWebSocket runs $connect, upgrades, and then serves the connection
// until it ends.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		// Not a WebSocket handshake: let the library answer (426, 405...).
		// $connect never runs for it.
		_, _ = websocket.Accept(w, r, nil)
		return
	}
	// Every connection counts in g.live from here until $disconnect has
	// run (or $connect refused it), so that Shutdown can wait for it.
	g.mu.Lock()
	closing := g.closing
	if !closing {
		g.live.Add(1)
	}
	g.mu.Unlock()
	if closing {
		http.Error(w, errClosing.Error(), http.StatusServiceUnavailable)
		return
	}

	now := g.now()
	c := &conn{
		g:           g,
		id:          newID(),
		connectedAt: now,
		sourceIP:    sourceIP(r),
		userAgent:   r.UserAgent(),
		domain:      r.Host,
		queue:       newWriteQueue(g.queue, g.wbuf),
		done:        make(chan struct{}),
	}
	c.lastActive.Store(now.UnixNano())
	log := g.log.With(slog.String("connectionId", c.id))

	// The stage's throttle, then the authorizer, before $connect runs.
	if !g.throttle.allow(RouteConnect) {
		g.live.Done()
		log.Info("connection throttled")
		writeJSON(w, http.StatusTooManyRequests, `{"message":"Too Many Requests"}`)
		return
	}
	// One handshake, one request: the authorizer and $connect see the same
	// request (its ID included), as in API Gateway.
	req := g.connectEvent(c, r, now)
	if g.authorizer != nil {
		var status int
		var body string
		c.authorizer, status, body = g.authorize(context.WithoutCancel(r.Context()), c, req)
		if status != 0 {
			g.live.Done()
			log.Info("connection refused by the authorizer", slog.Int("status", status))
			writeJSON(w, status, body)
			return
		}
		req.RequestContext.Authorizer = authorizerContext(c.authorizer)
	}

	// $connect, while the upgrade waits.
	subprotocol := ""
	if in, ok := g.routes[RouteConnect]; ok {
		log := log.With(slog.String("routeKey", RouteConnect), slog.String("apiRequestId", req.RequestContext.RequestID))
		// A client that gives up during $connect does not cancel it.
		resp, err := g.invoke(context.WithoutCancel(r.Context()), in, req)
		if err != nil {
			g.live.Done()
			log.Error("connect integration failed", slog.Any("error", err))
			writeJSON(w, http.StatusInternalServerError, `{"message": "Internal server error"}`)
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			g.live.Done()
			log.Info("connection refused", slog.Int("status", resp.StatusCode))
			refuse(w, resp.StatusCode, resp.Body)
			return
		}
		subprotocol = responseHeader(resp.Headers, resp.MultiValueHeaders, "Sec-WebSocket-Protocol")
	}

	// The connection exists for @connections from here: a client that
	// sees the handshake complete can be posted to at once.
	c.sniff = newFrameSniffer(g.limits.MaxFrameSize)
	g.mu.Lock()
	closing = g.closing
	if !closing {
		g.conns.Store(c.id, c)
	}
	g.mu.Unlock()

	// The upgrade. Only $connect's Sec-WebSocket-Protocol is echoed: Accept
	// keeps a header that is already set and negotiates nothing itself.
	if subprotocol != "" {
		w.Header().Set("Sec-WebSocket-Protocol", subprotocol)
	}
	hw := &hijackingWriter{ResponseWriter: w, s: c.sniff, timeout: g.wtime}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // API Gateway does not check Origin
	})
	if err != nil {
		// $connect said yes but the connection never opened: API Gateway
		// would see the client go away and run $disconnect.
		log.Warn("upgrade failed", slog.Any("error", err))
		g.disconnect(c, 1006, "")
		return
	}
	ws.SetReadLimit(g.limits.MaxMessageSize)
	c.raw = hw.conn
	c.closeMu.Lock()
	c.ws = ws
	pending, code, reason := c.closeSet, c.closeCode, c.closeReason
	c.closeMu.Unlock()
	switch {
	case closing:
		c.closeWith(1001, "Going away")
	case pending: // closed (DELETE, shutdown, full queue) while upgrading
		go func() { _ = ws.Close(websocket.StatusCode(code), reason) }()
	}
	log.Debug("connection open", slog.String("sourceIp", c.sourceIP))

	c.closeMu.Lock()
	c.idle = time.AfterFunc(g.limits.IdleTimeout, c.checkIdle)
	c.closeMu.Unlock()
	hard := time.AfterFunc(g.limits.MaxDuration, func() { c.closeWith(1001, "Going away") })
	go c.writeLoop()
	endCode, endReason := c.readLoop()
	c.closeMu.Lock()
	c.idle.Stop()
	c.closeMu.Unlock()
	hard.Stop()
	g.disconnect(c, endCode, endReason)
}

// readLoop reads messages and handles them one at a time until the
// connection ends; it returns the disconnect status code and reason.
func (c *conn) readLoop() (int, string) {
	ctx := context.Background()
	var n int64
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			return c.endStatus(err)
		}
		n++
		if typ == websocket.MessageBinary {
			c.closeNow(int(websocket.StatusUnsupportedData), "Binary frames are not supported")
			return c.endStatus(nil)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			return c.endStatus(err) // over the message limit: the library closed with 1009
		}
		if c.sniff.oversized(n) {
			c.closeNow(int(websocket.StatusMessageTooBig), "Frame too big")
			return c.endStatus(nil)
		}
		c.touch()
		c.handle(ctx, body)
	}
}

// handle routes one message and calls its integration.
func (c *conn) handle(ctx context.Context, body []byte) {
	g := c.g
	now := g.now()
	routeKey := g.selectRoute(body)
	if routeKey == "" {
		_ = c.enqueue(forbidden(c.id, newID()))
		return
	}
	req := g.messageEvent(c, routeKey, body, now)
	if !g.throttle.allow(routeKey) {
		_ = c.enqueue(tooManyRequests(c.id, req.RequestContext.RequestID))
		return
	}
	resp, err := g.invoke(ctx, g.routes[routeKey], req)
	if err != nil {
		g.log.Error("integration failed", slog.String("connectionId", c.id), slog.String("routeKey", routeKey),
			slog.String("apiRequestId", req.RequestContext.RequestID), slog.Any("error", err))
		_ = c.enqueue(internalError(c.id, req.RequestContext.RequestID))
		return
	}
	// A route with a route response sends the integration's response body
	// back to the client; any other drops it.
	if g.twoWay[routeKey] && resp.Body != "" {
		_ = c.enqueue([]byte(resp.Body))
	}
}

// maxBatch bounds the messages written in one batch.
const maxBatch = 128

// writeLoop writes queued messages in order until the connection ends.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.queue.ready:
		}
		for {
			n, err := c.writeBatch()
			if err != nil {
				if !c.closing() {
					c.g.log.Warn("write failed; dropping the connection", slog.String("connectionId", c.id), slog.Any("error", err))
				}
				_ = c.ws.CloseNow()
				return
			}
			if n == 0 {
				break
			}
			c.touch()
		}
	}
}

// writeBatch writes the messages already queued, up to maxBatch, with the
// connection corked: they leave in one write (two if over maxCorked bytes).
// It returns how many it took from the queue.
func (c *conn) writeBatch() (int, error) {
	msg, ok := c.queue.pop()
	if !ok {
		return 0, nil
	}
	c.raw.cork()
	n := 1
	err := c.write(msg)
	for err == nil && n < maxBatch {
		if msg, ok = c.queue.pop(); !ok {
			break
		}
		n++
		err = c.write(msg)
	}
	// Always uncork: control frames written meanwhile wait in the buffer too.
	if uerr := c.raw.uncork(); err == nil {
		err = uerr
	}
	return n, err
}

// write sends one text message, in frames of at most MaxFrameSize bytes
// as API Gateway does, the last with FIN set. It needs no context
// deadline: the connection's writes have one (rawConn).
func (c *conn) write(msg []byte) error {
	return c.raw.writeMessage(msg, int(c.g.limits.MaxFrameSize))
}

// enqueue queues a message for the connection. A connection that is
// closing or closed is gone; a full queue means the client does not read
// fast enough: the post is refused for now (429), the client stays.
func (c *conn) enqueue(msg []byte) error {
	if c.closing() {
		return chat.ErrGone
	}
	if !c.queue.push(msg) {
		c.g.throttledPosts.Add(1)
		return fmt.Errorf("client buffer full (%d messages waiting): %w", c.queue.len(), chat.ErrThrottled)
	}
	return nil
}

func (c *conn) touch() { c.lastActive.Store(c.g.now().UnixNano()) }

func (c *conn) lastActiveAt() time.Time { return time.Unix(0, c.lastActive.Load()) }

// checkIdle closes the connection if it has been idle for the idle
// timeout, or checks again when it could be.
func (c *conn) checkIdle() {
	select {
	case <-c.done:
		return
	default:
	}
	left := c.g.limits.IdleTimeout - c.g.now().Sub(c.lastActiveAt())
	if left <= 0 {
		c.closeWith(1001, "Going away")
		return
	}
	c.closeMu.Lock()
	c.idle.Reset(left)
	c.closeMu.Unlock()
}

// setClose records why the server closes the connection; the first reason
// wins. It reports whether this call set it.
func (c *conn) setClose(code int, reason string) bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeSet {
		return false
	}
	c.closeSet, c.closeCode, c.closeReason = true, code, reason
	return true
}

// closing reports whether the connection has ended or the server has
// begun to close it: writes then fail as a matter of course.
func (c *conn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeSet
}

// closeWith closes the connection from another goroutine: the close
// handshake runs in the background and the read loop then ends. Before the
// upgrade has completed, the reason is kept and the upgrade closes it.
func (c *conn) closeWith(code int, reason string) {
	if !c.setClose(code, reason) {
		return
	}
	c.closeMu.Lock()
	ws := c.ws
	c.closeMu.Unlock()
	if ws != nil {
		go func() { _ = ws.Close(websocket.StatusCode(code), reason) }()
	}
}

// closeNow closes the connection from the read loop itself.
func (c *conn) closeNow(code int, reason string) {
	if c.setClose(code, reason) {
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	}
}

// endStatus turns the way the read loop ended into disconnectStatusCode
// and disconnectReason.
func (c *conn) endStatus(err error) (int, string) {
	c.closeMu.Lock()
	set, code, reason := c.closeSet, c.closeCode, c.closeReason
	c.closeMu.Unlock()
	if set {
		return code, reason
	}
	var ce websocket.CloseError
	switch {
	case c.sniff != nil && c.sniff.tooManyFrames.Load():
		return int(websocket.StatusMessageTooBig), "Too many frames"
	case errors.As(err, &ce):
		return int(ce.Code), ce.Reason
	case errors.Is(err, websocket.ErrMessageTooBig):
		return int(websocket.StatusMessageTooBig), "Message too big"
	case c.raw != nil && c.raw.sentClose.Load() != 0:
		// The library closed the connection itself (a frame-level
		// protocol error: 1002): record what the client was sent.
		return int(c.raw.sentClose.Load()), ""
	case err != nil && strings.Contains(err.Error(), "protocol violation"):
		return int(websocket.StatusProtocolError), "Protocol error"
	}
	return int(websocket.StatusAbnormalClosure), ""
}

// disconnect forgets the connection and runs $disconnect, once.
func (g *Gateway) disconnect(c *conn, code int, reason string) {
	defer g.live.Done()
	g.conns.CompareAndDelete(c.id, c)
	close(c.done)
	if c.ws != nil {
		_ = c.ws.CloseNow()
	}
	log := g.log.With(slog.String("connectionId", c.id), slog.Int("disconnectStatusCode", code))
	in, ok := g.routes[RouteDisconnect]
	if !ok {
		log.Debug("connection closed")
		return
	}
	req := g.disconnectEvent(c, code, reason, g.now())
	if _, err := g.invoke(context.Background(), in, req); err != nil {
		log.Error("disconnect integration failed", slog.String("routeKey", RouteDisconnect),
			slog.String("apiRequestId", req.RequestContext.RequestID), slog.Any("error", err))
	}
}

// isUpgrade reports whether r is a WebSocket handshake worth running
// $connect for; the library checks the rest.
func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket") &&
		r.Header.Get("Sec-WebSocket-Version") == "13" &&
		r.Header.Get("Sec-WebSocket-Key") != ""
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// responseHeader finds a header of an integration response, ignoring case.
func responseHeader(single map[string]string, multi map[string][]string, key string) string {
	for k, v := range single {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	for k, vs := range multi {
		if strings.EqualFold(k, key) && len(vs) > 0 {
			return strings.Join(vs, ",")
		}
	}
	return ""
}

// refuse answers a handshake that $connect refused.
func refuse(w http.ResponseWriter, status int, body string) {
	if status < 100 || status > 599 {
		status = http.StatusInternalServerError
		body = `{"message": "Internal server error"}`
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
