package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/testenv"
)

// chaosConfig sizes the chaos test; CHAOS_CLIENTS, CHAOS_MESSAGES and
// CHAOS_DROP_EVERY change it for BENCHMARKS.md runs.
type chaosConfig struct {
	clients   int           // in one room; half of them send
	messages  int           // per sender
	dropEvery time.Duration // each client drops its connection about this often
}

func chaosFromEnv() chaosConfig {
	c := chaosConfig{clients: 16, messages: 40, dropEvery: 40 * time.Millisecond}
	if n, err := strconv.Atoi(os.Getenv("CHAOS_CLIENTS")); err == nil && n >= 2 {
		c.clients = n
	}
	if n, err := strconv.Atoi(os.Getenv("CHAOS_MESSAGES")); err == nil && n > 0 {
		c.messages = n
	}
	if d, err := time.ParseDuration(os.Getenv("CHAOS_DROP_EVERY")); err == nil && d > 0 {
		c.dropEvery = d
	}
	return c
}

// TestChaosExactlyOnce is the reliable-delivery guarantee under churn: N
// clients in one room, every one dropping its connection at random (an
// abrupt TCP close, no close frame) and reconnecting, while half of them
// send messages with a clientMsgId and resend whatever is unacked after
// each reconnect. Each client does what the page does: after every
// (re)connect it asks for history since the last seq it holds without a
// gap, and merges live frames and history by seq, dropping ids it has.
// At the end every client's log must equal the server's log: every acked
// message, exactly once each, in seq order, and no member was cut off.
func TestChaosExactlyOnce(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		runChaos(t, start(t, "-send-burst", "0"), chaosFromEnv())
	})
	t.Run("dynamodb", func(t *testing.T) {
		endpoint := testenv.DynamoDB(t)
		suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
		s := start(t, "-send-burst", "0", "-dynamodb-endpoint", endpoint, "-table", "chaos-"+suffix, "-messages-table", "chaos-msgs-"+suffix)
		runChaos(t, s, chaosFromEnv())
	})
}

