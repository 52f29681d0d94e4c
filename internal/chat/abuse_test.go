package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

// abuseService is a service on the in-memory store, whose counters the
// cross-connection limits use, with a clock the test moves.
func abuseService(t *testing.T) (*chat.Service, *memstore.Store, *disconnectingSender, *time.Time) {
	t.Helper()
	store := memstore.New()
	sender := &disconnectingSender{fakeSender: newSender()}
	clock := now
	svc := &chat.Service{
		Store: store, Counters: store, History: memstore.NewHistory(), Sender: sender,
		SendLimit: chat.RateLimit{Burst: 2, Every: time.Second},
		Logger:    discard(), Now: func() time.Time { return clock },
	}
	return svc, store, sender, &clock
}

type disconnectingSender struct {
	*fakeSender
	closed sync.Map
}

func (s *disconnectingSender) Disconnect(_ context.Context, id string) error {
	s.closed.Store(id, true)
	return nil
}

func (s *disconnectingSender) lastError(id string) chat.ErrorFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e chat.ErrorFrame
	if fs := s.frames[id]; len(fs) > 0 {
		_ = json.Unmarshal(fs[len(fs)-1], &e)
	}
	return e
}

func code(err error) string {
	var pe *chat.ProtocolError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// A client that ignores rate_limited is cut off at the policy's strikes:
// its connection is closed, and its person (source address) is refused at
// $connect for the cool-down, while other addresses get in.
func TestFlooderCutOff(t *testing.T) {
	svc, _, sender, clock := abuseService(t)
	ctx := context.Background()
	for _, id := range []string{"flooder", "friend"} {
		ip := map[string]string{"flooder": "198.51.100.7", "friend": "198.51.100.8"}[id]
		if _, err := svc.ConnectFrom(ctx, id, id, "general", ip); err != nil {
			t.Fatal(err)
		}
	}
	limited := 0
	for i := range 40 {
		_, err := svc.Send(ctx, "flooder", fmt.Appendf(nil, `{"action":"chat message","text":"spam %d"}`, i))
		if code(err) == chat.CodeRateLimited {
			limited++
		}
		if _, cut := sender.closed.Load("flooder"); cut {
			break
		}
	}
	if _, cut := sender.closed.Load("flooder"); !cut {
		t.Fatalf("the flooder was not cut off after %d refusals", limited)
	}
	if limited != int(chat.DefaultFloodPolicy.Strikes) {
		t.Errorf("cut off after %d refusals, want %d", limited, chat.DefaultFloodPolicy.Strikes)
	}
	if _, cut := sender.closed.Load("friend"); cut {
		t.Error("a bystander was cut off")
	}
	// The flooder reconnects: refused for the cool-down, from its address.
	if _, err := svc.ConnectFrom(ctx, "flooder-2", "flooder", "general", "198.51.100.7"); code(err) != chat.CodeCoolingDown {
		t.Errorf("reconnect during the cool-down = %v, want cooling_down", err)
	}
	if _, err := svc.ConnectFrom(ctx, "stranger", "stranger", "general", "198.51.100.9"); err != nil {
		t.Errorf("another address refused: %v", err)
	}
	*clock = clock.Add(chat.DefaultFloodPolicy.Cooldown + time.Second)
	if _, err := svc.ConnectFrom(ctx, "flooder-3", "flooder", "general", "198.51.100.7"); err != nil {
		t.Errorf("reconnect after the cool-down = %v, want admitted", err)
	}
}

// A page waits retryAfterMs after each refusal: it earns a strike per wait
// and is never cut off.
func TestPoliteSenderNeverCutOff(t *testing.T) {
	svc, _, sender, clock := abuseService(t)
	ctx := context.Background()
	if _, err := svc.ConnectFrom(ctx, "page", "page", "general", "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		_, err := svc.Send(ctx, "page", fmt.Appendf(nil, `{"action":"chat message","text":"m%d"}`, i))
		if code(err) == chat.CodeRateLimited {
			*clock = clock.Add(time.Duration(sender.lastError("page").RetryAfterMs) * time.Millisecond)
		}
	}
	if _, cut := sender.closed.Load("page"); cut {
		t.Error("a client that waits as told was cut off")
	}
}

// Reads are metered per connection: past the burst a history request gets
// rate_limited with its requestId, and a since reply is cut by bytes.
func TestReadsMetered(t *testing.T) {
	svc, _, sender, _ := abuseService(t)
	svc.SendLimit = chat.RateLimit{Burst: -1}
	ctx := context.Background()
	if _, err := svc.ConnectFrom(ctx, "reader", "reader", "general", "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("z", chat.MaxTextLength)
	for range 300 {
		if _, err := svc.Send(ctx, "reader", fmt.Appendf(nil, `{"action":"chat message","text":%q}`, long)); err != nil {
			t.Fatal(err)
		}
	}
	sender.frames["reader"] = nil
	if err := svc.SendHistory(ctx, "reader", []byte(`{"action":"history","since":0,"requestId":"r0"}`)); err != nil {
		t.Fatal(err)
	}
	var bytes int
	var last chat.HistoryFrame
	for _, f := range sender.frames["reader"] {
		bytes += len(f)
		_ = json.Unmarshal(f, &last)
	}
	if bytes > chat.MaxHistorySinceBytes+8<<10 || last.Next == nil || last.Next.Since == 0 {
		t.Errorf("a since reply of %d bytes, next %+v; want at most about %d bytes and a next.since", bytes, last.Next, chat.MaxHistorySinceBytes)
	}
	answered, limited := 1, 0
	for i := range 50 {
		err := svc.SendHistory(ctx, "reader", fmt.Appendf(nil, `{"action":"history","requestId":"r%d"}`, i+1))
		switch code(err) {
		case "":
			answered++
		case chat.CodeRateLimited:
			limited++
			if e := sender.lastError("reader"); e.RequestID != fmt.Sprintf("r%d", i+1) || e.RetryAfterMs <= 0 {
				t.Errorf("refusal %+v, want requestId r%d and a wait", e, i+1)
			}
		default:
			t.Fatal(err)
		}
	}
	if answered != chat.DefaultReadLimit.Burst || limited != 51-answered {
		t.Errorf("answered %d, refused %d; want the burst (%d) answered", answered, limited, chat.DefaultReadLimit.Burst)
	}
	if err := svc.Who(ctx, "reader"); code(err) != chat.CodeRateLimited {
		t.Errorf("who past the budget = %v, want rate_limited", err)
	}
}

// One person's connections share a budget: many connections from one
// address send no more than PersonLimits.Sends a window between them.
func TestPersonBudgetAcrossConnections(t *testing.T) {
	svc, _, _, _ := abuseService(t)
	svc.Flood = chat.FloodPolicy{Strikes: -1}
	svc.SendLimit = chat.RateLimit{Burst: 10, Every: time.Second}
	ctx := context.Background()
	for i := range 100 {
		if _, err := svc.ConnectFrom(ctx, fmt.Sprint("c", i), "many", "general", "198.51.100.7"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.ConnectFrom(ctx, "other", "other", "general", "198.51.100.8"); err != nil {
		t.Fatal(err)
	}
	var stored atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			for j := range 10 {
				if _, err := svc.Send(ctx, fmt.Sprint("c", i), fmt.Appendf(nil, `{"action":"chat message","text":"m%d"}`, j)); err == nil {
					stored.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got, want := stored.Load(), chat.DefaultPersonLimits.Sends; got != want {
		t.Errorf("100 connections of one address stored %d messages in one window, want %d", got, want)
	}
	if _, err := svc.Send(ctx, "other", []byte(`{"action":"chat message","text":"still here"}`)); err != nil {
		t.Errorf("another address refused: %v", err)
	}
}

// The room cap holds under concurrent joins, and gives places back.
func TestRoomCapConcurrent(t *testing.T) {
	svc, store, _, _ := abuseService(t)
	svc.RoomCap = 5
	ctx := context.Background()
	var admitted, full atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_, err := svc.ConnectFrom(ctx, fmt.Sprint("j", i), "", "capped", fmt.Sprintf("198.51.100.%d", i%250))
			switch code(err) {
			case "":
				admitted.Add(1)
			case chat.CodeRoomFull:
				full.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 5 || full.Load() != 195 {
		t.Fatalf("admitted %d, refused %d; want 5 and 195", admitted.Load(), full.Load())
	}
	members, _ := store.Members(ctx, "capped", now)
	if err := svc.Disconnect(ctx, members[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConnectFrom(ctx, "late", "", "capped", "198.51.100.251"); err != nil {
		t.Errorf("a join after a leave = %v, want admitted", err)
	}
}

// A count left high by lost $disconnects is corrected from the room's
// listing once it has been still for a while.
func TestRoomCountRecovers(t *testing.T) {
	svc, store, _, clock := abuseService(t)
	svc.RoomCap = 2
	ctx := context.Background()
	// Two members whose $disconnect was lost and whose items expired.
	if _, _, err := store.Add(ctx, "r#lost", 2, -1, time.Time{}, *clock); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConnectFrom(ctx, "a", "", "lost", "198.51.100.1"); code(err) != chat.CodeRoomFull {
		t.Fatalf("join right after = %v, want room_full (the count is fresh)", err)
	}
	*clock = clock.Add(time.Minute)
	if _, err := svc.ConnectFrom(ctx, "b", "", "lost", "198.51.100.2"); err != nil {
		t.Errorf("join once the count is still = %v, want admitted", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
