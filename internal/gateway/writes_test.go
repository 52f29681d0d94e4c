package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/gateway"
)

// TestPostsKeepTheirOrder posts many messages, small and large, to a client
// that reads them while it also pings the server: they arrive whole, once,
// in order, however the write loop batches them, and the pongs get through.
func TestPostsKeepTheirOrder(t *testing.T) {
	const messages = 3000
	e := newEnv(t, func(c *gateway.Config) { c.WriteQueue = messages })
	c := e.connect(t, "alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	body := func(i int) []byte {
		n := 50
		if i%200 == 7 {
			n = 100 * 1024 // framed at 32 KB, and over a batch's byte bound with others
		}
		return fmt.Appendf(nil, "%d:%s", i, bytes.Repeat([]byte{'x'}, n))
	}
	var g errgroup.Group
	g.Go(func() error {
		for i := range messages {
			if err := e.gw.Post(ctx, c.id, body(i)); err != nil {
				return fmt.Errorf("post %d: %w", i, err)
			}
		}
		return nil
	})
	pings := make(chan error, 1)
	stopPings := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopPings:
				pings <- nil
				return
			default:
			}
			if err := c.ws.Ping(ctx); err != nil {
				pings <- fmt.Errorf("ping: %w", err)
				return
			}
		}
	}()
	for i := range messages {
		_, got, err := c.ws.Read(ctx)
		if err != nil {
			t.Fatalf("read message %d: %v", i, err)
		}
		if want := body(i); !bytes.Equal(got, want) {
			head, _, _ := bytes.Cut(got, []byte(":"))
			t.Fatalf("message %d: got %q (%d bytes), want %d bytes", i, head, len(got), len(want))
		}
	}
	close(stopPings)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// The pinger's last ping needs the reader: keep reading until it ends.
	go func() { _, _, _ = c.ws.Read(ctx) }()
	if err := <-pings; err != nil {
		t.Fatal(err)
	}
}

// TestCloseWhilePostsFlow closes a connection (DELETE) while posts stream
// to it: the client gets a prefix of the messages, in order, then the close
// frame with 1000 (written while the write loop may be batching), and
// $disconnect runs once with 1000.
func TestCloseWhilePostsFlow(t *testing.T) {
	const closeAt, most = 500, 200_000
	e := newEnv(t, func(c *gateway.Config) { c.WriteQueue = most })
	c := e.connect(t, "alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	posted := make(chan int, 1)
	go func() {
		i := 0
		for ; i < most; i++ {
			if err := e.gw.Post(ctx, c.id, []byte(strconv.Itoa(i))); err != nil {
				break // gone once $disconnect has begun
			}
		}
		posted <- i
	}()
	var n int
	for ; ; n++ {
		if n == closeAt {
			if err := e.gw.Close(c.id); err != nil {
				t.Fatalf("close: %v", err)
			}
		}
		_, got, err := c.ws.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusNormalClosure {
				t.Fatalf("after %d messages: %v, want a close with 1000", n, err)
			}
			break
		}
		if string(got) != strconv.Itoa(n) {
			t.Fatalf("message %d: got %q", n, got)
		}
	}
	if n < closeAt {
		t.Errorf("closed after %d messages, before the close", n)
	}
	ev := e.disconnectOf(t, c.id)
	if got := ev.RequestContext.DisconnectStatusCode; got != 1000 {
		t.Errorf("disconnectStatusCode %d, want 1000", got)
	}
	t.Logf("%d messages posted, %d received before the close frame", <-posted, n)
	e.shutdown(t)
	if got := len(e.rec.disconnectsOf(c.id)); got != 1 {
		t.Errorf("%d $disconnect events, want 1", got)
	}
}

// TestClientThatDoesNotRead posts large messages to a client that never
// reads. Once its write buffer is full, posts answer 429 (chat.ErrThrottled;
// LimitExceededException over HTTP, as @connections does for a full
// client-side buffer) and the client stays connected, until a write to it
// times out: it is dropped (1006), $disconnect runs, and posts answer 410.
func TestClientThatDoesNotRead(t *testing.T) {
	tests := []struct {
		name        string
		writeBuffer int
		throttled   bool
	}{
		{"write buffer full, then the write timeout", 1 << 20, true},
		{"write timeout alone", 1 << 30, false},
	}
	big := bytes.Repeat([]byte{'x'}, gateway.DefaultMaxMessageSize)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *gateway.Config) {
				c.WriteBuffer = tt.writeBuffer
				c.WriteTimeout = time.Second
			})
			c := e.connect(t, "alice", "")
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			// Post over HTTP until the client is gone (at most 20 s): 128 KB
			// posts, soon more than the kernel's socket buffers hold.
			var statuses []int
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
				resp, err := http.Post(e.api+"/@connections/"+url.PathEscape(c.id), "application/json", bytes.NewReader(big))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("X-Amzn-ErrorType") != "LimitExceededException" {
					t.Errorf("429 with error type %q, want LimitExceededException", resp.Header.Get("X-Amzn-ErrorType"))
				}
				if len(statuses) == 0 || statuses[len(statuses)-1] != resp.StatusCode {
					statuses = append(statuses, resp.StatusCode)
				}
				if resp.StatusCode == http.StatusGone {
					break
				}
				if resp.StatusCode == http.StatusTooManyRequests {
					time.Sleep(5 * time.Millisecond) // as a retrying sender would
				}
			}
			// 200s, then (with a small buffer) 429s while the client is
			// still connected, then 410 once it is dropped.
			if statuses[len(statuses)-1] != http.StatusGone || slices.Contains(statuses, http.StatusTooManyRequests) != tt.throttled {
				t.Errorf("statuses %v; want 200, then 429 (%v), then 410", statuses, tt.throttled)
			}
			ev := e.disconnectOf(t, c.id)
			if got := ev.RequestContext.DisconnectStatusCode; got != int64(websocket.StatusAbnormalClosure) {
				t.Errorf("disconnectStatusCode %d, want 1006 (the write timed out)", got)
			}
			if err := e.gw.Post(ctx, c.id, []byte("hi")); !errors.Is(err, chat.ErrGone) {
				t.Errorf("post after $disconnect: %v, want an error wrapping chat.ErrGone", err)
			}
		})
	}
}
