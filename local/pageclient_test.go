package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
	"github.com/serverless-chat/chat/internal/testenv"
)

// pageChaosConfig sizes TestPageClientExactlyOnce; PAGE_CHAOS_CLIENTS,
// PAGE_CHAOS_MESSAGES and PAGE_CHAOS_DROP_EVERY change it for
// BENCHMARKS.md runs.
type pageChaosConfig struct {
	clients   int           // in one room; half of them send
	messages  int           // per sender
	sendEvery time.Duration // a sender's mean pause between two messages
	dropEvery time.Duration // each connection is dropped after about this long
	// afterSend is the chance that a connection is reset right after a
	// frame from the client passed (the frame may or may not be handled).
	afterSend float64
	restart   bool // restart the adapter once, in the middle
	// throttle is the stage's rate and burst for every route (0: the
	// template's own).
	throttle int
}

func pageChaosFromEnv() pageChaosConfig {
	c := pageChaosConfig{clients: 30, messages: 12, sendEvery: 600 * time.Millisecond, dropEvery: 4 * time.Second,
		afterSend: 0.05, restart: true, throttle: 25}
	if n, err := strconv.Atoi(os.Getenv("PAGE_CHAOS_CLIENTS")); err == nil && n >= 2 {
		c.clients = n
	}
	if n, err := strconv.Atoi(os.Getenv("PAGE_CHAOS_MESSAGES")); err == nil && n > 0 {
		c.messages = n
	}
	if d, err := time.ParseDuration(os.Getenv("PAGE_CHAOS_DROP_EVERY")); err == nil && d > 0 {
		c.dropEvery = d
	}
	return c
}

// TestPageClientExactlyOnce runs the page's own catch-up code (web/client.js,
// in Node) against the adapter on DynamoDB Local through a proxy that drops
// connections: TCP resets and clean closes at random, resets right after a
// client's frame, a stage throttle low enough that history requests (and
// others) are sometimes refused with "Too Many Requests", and one restart
// of the adapter in the middle. At the end every client's log must equal
// the room's history in DynamoDB: nothing lost, nothing twice, every
// message acked and stored once.
func TestPageClientExactlyOnce(t *testing.T) {
	cfg := pageChaosFromEnv()
	res := runPageChaos(t, cfg)
	t.Logf("page chaos: %d clients, %d messages stored; %d connections, %d resets (%d right after a send), %d clean drops, %d restarts; "+
		"%d gateway error frames (throttled or failed), %d resends; handshake p50 %d ms, p95 %d ms",
		cfg.clients, res.stored, res.proxy.conns.Load(), res.proxy.resets.Load(), res.proxy.resetsAfterSend.Load(), res.proxy.closes.Load(),
		res.restarts, res.stats.GatewayErrors, res.stats.Resends, res.stats.HandshakeP50, res.stats.HandshakeP95)
}

type pageChaosResult struct {
	stored   int
	restarts int
	sent     int
	inGrace  int // acked within the grace after the last send
	server   func() *server
	proxy    *faultProxy
	stats    struct {
		Opens         int `json:"opens"`
		HandshakeP50  int `json:"handshakeP50"`
		HandshakeP95  int `json:"handshakeP95"`
		GatewayErrors int `json:"gatewayErrors"`
		Resends       int `json:"resends"`
	}
}

