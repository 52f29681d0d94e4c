package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/serverless-chat/chat/internal/gateway"
)

// The local adapter's HTTP server holds two kinds of connections: WebSockets
// (hijacked from the server once upgraded, with limits of their own in
// internal/gateway) and plain HTTP ones (the page, config.json, the
// @connections API). Only the plain ones are bounded here, so that idle
// keep-alives or trickled requests cannot use up the process's file
// descriptors and lock out every new client.
const (
	// httpIdleTimeout closes a keep-alive connection idle between requests.
	httpIdleTimeout = 60 * time.Second
	// DefaultMaxHTTPConns caps the plain HTTP connections open at once.
	DefaultMaxHTTPConns = 1024
)

// httpRequestTimeout bounds reading and answering one plain request: a
// slowly trickled body is cut off. It is set per request, not on the
// server, because a WebSocket handshake waits for $connect (up to the
// integration timeout) before it is hijacked. (A variable for the tests.)
var httpRequestTimeout = 30 * time.Second

// readHeaderTimeout bounds how long a request's line and headers may take
// to arrive; a browser sends them in one packet.
const readHeaderTimeout = 5 * time.Second

// maxRequestHead is API Gateway's quota on the request line and header
// values together, 10,240 bytes (see gateway.MaxRequestHead): the page and
// the development issuer are bounded as the gateway's paths are.
const maxRequestHead = gateway.MaxRequestHead

// connLimiter counts the server's connections that are not hijacked and,
// over its cap, makes room by closing an idle keep-alive connection, or else
// the connection that has been reading its request line and headers the
// longest, from the address that holds the most; it closes the new one
// only when every counted connection is being served (http.Server.ConnState
// and ConnContext). One address holds at most a quarter of the slots, its
// share: past it, its own oldest idle or still-reading connection makes
// room. A flood of idle keep-alives or of trickled headers thus neither
// uses up the file descriptors nor locks other clients out.
type connLimiter struct {
	max   int
	share int // most connections of one address
	mu    sync.Mutex
	// conns are the connections counted, so that each leaves once.
	conns   map[net.Conn]*connInfo
	perAddr map[string]int
}

// connInfo is what the limiter knows of a connection.
type connInfo struct {
	addr    string
	since   time.Time // when it started reading its current request
	idle    bool      // between requests
	serving bool      // its request has been read and is being served
}

func newConnLimiter(limit int) *connLimiter {
	return &connLimiter{max: limit, share: max(1, limit/4), conns: map[net.Conn]*connInfo{}, perAddr: map[string]int{}}
}

// hostOf is the IP of c's remote address.
func hostOf(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ci := l.conns[c]
	switch state {
	case http.StateNew:
		addr := hostOf(c)
		if l.perAddr[addr] >= l.share && !l.evict(addr, true) || len(l.conns) >= l.max && !l.evict(addr, false) {
			_ = c.Close() // the server then reports StateClosed: not counted
			return
		}
		l.conns[c] = &connInfo{addr: addr, since: time.Now()}
		l.perAddr[addr]++
	case http.StateIdle:
		if ci != nil {
			ci.idle, ci.serving = true, false
		}
	case http.StateActive:
		if ci != nil {
			ci.idle, ci.since = false, time.Now()
		}
	case http.StateHijacked, http.StateClosed:
		if ci != nil {
			l.forget(c, ci)
		}
	}
}

// forget uncounts c. The caller holds mu.
func (l *connLimiter) forget(c net.Conn, ci *connInfo) {
	delete(l.conns, c)
	if l.perAddr[ci.addr]--; l.perAddr[ci.addr] <= 0 {
		delete(l.perAddr, ci.addr)
	}
}

// evict closes one connection that is not being served, to make room for
// a new one from addr: an idle one (of addr if addr is over its share, else
// of anyone), else the one that has been reading its request the longest,
// of addr if over its share, else of the address holding the most (then of
// anyone). It uncounts it at once (its StateClosed comes later) and
// reports whether there was one. The caller holds mu.
func (l *connLimiter) evict(addr string, overShare bool) bool {
	hog := addr
	if !overShare {
		for a, n := range l.perAddr {
			if n > l.perAddr[hog] {
				hog = a
			}
		}
	}
	var idle, hogReading, reading net.Conn
	older := func(a, b net.Conn) bool { return b == nil || l.conns[a].since.Before(l.conns[b].since) }
	for c, ci := range l.conns {
		switch {
		case ci.serving || overShare && ci.addr != addr:
		case ci.idle:
			idle = c
		case ci.addr == hog && older(c, hogReading):
			hogReading = c
		case older(c, reading):
			reading = c
		}
	}
	victim := idle
	for _, c := range []net.Conn{hogReading, reading} {
		if victim == nil {
			victim = c
		}
	}
	if victim == nil {
		return false
	}
	l.forget(victim, l.conns[victim])
	_ = victim.Close()
	return true
}

// serving marks c's request as read: it is being served, not trickled.
func (l *connLimiter) serving(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ci := l.conns[c]; ci != nil {
		ci.serving = true
	}
}

// connKey is the context key of a request's connection.
type connKey struct{}

// connContext keeps the connection in its requests' context
// (http.Server.ConnContext).
func (l *connLimiter) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// wrap tells the limiter that a request has been read before h serves it.
func (l *connLimiter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			l.serving(c)
		}
		h.ServeHTTP(w, r)
	})
}

// open returns how many plain connections are open.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// withRequestHeadLimit refuses a request whose line and header values
// together exceed maxRequestHead, as API Gateway does: 414 when the
// request line alone is too long, else 431. (The server's MaxHeaderBytes
// stops one much larger before it is read whole.)
func withRequestHeadLimit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line, total := gateway.RequestHeadSize(r)
		switch {
		case line > maxRequestHead:
			writeAPIError(w, http.StatusRequestURITooLong, "Request-URI Too Long")
		case total > maxRequestHead:
			writeAPIError(w, http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// writeAPIError answers as API Gateway does: {"message": ...}.
func writeAPIError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "{\"message\":%q}", message)
}

// withRequestTimeout bounds every request but a WebSocket handshake.
func withRequestTimeout(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			rc := http.NewResponseController(w)
			deadline := time.Now().Add(httpRequestTimeout)
			_ = rc.SetReadDeadline(deadline)
			_ = rc.SetWriteDeadline(deadline)
		}
		h.ServeHTTP(w, r)
	})
}
