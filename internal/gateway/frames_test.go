package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"github.com/aws/aws-lambda-go/events"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestPostsAreSentIn32KBFrames reads the raw frames of a large post: API
// Gateway splits messages over 32 KB into frames of at most 32 KB.
func TestPostsAreSentIn32KBFrames(t *testing.T) {
	g, err := New(Config{Stage: "raw", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	conn, br := rawHandshake(t, addr, "/raw", 30*time.Second)
	defer conn.Close()
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == ""; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection never opened")
		}
		g.conns.Range(func(k, _ any) bool { id = k.(string); return false })
	}

	for _, size := range []int{10, DefaultMaxFrameSize, DefaultMaxFrameSize + 1, 2 * DefaultMaxFrameSize, 100 * 1024, DefaultMaxMessageSize} {
		if err := g.Post(context.Background(), id, []byte(strings.Repeat("m", size))); err != nil {
			t.Fatal(err)
		}
		total, first, frames := 0, true, 0
		for {
			frames++
			var h [2]byte
			if _, err := io.ReadFull(br, h[:]); err != nil {
				t.Fatal(err)
			}
			fin, opcode, n := h[0]&0x80 != 0, h[0]&0x0f, int(h[1]&0x7f)
			switch n {
			case 126:
				var ext [2]byte
				_, _ = io.ReadFull(br, ext[:])
				n = int(binary.BigEndian.Uint16(ext[:]))
			case 127:
				var ext [8]byte
				_, _ = io.ReadFull(br, ext[:])
				n = int(binary.BigEndian.Uint64(ext[:]))
			}
			if h[1]&0x80 != 0 {
				t.Fatal("server frame is masked")
			}
			if n > DefaultMaxFrameSize {
				t.Errorf("%d-byte message: a frame of %d bytes", size, n)
			}
			if n == 0 {
				// coder/websocket's message writer ended every fragmented
				// message so; API Gateway does not.
				t.Errorf("%d-byte message: an empty frame", size)
			}
			if want := byte(opContinuation); !first && opcode != want || first && opcode != opText {
				t.Errorf("%d-byte message: opcode %d in frame %d", size, opcode, total)
			}
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				t.Fatal(err)
			}
			total += n
			first = false
			if fin {
				break
			}
		}
		if total != size {
			t.Errorf("got %d bytes, want %d", total, size)
		}
		if want := (size + DefaultMaxFrameSize - 1) / DefaultMaxFrameSize; frames != want {
			t.Errorf("%d-byte message in %d frames, want %d", size, frames, want)
		}
	}
}

// rawHandshake opens a WebSocket to addr+path by hand, so that a test can
// read and write raw frames. The connection has a deadline of timeout; the
// reader holds whatever followed the 101 response.
func rawHandshake(t *testing.T, addr, path string, timeout time.Duration) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	_, _ = io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		t.Fatalf("handshake status %d, want 101", resp.StatusCode)
	}
	return conn, br
}

// A message that never ends, one empty continuation frame after another,
// is cut off once it passes maxFragments frames: the connection is closed
// and $disconnect says 1009, instead of reading (and holding memory) until
// the idle timeout.
func TestEndlessContinuationFrames(t *testing.T) {
	conn, br, disconnects := rawConnection(t)
	var flood bytes.Buffer
	flood.Write(clientFrame(opText, false, []byte("x")))
	for range maxFragments + 10 {
		flood.Write(clientFrame(opContinuation, false, nil))
	}
	go func() { _, _ = conn.Write(flood.Bytes()) }()
	_, _ = io.Copy(io.Discard, br) // until the server closes
	select {
	case ev := <-disconnects:
		if got := ev.RequestContext.DisconnectStatusCode; got != 1009 {
			t.Errorf("disconnectStatusCode %d, want 1009", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the connection was not closed")
	}
	// A message in many (but not too many) frames still goes through.
	s := newFrameSniffer(DefaultMaxFrameSize)
	var ok bytes.Buffer
	ok.Write(clientFrame(opText, false, []byte("a")))
	for range 100 {
		ok.Write(clientFrame(opContinuation, false, []byte("b")))
	}
	ok.Write(clientFrame(opContinuation, true, []byte("c")))
	s.observe(ok.Bytes())
	if s.tooManyFrames.Load() {
		t.Errorf("a message of 102 frames was cut off")
	}
}

// A frame-level protocol error (a reserved opcode, RSV bits, a fragmented
// control frame) closes the connection with 1002, and $disconnect records
// that code, the one the client was sent.
func TestProtocolErrorRecordsWhatWasSent(t *testing.T) {
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"reserved opcode", clientFrame(0x3, true, []byte("x"))},
		{"RSV1 without an extension", func() []byte { f := clientFrame(opText, true, []byte("x")); f[0] |= 0x40; return f }()},
		{"fragmented ping", clientFrame(0x9, false, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, br, disconnects := rawConnection(t)
			if _, err := conn.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			sent, _ := io.ReadAll(br)
			select {
			case ev := <-disconnects:
				got := ev.RequestContext.DisconnectStatusCode
				// The client was sent a close frame with a status code:
				// $disconnect must say the same.
				if len(sent) >= 4 && sent[0] == 0x88 {
					if want := int64(sent[2])<<8 | int64(sent[3]); got != want {
						t.Errorf("disconnectStatusCode %d, the client was sent %d", got, want)
					}
				} else if got != 1006 {
					t.Errorf("no close frame sent, but disconnectStatusCode %d", got)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no $disconnect")
			}
		})
	}
}

// rawConnection opens a hand-made WebSocket to a gateway whose $disconnect
// events arrive on the returned channel.
func rawConnection(t *testing.T) (net.Conn, *bufio.Reader, <-chan events.APIGatewayWebsocketProxyRequest) {
	t.Helper()
	disconnects := make(chan events.APIGatewayWebsocketProxyRequest, 1)
	g, err := New(Config{Stage: "raw", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Routes: map[string]Integration{
		RouteDisconnect: IntegrationFunc(func(_ context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			disconnects <- req
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	conn, br := rawHandshake(t, strings.TrimPrefix(srv.URL, "http://"), "/raw", 30*time.Second)
	t.Cleanup(func() { conn.Close() })
	return conn, br, disconnects
}
