package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/testenv"
)

// The limits that hold per person count anonymous clients by source
// address, and the machine itself (127.0.0.1) is nobody: these tests play
// several people from other loopback addresses (all of 127.0.0.0/8 is
// this machine's).

// dialFrom opens a WebSocket from the loopback address ip.
func dialFrom(ctx context.Context, url, ip string) (*websocket.Conn, *http.Response, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
}

func abuseServer(t *testing.T, dynamoDB bool, args ...string) *server {
	t.Helper()
	args = append(args, "-template", filepath.Join(testenv.RepoRoot(), "template.yaml"))
	if dynamoDB {
		endpoint := testenv.DynamoDB(t)
		suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
		args = append(args, "-dynamodb-endpoint", endpoint, "-table", "abuse-"+suffix, "-messages-table", "abuse-msgs-"+suffix)
	}
	return start(t, args...)
}

// TestFlooderCutOff: with the template's own stage throttle, one client
// floods chat messages as fast as it can write while ten members each say
// something every 500 ms. The flooder is closed within a few seconds and
// refused at $connect for the cool-down; the others keep at least 99% of
// their messages acked (a frame the stage throttled is sent again, as the
// page does).
func TestFlooderCutOff(t *testing.T) {
	for _, mode := range []string{"memory", "dynamodb"} {
		t.Run(mode, func(t *testing.T) {
			s := abuseServer(t, mode == "dynamodb")
			url := "ws://" + s.addr + "/local?room=flood"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			const members, each = 10, 16
			var wg sync.WaitGroup
			var sent, acked atomic.Int64
			for i := range members {
				ws, _, err := dialFrom(ctx, url+fmt.Sprintf("&name=m%d", i), fmt.Sprintf("127.0.0.%d", 10+i))
				if err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
				m := &politeMember{ws: ws, id: fmt.Sprintf("m%d", i), pending: map[string]time.Time{}}
				go m.read(ctx)
				wg.Go(func() {
					for j := range each {
						m.send(ctx, fmt.Sprintf("%s-%d", m.id, j))
						sent.Add(1)
						time.Sleep(500 * time.Millisecond)
					}
					// Generous for a loaded machine: a quiet one needs a second.
					acked.Add(int64(m.waitAcked(ctx, time.Minute)))
				})
			}

			flooder, _, err := dialFrom(ctx, url+"&name=flooder", "127.0.0.2")
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			closed := make(chan time.Duration, 1)
			go func() {
				for {
					if _, _, err := flooder.Read(ctx); err != nil {
						closed <- time.Since(began)
						return
					}
				}
			}()
			var floods int
			go func() {
				for i := 0; ; i++ {
					if flooder.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"action":"chat message","text":"flood %d","clientMsgId":"f%d"}`, i, i)) != nil {
						return
					}
					floods = i + 1
				}
			}()
			var cutAfter time.Duration
			select {
			case cutAfter = <-closed:
			case <-time.After(30 * time.Second):
				t.Fatal("the flooder was not cut off within 30 s")
			}
			// Refused at $connect for the cool-down, from its address.
			ws, resp, err := dialFrom(ctx, url+"&name=flooder", "127.0.0.2")
			if err == nil {
				ws.CloseNow()
				t.Error("the flooder reconnected during its cool-down")
			} else if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the flooder's reconnect: %v, want 429", err)
			}
			wg.Wait()
			ratio := float64(acked.Load()) / float64(sent.Load())
			t.Logf("%s: the flooder wrote about %d frames and was cut off after %v; the %d others had %d of %d messages acked (%.1f%%)",
				mode, floods, cutAfter.Round(time.Millisecond), members, acked.Load(), sent.Load(), 100*ratio)
			if ratio < 0.99 {
				t.Errorf("others' messages acked: %.1f%%, want at least 99%%", 100*ratio)
			}
		})
	}
}

// politeMember sends with a clientMsgId and resends, flagged, what the
// stage throttled or left unanswered, as the page does.
type politeMember struct {
	ws      *websocket.Conn
	id      string
	mu      sync.Mutex
	pending map[string]time.Time // clientMsgId -> last sent
	texts   map[string]string
	acked   int
}

func (m *politeMember) send(ctx context.Context, text string) {
	m.mu.Lock()
	if m.texts == nil {
		m.texts = map[string]string{}
	}
	id := text
	m.texts[id] = text
	m.pending[id] = time.Now()
	m.mu.Unlock()
	_ = m.ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"action":"chat message","text":%q,"clientMsgId":%q}`, text, id))
}

func (m *politeMember) resendAll(ctx context.Context) {
	m.mu.Lock()
	var frames [][]byte
	for id, at := range m.pending {
		if time.Since(at) > 300*time.Millisecond {
			m.pending[id] = time.Now()
			frames = append(frames, fmt.Appendf(nil, `{"action":"chat message","text":%q,"clientMsgId":%q,"resend":true}`, m.texts[id], id))
		}
	}
	m.mu.Unlock()
	for _, f := range frames {
		_ = m.ws.Write(ctx, websocket.MessageText, f)
	}
}

func (m *politeMember) read(ctx context.Context) {
	for {
		_, data, err := m.ws.Read(ctx)
		if err != nil {
			return
		}
		var f map[string]any
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch {
		case f["type"] == chat.TypeAck:
			m.mu.Lock()
			if id, _ := f["clientMsgId"].(string); m.pending[id] != (time.Time{}) {
				delete(m.pending, id)
				m.acked++
			}
			m.mu.Unlock()
		case f["type"] == nil && f["message"] != nil: // the gateway's own frames
			go func() {
				time.Sleep(250 * time.Millisecond)
				m.resendAll(ctx)
			}()
		}
	}
}

// waitAcked resends what is unacked every second until all is acked or
// within passes, and returns the acks.
func (m *politeMember) waitAcked(ctx context.Context, within time.Duration) int {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		left := len(m.pending)
		m.mu.Unlock()
		if left == 0 {
			break
		}
		m.resendAll(ctx)
		time.Sleep(time.Second)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.acked
}

// TestHistoryAmplificationRefused: one connection asks for history over and
// over in a room of long messages. Past its read budget it gets
// rate_limited, and a since reply is cut by bytes, so a few bytes of
// request can no longer pull megabytes each.
func TestHistoryAmplificationRefused(t *testing.T) {
	s := abuseServer(t, false, "-send-burst", "0")
	url := "ws://" + s.addr + "/local?room=amp"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	writer, _, err := dialFrom(ctx, url+"&name=writer", "127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.CloseNow()
	long := make([]byte, chat.MaxTextLength)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	for i := range 300 {
		if err := writer.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"action":"chat message","text":"%s","clientMsgId":"w%d"}`, long, i)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := writer.Read(ctx); err != nil { // its ack
			t.Fatal(err)
		}
	}
	reader, _, err := dialFrom(ctx, url+"&name=reader", "127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.CloseNow()
	reader.SetReadLimit(1 << 20)
	const requests = 200
	began := time.Now()
	for i := range requests {
		if err := reader.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"action":"history","since":0,"requestId":"q%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	var bytes, replies, limited int
	cut := false
	seen := map[string]bool{}
	for replies+limited < requests {
		_, data, err := reader.Read(ctx)
		if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
			cut = true // refused often enough to be cut off, as a flooder
			break
		}
		if err != nil {
			t.Fatalf("after %d replies and %d refusals: %v", replies, limited, err)
		}
		bytes += len(data)
		var f struct {
			Type      string `json:"type"`
			Code      string `json:"code"`
			More      bool   `json:"more"`
			RequestID string `json:"requestId"`
		}
		_ = json.Unmarshal(data, &f)
		switch {
		case f.Type == chat.TypeHistory && !f.More && !seen[f.RequestID]:
			seen[f.RequestID] = true
			replies++
		case f.Type == chat.TypeError && f.Code == chat.CodeRateLimited:
			limited++
		case f.Type == "" && f.Code == "":
			limited++ // the stage's Too Many Requests
		}
	}
	t.Logf("%d history requests of ~50 bytes: %d answered, %d refused, cut off: %v; %d KB received (%.0f× the requests)",
		requests, replies, limited, cut, bytes/1024, float64(bytes)/float64(requests*50))
	if !cut {
		t.Error("a client that kept reading past its budget was not cut off")
	}
	// The burst, and what the bucket refilled while the requests were
	// handled (one every 2 s; on a loaded machine that can be seconds).
	allowed := chat.DefaultReadLimit.Burst + 2 + int(time.Since(began)/chat.DefaultReadLimit.Every)
	if replies > allowed {
		t.Errorf("%d of %d requests answered, want at most %d (the read burst and its refill)", replies, requests, allowed)
	}
	if max := allowed * (chat.MaxHistorySinceBytes + 16<<10); bytes > max {
		t.Errorf("received %d bytes, want at most %d", bytes, max)
	}
}

// TestManyConnectionsOnePerson: one address opens 100 connections and
// sends 10 messages on each as fast as it can; its person's budget holds
// across them.
func TestManyConnectionsOnePerson(t *testing.T) {
	s := abuseServer(t, false, "-flood-strikes", "0")
	url := "ws://" + s.addr + "/local?room=many"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var acked, limited atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for i := range 100 {
		ws, _, err := dialFrom(ctx, url+fmt.Sprintf("&name=c%d", i), "127.0.0.5")
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		wg.Go(func() {
			for j := range 10 {
				_ = ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"action":"chat message","text":"x","clientMsgId":"c%d-%d"}`, i, j))
			}
			for got := 0; got < 10; {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				var f map[string]any
				_ = json.Unmarshal(data, &f)
				switch {
				case f["type"] == chat.TypeAck:
					acked.Add(1)
					got++
				case f["type"] == chat.TypeError:
					limited.Add(1)
					got++
				}
			}
		})
	}
	wg.Wait()
	t.Logf("100 connections of one address, 1,000 messages at once: %d stored, %d refused", acked.Load(), limited.Load())
	// Within the person's 10 s windows the test spanned (one or two on a
	// quiet machine).
	windows := int64(time.Since(began)/chat.DefaultPersonLimits.Window) + 2
	if max := windows * chat.DefaultPersonLimits.Sends; acked.Load() > max {
		t.Errorf("%d stored, want at most %d (the person's budget)", acked.Load(), max)
	}
}

// TestRoomCapUnderConcurrentJoins: 200 handshakes at once against a cap of
// 5, in DynamoDB mode, admit exactly 5.
func TestRoomCapUnderConcurrentJoins(t *testing.T) {
	s := abuseServer(t, true, "-room-cap", "5")
	url := "ws://" + s.addr + "/local?room=capped"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var admitted, full, other atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []*websocket.Conn // stay until every handshake has been answered
	defer func() {
		for _, ws := range open {
			ws.CloseNow()
		}
	}()
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			ws, resp, err := dialFrom(ctx, url+fmt.Sprintf("&name=j%d", i), fmt.Sprintf("127.0.1.%d", 1+i%250))
			switch {
			case err == nil:
				admitted.Add(1)
				mu.Lock()
				open = append(open, ws)
				mu.Unlock()
			case resp != nil && resp.StatusCode == http.StatusTooManyRequests:
				full.Add(1)
			default:
				other.Add(1)
				t.Logf("handshake %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("200 concurrent handshakes, cap 5: %d admitted, %d refused with 429, %d other", admitted.Load(), full.Load(), other.Load())
	if admitted.Load() != 5 {
		t.Errorf("admitted %d, want exactly 5", admitted.Load())
	}
}
