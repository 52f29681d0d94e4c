package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/serverless-chat/chat/internal/chat"
)

// TestJoinersInAFloodedRoom is the hardening issue's first defect end to
// end: members join a room that carries as much traffic as one client can
// send. Each joiner, once open, sends a message and must get its ack (not
// not_connected) and keep receiving the flood: none is cut off by a
// broadcast that met it during its handshake. FLOOD_JOINERS sizes it.
func TestJoinersInAFloodedRoom(t *testing.T) {
	joiners := 100
	if n, err := strconv.Atoi(os.Getenv("FLOOD_JOINERS")); err == nil && n > 0 {
		joiners = n
	}
	s := start(t, "-send-burst", "0") // the flood is the point
	wsURL := "ws://" + s.addr + "/local"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	flooder, _, err := websocket.Dial(ctx, wsURL+"?name=flooder&room=flood", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.CloseNow()
	// The flooder reads (its acks and errors are not needed) so that it is
	// never dropped as a client that does not read.
	go func() {
		for {
			if _, _, err := flooder.Read(ctx); err != nil {
				return
			}
		}
	}()
	stop := make(chan struct{})
	var sent atomic.Int64
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if flooder.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"action":"chat message","text":"flood %d"}`, i))) != nil {
				return
			}
			sent.Add(1)
		}
	}()

	var cutOff, acked, silent atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for i := range joiners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome := joinAndSpeak(ctx, wsURL, fmt.Sprintf("joiner-%03d", i))
			switch outcome {
			case "acked":
				acked.Add(1)
			case chat.CodeNotConnected:
				cutOff.Add(1)
			default:
				silent.Add(1)
				t.Errorf("joiner-%03d: %s", i, outcome)
			}
		}()
		time.Sleep(5 * time.Millisecond) // joins spread over the flood
	}
	wg.Wait()
	close(stop)
	<-floodDone
	t.Logf("flood: %d joiners in %v while one client sent %d messages: %d acked and still receiving, %d cut off (not_connected), %d other failures",
		joiners, time.Since(began).Round(time.Millisecond), sent.Load(), acked.Load(), cutOff.Load(), silent.Load())
	if cutOff.Load() > 0 {
		t.Errorf("%d of %d joiners were cut off", cutOff.Load(), joiners)
	}
}

// joinAndSpeak connects, sends one message with a clientMsgId, and returns
// "acked" once it has the ack and then one more flood message, or the
// error code it got instead.
func joinAndSpeak(ctx context.Context, wsURL, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL+"?name="+name+"&room=flood", nil)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	frame := fmt.Sprintf(`{"action":"chat message","text":"hi from %s","clientMsgId":"%s"}`, name, name)
	if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		return "write: " + err.Error()
	}
	gotAck := false
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return fmt.Sprintf("read (ack %v): %v", gotAck, err)
		}
		var f struct{ Type, Code string }
		_ = json.Unmarshal(data, &f)
		switch {
		case f.Type == chat.TypeError:
			return f.Code
		case f.Type == chat.TypeAck:
			gotAck = true
		case gotAck && f.Type == chat.TypeChatMessage:
			return "acked" // a member still: the flood reaches it after its ack
		}
	}
}