func runPageChaos(t *testing.T, cfg pageChaosConfig) pageChaosResult {
	node := testenv.Tool(t, "node", "install Node.js 20 or later (apt-get install nodejs)")
	endpoint := testenv.DynamoDB(t)
	suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	msgsTable := "page-msgs-" + suffix
	args := []string{"-send-burst", "0", "-dynamodb-endpoint", endpoint, "-table", "page-" + suffix,
		"-messages-table", msgsTable, "-allowed-origins", "*", "-template", filepath.Join(testenv.RepoRoot(), "template.yaml")}
	if cfg.throttle > 0 {
		// Every route's bucket is small: history requests (and, now and
		// then, messages and handshakes) are refused with 429.
		args = append(args, "-parameter-overrides", fmt.Sprintf("ThrottlingRateLimit=%d ThrottlingBurstLimit=%d", cfg.throttle, cfg.throttle))
	}
	s := start(t, args...)

	proxy := newFaultProxy(t, s.addr, cfg.dropEvery, cfg.afterSend)
	clientDir := t.TempDir()
	for _, f := range []string{"client.js", "text.js"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "web", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clientDir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(clientDir, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	room := "pagechaos"
	harnessCfg, _ := json.Marshal(map[string]any{
		"clientDir": clientDir, "url": "ws://" + proxy.addr + "/local", "room": room,
		"clients": cfg.clients, "messages": cfg.messages, "sendEveryMs": cfg.sendEvery.Milliseconds(),
		"ackWithinMs": 120_000, "catchUpWithinMs": 60_000, "graceMs": 60_000,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings",
		filepath.Join(testenv.RepoRoot(), "local", "testdata", "pageclient", "harness.mjs"), string(harnessCfg))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.LogBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	var res pageChaosResult
	res.proxy = proxy
	res.server = func() *server { return s }
	if cfg.restart {
		// The restart, while the senders are busy: every connection drops,
		// handshakes fail for a moment, and the store survives.
		restartAfter := time.Duration(cfg.messages) * cfg.sendEvery / 2
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(restartAfter):
			}
			_ = s.stop()
			time.Sleep(300 * time.Millisecond)
			s = startOn(t, s.addr, args...)
			proxy.setBackend(s.addr)
		}()
		res.restarts = 1
	}

	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	var acked struct {
		All    bool  `json:"all"`
		Sent   int   `json:"sent"`
		Acked  int   `json:"acked"`
		MaxSeq int64 `json:"maxSeq"`
		// InGrace were acked by graceMs after the last send.
		InGrace int `json:"inGrace"`
	}
	var logs struct {
		CaughtUp bool `json:"caughtUp"`
		Clients  []struct {
			Name    string   `json:"name"`
			UpTo    *int64   `json:"upTo"`
			Dup     int      `json:"dup"`
			Pending int      `json:"pending"`
			Log     [][2]any `json:"log"`
		} `json:"clients"`
	}
	for lines.Scan() {
		var ev struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
			t.Fatalf("harness said %q: %v", lines.Text(), err)
		}
		switch ev.Event {
		case "acked":
			_ = json.Unmarshal(lines.Bytes(), &acked)
			proxy.faults.Store(false) // let every client catch up
		case "logs":
			if err := json.Unmarshal(lines.Bytes(), &logs); err != nil {
				t.Fatalf("harness logs: %v", err)
			}
			_ = json.Unmarshal(lines.Bytes(), &struct {
				Stats any `json:"stats"`
			}{Stats: &res.stats})
		}
	}
	if logs.Clients == nil {
		t.Fatalf("the harness ended without its logs; stderr:\n%s", stderr.String())
	}
	if !acked.All || acked.Acked != acked.Sent {
		t.Errorf("acked %d of %d messages", acked.Acked, acked.Sent)
	}

	// The room's history, as stored.
	h := dynamo.NewHistory(dynamoClient(t, endpoint), msgsTable, "")
	stored, _, err := h.Read(context.Background(), room, chat.Range{After: 0, Limit: 100_000}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{}
	for _, m := range stored {
		want[m.Seq] = m.ID
	}
	res.stored = len(stored)
	res.sent, res.inGrace = acked.Sent, acked.InGrace
	if len(stored) != acked.Sent {
		t.Errorf("%d messages stored, %d sent: a message was stored twice or lost", len(stored), acked.Sent)
	}
	for _, c := range logs.Clients {
		got := map[int64]string{}
		for _, e := range c.Log {
			seq, _ := e[0].(float64)
			id, _ := e[1].(string)
			got[int64(seq)] = id
		}
		lost, extra := 0, 0
		for seq, id := range want {
			if got[seq] != id {
				lost++
			}
		}
		for seq := range got {
			if _, ok := want[seq]; !ok {
				extra++
			}
		}
		if lost > 0 || extra > 0 || c.Dup > 0 {
			t.Errorf("%s: %d of %d messages lost, %d not in history, %d shown twice (upTo %v, %d unacked)",
				c.Name, lost, len(want), extra, c.Dup, c.UpTo, c.Pending)
		}
	}
	if t.Failed() {
		t.Logf("harness stderr:\n%s", stderr.String())
	}
	return res
}

// TestChurnStormDynamoDB is the reconnect storm that once collapsed
// DynamoDB mode: 40 page clients, each connection dropped after about 3 s,
// half of them sending. Broadcasts meet members that are gone or in their
// handshake all the time; they must not wait on the stale deletes, so
// messages are acked within the run, and every gone connection a broadcast
// meets is accounted for once by the Reaper.
func TestChurnStormDynamoDB(t *testing.T) {
	cfg := pageChaosConfig{clients: 40, messages: 10, sendEvery: time.Second, dropEvery: 3 * time.Second}
	res := runPageChaos(t, cfg)
	// Within the run: a minute after the last send, on a loaded machine
	// (on a quiet one every message is acked within a second or two). The
	// collapse this guards against acked 24 of 400, ever.
	if ratio := float64(res.inGrace) / float64(max(res.sent, 1)); ratio < 0.95 {
		t.Errorf("%d of %d messages acked within a minute of the last send (%.0f%%), want at least 95%%", res.inGrace, res.sent, 100*ratio)
	}
	srv := res.server()
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	summary := ""
	latencies := map[string][]int{}
	for _, line := range strings.Split(srv.log.String(), "\n") {
		if strings.Contains(line, `msg="stale connections"`) {
			summary = line
		}
		if strings.Contains(line, `msg="integration latency"`) {
			var route string
			var ms int
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "routeKey="); ok {
					route = v
				}
				if v, ok := strings.CutPrefix(f, "latencyMs="); ok {
					ms, _ = strconv.Atoi(v)
				}
			}
			latencies[route] = append(latencies[route], ms)
		}
	}
	for _, route := range []string{"$connect", "$disconnect"} {
		ms := latencies[route]
		if len(ms) == 0 {
			t.Errorf("no %s latency in the log", route)
			continue
		}
		slices.Sort(ms)
		p50, p95 := ms[len(ms)/2], ms[len(ms)*95/100]
		t.Logf("%s: %d runs, p50 %d ms, p95 %d ms, max %d ms", route, len(ms), p50, p95, ms[len(ms)-1])
		// The storm once pushed them past the 29 s integration timeout.
		// On a quiet machine the medians are tens of milliseconds
		// (BENCHMARKS.md); the bound here is loose, for a loaded CI machine,
		// and still far below the collapse.
		if p50 > 10_000 {
			t.Errorf("%s median %d ms, want well under the 29 s integration timeout", route, p50)
		}
	}
	if !strings.Contains(summary, "accounted=true") {
		t.Errorf("the reaper's summary = %q, want every gone connection accounted for", summary)
	}
	t.Logf("churn storm: %d clients, %d connections (%d resets, %d clean drops); %d of %d messages acked within a minute of the last send; "+
		"handshake (with $connect) p50 %d ms, p95 %d ms; %s",
		cfg.clients, res.proxy.conns.Load(), res.proxy.resets.Load(), res.proxy.closes.Load(), res.inGrace, res.sent,
		res.stats.HandshakeP50, res.stats.HandshakeP95, summary)
}

