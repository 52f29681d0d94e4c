package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Plain HTTP connections are capped: past -max-http-conns, new ones are
// closed at once, so idle keep-alives or half-sent requests cannot use up
// the file descriptors; an established WebSocket is not affected. A
// trickled request body is cut off by the request timeout.
func TestHTTPConnectionLimits(t *testing.T) {
	httpRequestTimeout = time.Second
	t.Cleanup(func() { httpRequestTimeout = 30 * time.Second })
	s := start(t, "-max-http-conns", "20")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/local?name=ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	// 100 connections that send nothing: a slowloris.
	var conns []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		defer c.Close()
	}
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < 80 {
		t.Errorf("%d of 100 idle connections closed with a cap of 20, want at least 80", closed)
	}
	// The established WebSocket still works.
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"chat message","text":"still here","clientMsgId":"lim-1"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("the WebSocket stopped working: %v", err)
		}
		if strings.Contains(string(b), `"type":"ack"`) {
			break
		}
	}
	for _, c := range conns {
		c.Close()
	}

	// Idle keep-alives (a request, then nothing) filling the cap make room
	// for new clients: the oldest idle ones are closed.
	var idle []net.Conn
	for range 40 {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /config.json HTTP/1.1\r\nHost: %s\r\n\r\n", s.addr)
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			// Closed to make room for a later one: fine.
			continue
		}
		idle = append(idle, c)
	}
	late, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/local?name=late", nil)
	if err != nil {
		t.Fatalf("a new client during a keep-alive flood: %v", err)
	}
	late.CloseNow()

	// A body trickled one byte at a time is cut off.
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /local/@connections/x HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\nx", s.addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && !strings.Contains(line, " 4") && !strings.Contains(line, " 5") {
		t.Errorf("a trickled body got %q, want the connection cut off (or an error status)", line)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("a trickled body held the connection for 10 s: no request timeout")
	}
}

// A WebSocket handshake for a stage that does not exist gets API Gateway's
// 403 {"message":"Forbidden"}, not the page server's 404.
func TestWrongStageIsForbidden(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws://"+s.addr+"/prod?name=ann", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial a wrong stage: %v, %v; want 403", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != `{"message":"Forbidden"}` {
		t.Errorf("body %q, want {\"message\":\"Forbidden\"}", body)
	}
}
