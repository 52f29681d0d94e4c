package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// trickle opens n connections from local address from (127.0.0.x) that
// send a request's first line and then one header byte every 200 ms,
// never finishing their headers, until the test ends.
func trickle(t *testing.T, addr, from string, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	var conns []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nX-Slow: ", addr)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				_, _ = c.Write([]byte("a"))
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// Sockets that trickle their headers held every plain-HTTP slot for the
// header timeout and refused every page load and handshake. Now, whoever
// trickles, from one address or the same as everyone's, page loads and
// handshakes go through, and one address holds at most its share.
func TestSlowHeadersLockNoOneOut(t *testing.T) {
	for _, tt := range []struct{ name, from string }{
		{"from another address", "127.0.0.2"},
		{"from the same address", "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, "-max-http-conns", "40")
			conns := trickle(t, s.addr, tt.from, 60)
			time.Sleep(300 * time.Millisecond)
			client := &http.Client{Timeout: 3 * time.Second}
			for i := range 5 {
				resp, err := client.Get("http://" + s.addr + "/config.json")
				if err != nil {
					t.Fatalf("page load %d while headers trickle: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				client.CloseIdleConnections()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, "ws://"+s.addr+"/local?name=ann", nil)
			if err != nil {
				t.Fatalf("handshake while headers trickle: %v", err)
			}
			ws.CloseNow()
			if tt.from == "127.0.0.1" {
				return
			}
			open := 0
			for _, c := range conns {
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); err != io.EOF {
					open++
				}
			}
			if want := 40 / 4; open > want {
				t.Errorf("one address holds %d of 40 slots, want at most %d", open, want)
			}
		})
	}
}

// The request line and headers are bounded as API Gateway bounds them
// (10,240 bytes): a 667 KB token in ?token= was read and handed on.
func TestRequestSizeAsAPIGateway(t *testing.T) {
	s := start(t)
	big := strings.Repeat("a", 667<<10)
	if got := handshake(t, "ws://"+s.addr+"/local?name=ann&token="+big, nil); got != http.StatusRequestURITooLong && got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 667 KB token in the query: %d, want 414 or 431", got)
	}
	h := http.Header{}
	h.Set("X-Big", strings.Repeat("b", 11<<10))
	if got := handshake(t, "ws://"+s.addr+"/local?name=ann", h); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("an 11 KB header: %d, want 431", got)
	}
	h.Set("X-Big", strings.Repeat("b", 8<<10))
	if got := handshake(t, "ws://"+s.addr+"/local?name=ann", h); got != 0 {
		t.Errorf("an 8 KB header: %d, want the handshake to succeed", got)
	}
	resp, err := http.Get("http://" + s.addr + "/config.json?pad=" + strings.Repeat("c", 10<<10))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestURITooLong && resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 10 KB query on a page: %d, want 414 or 431", resp.StatusCode)
	}
}