// faultProxy forwards TCP connections to the adapter and drops them: each
// after a random time around dropEvery, half of them with a reset (RST,
// no close frame) and half with a clean TCP close, and some right after
// a frame from the client. faults off forwards faithfully.
type faultProxy struct {
	addr      string
	faults    atomic.Bool
	dropEvery time.Duration
	afterSend float64

	mu      sync.Mutex
	backend string

	conns, resets, resetsAfterSend, closes atomic.Int64
}

func newFaultProxy(t *testing.T, backend string, dropEvery time.Duration, afterSend float64) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{addr: ln.Addr().String(), dropEvery: dropEvery, afterSend: afterSend, backend: backend}
	p.faults.Store(true)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c.(*net.TCPConn))
		}
	}()
	return p
}

func (p *faultProxy) setBackend(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backend = addr
}

func (p *faultProxy) serve(client *net.TCPConn) {
	p.conns.Add(1)
	p.mu.Lock()
	backend := p.backend
	p.mu.Unlock()
	server, err := net.DialTimeout("tcp", backend, 2*time.Second)
	if err != nil {
		reset(client) // the adapter is down: the client sees a refused handshake
		return
	}
	var once sync.Once
	drop := func(rst bool) {
		once.Do(func() {
			if rst {
				p.resets.Add(1)
				reset(client)
			} else {
				p.closes.Add(1)
				_ = client.Close()
			}
			_ = server.Close()
		})
	}
	if p.faults.Load() {
		life := time.Duration(float64(p.dropEvery) * (0.5 + rand.Float64()))
		timer := time.AfterFunc(life, func() {
			if p.faults.Load() {
				drop(rand.IntN(2) == 0)
			}
		})
		defer timer.Stop()
	}
	done := make(chan struct{}, 2)
	go func() { // client to adapter, maybe reset right after a frame
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
				if p.faults.Load() && rand.Float64() < p.afterSend {
					p.resetsAfterSend.Add(1)
					drop(true)
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, server)
		done <- struct{}{}
	}()
	<-done
	once.Do(func() {
		_ = client.Close()
		_ = server.Close()
	})
	<-done
}

// reset closes c with a TCP RST: no FIN, no close frame.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}