func runChaos(t *testing.T, s *server, cfg chaosConfig) {
	wsURL := "ws://" + s.addr + "/local"
	room := "chaos"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	clients := make([]*chaosClient, cfg.clients)
	for i := range clients {
		clients[i] = &chaosClient{name: fmt.Sprintf("c%02d", i), url: wsURL + "?name=" + fmt.Sprintf("c%02d", i) + "&room=" + room,
			log: map[int64]string{}, pending: map[string]string{}, acked: map[string]chat.Ack{}}
	}
	for _, c := range clients {
		if err := c.connect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	var wg sync.WaitGroup
	var sendersDone sync.WaitGroup
	stop := make(chan struct{})
	for i, c := range clients {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		// Churn: drop and reconnect until the senders are done.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(rng.Int64N(int64(2 * cfg.dropEvery)))):
				}
				c.drop()
				time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
				if err := c.connect(ctx); err != nil {
					t.Errorf("%s: reconnect: %v", c.name, err)
					return
				}
			}
		}()
		if i%2 == 1 {
			continue
		}
		sendersDone.Add(1)
		pace := rand.New(rand.NewPCG(uint64(i), 11)) // one source per goroutine
		go func() {
			defer sendersDone.Done()
			for m := range cfg.messages {
				c.send(fmt.Sprintf("%s-%03d", c.name, m))
				time.Sleep(time.Duration(2+pace.Int64N(10)) * time.Millisecond)
			}
		}()
	}
	sendersDone.Wait()
	close(stop)
	wg.Wait()
	// Settle: every client is connected again; resends get their acks.
	for _, c := range clients {
		if !c.connected() {
			if err := c.connect(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, c := range clients {
		for c.unacked() > 0 && time.Now().Before(deadline) {
			c.resend()
			time.Sleep(50 * time.Millisecond)
		}
		if n := c.unacked(); n > 0 {
			t.Errorf("%s: %d messages never acked", c.name, n)
		}
	}
	// The gap repair every client (and the page) makes: history since the
	// last seq it holds without a gap.
	for _, c := range clients {
		c.catchUp()
	}
	elapsed := time.Since(began)

	// The server's log, read through the protocol by a fresh client.
	server := &chaosClient{name: "reader", url: wsURL + "?name=reader&room=" + room, log: map[int64]string{},
		pending: map[string]string{}, acked: map[string]chat.Ack{}}
	if err := server.connect(ctx); err != nil {
		t.Fatal(err)
	}
	server.catchUp()
	serverLog := server.snapshot()

	// Every acked message is stored once, with the seq of its ack.
	acked, byID := 0, map[string]int64{}
	for seq, id := range serverLog {
		byID[id] = seq
	}
	for _, c := range clients {
		c.mu.Lock()
		for cmid, ack := range c.acked {
			acked++
			if byID[ack.ID] != ack.Seq {
				t.Errorf("%s: acked %s as %s seq %d, the server holds seq %d", c.name, cmid, ack.ID, ack.Seq, byID[ack.ID])
			}
		}
		c.mu.Unlock()
	}
	if want := cfg.clients / 2 * cfg.messages; acked != want || len(serverLog) != want {
		t.Errorf("%d messages acked, %d stored; want %d each (no loss, no duplicate)", acked, len(serverLog), want)
	}
	var drops, reconnects, live, fromHistory, dupFrames, cutOff, lostAll int64
	for _, c := range clients {
		got := c.snapshot()
		lost, extra := 0, 0
		for seq, id := range serverLog {
			if got[seq] != id {
				lost++
			}
		}
		for seq := range got {
			if _, ok := serverLog[seq]; !ok {
				extra++
			}
		}
		lostAll += int64(lost + extra)
		if lost > 0 || extra > 0 {
			t.Errorf("%s: %d messages missing, %d not in the server's log", c.name, lost, extra)
		}
		drops += c.drops.Load()
		reconnects += c.connects.Load() - 1
		live += c.live.Load()
		fromHistory += c.fromHistory.Load()
		dupFrames += c.dupFrames.Load()
		cutOff += c.notConnected.Load()
	}
	if cutOff > 0 {
		t.Errorf("%d not_connected errors: members were cut off", cutOff)
	}
	t.Logf("chaos: %d clients (%d sending %d messages each), %d drops and %d reconnects in %v; %d messages stored and acked; "+
		"per client %d in the log; %d frames live, %d from history, %d duplicate frames dropped; %d lost or extra in clients' logs, %d stored twice, %d cut off",
		cfg.clients, cfg.clients/2, cfg.messages, drops, reconnects, elapsed.Round(time.Millisecond), len(serverLog),
		len(serverLog), live, fromHistory, dupFrames, lostAll, len(serverLog)-acked, cutOff)
}

// chaosClient follows the client's duty of docs/protocol.md.
type chaosClient struct {
	name, url string

	mu      sync.Mutex
	ws      *websocket.Conn
	log     map[int64]string // seq -> id: what it shows
	pending map[string]string
	acked   map[string]chat.Ack
	nextID  int
	// History requests sent on the current connection whose last frame
	// has not come, and the cursor of the last reply.
	outstanding int
	next        *chat.HistoryCursor
	changed     chan struct{} // closed and replaced when outstanding drops

	drops, connects, live, fromHistory, dupFrames, notConnected atomic.Int64
}

func (c *chaosClient) connect(ctx context.Context) error {
	ws, _, err := websocket.Dial(ctx, c.url, nil)
	if err != nil {
		return err
	}
	ws.SetReadLimit(1 << 20)
	c.connects.Add(1)
	c.mu.Lock()
	c.ws = ws
	c.outstanding = 1 // the history request below; replies on older connections are lost
	since := c.contiguousLocked()
	resend := make(map[string]string, len(c.pending))
	for k, v := range c.pending {
		resend[k] = v
	}
	c.mu.Unlock()
	go c.read(ws)
	c.write(ws, fmt.Sprintf(`{"action":"history","since":%d}`, since))
	for cmid, text := range resend {
		c.write(ws, chatFrame(text, cmid))
	}
	return nil
}

func chatFrame(text, clientMsgID string) string {
	b, _ := json.Marshal(map[string]string{"action": "chat message", "text": text, "clientMsgId": clientMsgID})
	return string(b)
}

func (c *chaosClient) write(ws *websocket.Conn, frame string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ws.Write(ctx, websocket.MessageText, []byte(frame)) // a dropped connection resends later
}

func (c *chaosClient) send(text string) {
	c.mu.Lock()
	c.nextID++
	cmid := fmt.Sprintf("%s-m%04d", c.name, c.nextID)
	c.pending[cmid] = text
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		c.write(ws, chatFrame(text, cmid))
	}
}

func (c *chaosClient) resend() {
	c.mu.Lock()
	ws := c.ws
	frames := make([]string, 0, len(c.pending))
	for cmid, text := range c.pending {
		frames = append(frames, chatFrame(text, cmid))
	}
	c.mu.Unlock()
	for _, f := range frames {
		if ws != nil {
			c.write(ws, f)
		}
	}
}

func (c *chaosClient) drop() {
	c.mu.Lock()
	ws := c.ws
	c.ws = nil
	c.mu.Unlock()
	if ws != nil {
		c.drops.Add(1)
		_ = ws.CloseNow()
	}
}

func (c *chaosClient) connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws != nil
}

