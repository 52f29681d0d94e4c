package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-chat/chat/internal/chat"
)

// TestLoadOneRoom puts loadClients real clients in one room, several of
// them sending at once, and checks that every message reaches every other
// client exactly once, in its sender's order, and never its sender.
func TestLoadOneRoom(t *testing.T) {
	const (
		senders  = 10
		messages = 20 // per sender
	)
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	type receiver struct {
		ws       *websocket.Conn
		name     string
		got      atomic.Int64
		mu       sync.Mutex
		next     map[string]int // sender -> next expected sequence number
		problems []string
	}
	clients := make([]*receiver, loadClients)
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(32)
	for i := range clients {
		g.Go(func() error {
			name := "c" + strconv.Itoa(i)
			ws, _, err := e.dial(ctx, "name="+name+"&room=load", nil)
			if err != nil {
				return fmt.Errorf("dial %s: %w", name, err)
			}
			clients[i] = &receiver{ws: ws, name: name, next: map[string]int{}}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			_ = c.ws.CloseNow()
		}
	})
	t.Logf("%d clients connected in %v", loadClients, time.Since(start).Round(time.Millisecond))

	// Readers.
	var readers sync.WaitGroup
	var complete sync.WaitGroup
	complete.Add(len(clients))
	for i, c := range clients {
		want := int64(senders * messages)
		if i < senders {
			want -= messages
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			done := false
			for {
				_, b, err := c.ws.Read(context.Background())
				if err != nil {
					if !done {
						complete.Done() // let the test report the shortfall
					}
					return
				}
				var m chat.Message
				problem := ""
				if err := json.Unmarshal(b, &m); err != nil || m.Type != chat.TypeChatMessage {
					problem = fmt.Sprintf("unexpected frame %s", b)
				} else if m.From == c.name {
					problem = "got its own message " + m.Text
				} else {
					from, seq, _ := strings.Cut(m.Text, ":")
					n, _ := strconv.Atoi(seq)
					c.mu.Lock()
					if n != c.next[from] {
						problem = fmt.Sprintf("from %s got #%d, want #%d", from, n, c.next[from])
					}
					c.next[from] = n + 1
					c.mu.Unlock()
				}
				if problem != "" {
					c.mu.Lock()
					c.problems = append(c.problems, problem)
					c.mu.Unlock()
				}
				if c.got.Add(1) == want {
					done = true
					complete.Done()
				}
			}
		}()
	}

	// Senders, all at once.
	start = time.Now()
	var sg errgroup.Group
	for s := range senders {
		c := clients[s]
		sg.Go(func() error {
			for n := range messages {
				b, _ := json.Marshal(map[string]string{"action": chat.ActionChatMessage, "text": c.name + ":" + strconv.Itoa(n)})
				if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := sg.Wait(); err != nil {
		t.Fatal(err)
	}
	allDone := make(chan struct{})
	go func() { complete.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-ctx.Done():
		t.Fatal("timed out waiting for deliveries")
	}
	elapsed := time.Since(start)
	deliveries := int64(senders * messages * (loadClients - 1))
	t.Logf("%d messages from %d senders to %d clients: %d deliveries in %v (%.0f deliveries/s)",
		senders*messages, senders, loadClients, deliveries, elapsed.Round(time.Millisecond), float64(deliveries)/elapsed.Seconds())

	// Close everything, so that a late duplicate would be counted too.
	e.shutdown(t)
	readers.Wait()
	var total int64
	for i, c := range clients {
		want := int64(senders * messages)
		if i < senders {
			want -= messages
		}
		if got := c.got.Load(); got != want {
			t.Errorf("%s received %d messages, want %d", c.name, got, want)
		}
		total += c.got.Load()
		for _, p := range c.problems {
			t.Errorf("%s: %s", c.name, p)
		}
	}
	if total != deliveries {
		t.Errorf("%d deliveries, want %d", total, deliveries)
	}
}
