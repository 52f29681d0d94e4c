package main

import (
	"net"
	"net/http"
	"sync"
	"time"
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

// connLimiter counts the server's connections that are not hijacked and,
// over its cap, makes room by closing an idle keep-alive connection, or
// closes the new one when every counted connection is busy
// (http.Server.ConnState). A flood of idle keep-alives thus neither uses up
// the file descriptors nor locks new clients out.
type connLimiter struct {
	max int
	mu  sync.Mutex
	n   int
	// counted holds the connections counted, so that each leaves once;
	// idle those waiting for their next request.
	counted map[net.Conn]bool
	idle    map[net.Conn]bool
}

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{max: max, counted: map[net.Conn]bool{}, idle: map[net.Conn]bool{}}
}

func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew:
		if l.n >= l.max && !l.closeIdle() {
			_ = c.Close() // the server then reports StateClosed: not counted
			return
		}
		l.n++
		l.counted[c] = true
	case http.StateIdle:
		l.idle[c] = true
	case http.StateActive:
		delete(l.idle, c)
	case http.StateHijacked, http.StateClosed:
		delete(l.idle, c)
		if l.counted[c] {
			delete(l.counted, c)
			l.n--
		}
	}
}

// closeIdle closes one idle connection, and uncounts it at once (its
// StateClosed comes later), reporting whether there was one.
func (l *connLimiter) closeIdle() bool {
	for c := range l.idle {
		delete(l.idle, c)
		delete(l.counted, c)
		l.n--
		_ = c.Close()
		return true
	}
	return false
}

// open returns how many plain connections are open.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
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