func (c *chaosClient) unacked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// contiguousLocked is the highest seq up to which it holds every seq. A
// seq the server skipped keeps it there: catch-ups then fetch more than
// they need, never less.
func (c *chaosClient) contiguousLocked() int64 {
	var n int64
	for {
		if _, ok := c.log[n+1]; !ok {
			return n
		}
		n++
	}
}

// catchUp asks for everything after its contiguous seq, following the
// reply's cursor, and waits until every history reply on the connection is
// complete: the gap repair the page makes.
func (c *chaosClient) catchUp() {
	c.mu.Lock()
	since := c.contiguousLocked()
	c.mu.Unlock()
	for {
		c.mu.Lock()
		c.outstanding++
		c.next = nil
		ws := c.ws
		c.mu.Unlock()
		c.write(ws, fmt.Sprintf(`{"action":"history","since":%d}`, since))
		deadline := time.After(30 * time.Second)
		for {
			c.mu.Lock()
			done, changed, next := c.outstanding <= 0, c.changedLocked(), c.next
			c.mu.Unlock()
			if done {
				if next == nil || next.Since == 0 {
					return
				}
				since = next.Since
				break
			}
			select {
			case <-changed:
			case <-deadline:
				return // the comparison then says what is missing
			}
		}
	}
}

func (c *chaosClient) changedLocked() chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *chaosClient) snapshot() map[int64]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int64]string{}
	for seq, id := range c.log {
		out[seq] = id
	}
	return out
}

// add merges a message into the log by seq; it reports false for one it has.
func (c *chaosClient) addLocked(m chat.Message) bool {
	if _, ok := c.log[m.Seq]; ok {
		return false
	}
	c.log[m.Seq] = m.ID
	return true
}

func (c *chaosClient) read(ws *websocket.Conn) {
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		var f struct {
			Type string              `json:"type"`
			Code string              `json:"code"`
			More bool                `json:"more"`
			Next *chat.HistoryCursor `json:"next"`
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		c.mu.Lock()
		switch f.Type {
		case chat.TypeChatMessage:
			var m chat.Message
			_ = json.Unmarshal(data, &m)
			if c.addLocked(m) {
				c.live.Add(1)
			} else {
				c.dupFrames.Add(1)
			}
		case chat.TypeHistory:
			var h chat.HistoryFrame
			_ = json.Unmarshal(data, &h)
			for _, m := range h.Messages {
				if c.addLocked(m) {
					c.fromHistory.Add(1)
				}
			}
			if !h.More && c.ws == ws {
				c.outstanding--
				c.next = h.Next
				if c.changed != nil {
					close(c.changed)
					c.changed = nil
				}
			}
		case chat.TypeAck:
			var a chat.Ack
			_ = json.Unmarshal(data, &a)
			if _, ok := c.pending[a.ClientMsgID]; ok {
				delete(c.pending, a.ClientMsgID)
				c.acked[a.ClientMsgID] = a
			}
			// Its own message: the ack is how it learns the seq and id.
			c.addLocked(chat.Message{Seq: a.Seq, ID: a.ID})
		case chat.TypeError:
			if f.Code == chat.CodeNotConnected {
				c.notConnected.Add(1)
			}
		}
		c.mu.Unlock()
	}
}
