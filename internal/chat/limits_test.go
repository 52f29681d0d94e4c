package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// clock is a settable time for the limit tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func errorFrames(t *testing.T, s *fakeSender, id string) []chat.ErrorFrame {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chat.ErrorFrame
	for _, f := range s.frames[id] {
		var e chat.ErrorFrame
		if json.Unmarshal(f, &e) == nil && e.Type == chat.TypeError {
			out = append(out, e)
		}
	}
	return out
}

func TestSendLimit(t *testing.T) {
	store := room("alice", "bob")
	sender := newSender()
	clk := &clock{t: now}
	svc := newService(store, sender)
	svc.Now = clk.now
	svc.SendLimit = chat.RateLimit{Burst: 3, Every: time.Second}
	send := func(id string) error {
		_, err := svc.Send(context.Background(), "alice",
			[]byte(fmt.Sprintf(`{"action":"chat message","text":"hi","clientMsgId":%q}`, id)))
		return err
	}
	for i := range 3 {
		if err := send(fmt.Sprintf("m%d", i)); err != nil {
			t.Fatalf("message %d of the burst: %v", i, err)
		}
	}
	var pe *chat.ProtocolError
	if err := send("m3"); !errors.As(err, &pe) || pe.Code != chat.CodeRateLimited {
		t.Fatalf("fourth message at once: err = %v, want rate_limited", err)
	}
	errs := errorFrames(t, sender, "alice")
	if len(errs) != 1 || errs[0].Code != chat.CodeRateLimited || errs[0].RetryAfterMs != 1000 || errs[0].ClientMsgID != "m3" {
		t.Fatalf("alice's error frames = %+v, want one rate_limited for m3 with retryAfterMs 1000", errs)
	}
	if got := len(sender.frames["bob"]); got != 3 {
		t.Errorf("bob got %d messages, want 3: a refused message is not broadcast", got)
	}
	if _, more, _ := svc.History.Read(context.Background(), "general", chat.Range{Limit: 10}, clk.now()); more {
		t.Fatal("unexpected more")
	}
	msgs, _, _ := svc.History.Read(context.Background(), "general", chat.Range{Limit: 10}, clk.now())
	if len(msgs) != 3 {
		t.Errorf("%d messages stored, want 3: a refused message is not stored", len(msgs))
	}
	// Half a token later: still refused, with the rest of the wait.
	clk.advance(400 * time.Millisecond)
	if err := send("m3"); !errors.As(err, &pe) || pe.RetryAfterMs != 600 {
		t.Errorf("after 400 ms: err = %v, want rate_limited with 600 ms", err)
	}
	// After the wait, one more; after a long pause, a full burst again.
	clk.advance(600 * time.Millisecond)
	if err := send("m3"); err != nil {
		t.Errorf("after the wait: %v", err)
	}
	clk.advance(time.Hour)
	for i := range 3 {
		if err := send(fmt.Sprintf("n%d", i)); err != nil {
			t.Errorf("message %d after a pause: %v", i, err)
		}
	}
	// Bob's own bucket is his.
	if _, err := svc.Send(context.Background(), "bob", []byte(`{"action":"chat message","text":"hi"}`)); err != nil {
		t.Errorf("bob: %v", err)
	}
}

// TestSendLimitCountsDirectAndRename: direct messages and renames take
// from the same bucket as chat messages; typing, who and history do not.
func TestSendLimitCountsDirectAndRename(t *testing.T) {
	store := room("alice", "bob")
	sender := newSender()
	svc := newService(store, sender)
	svc.SendLimit = chat.RateLimit{Burst: 2, Every: time.Minute}
	ctx := context.Background()
	if _, err := svc.Direct(ctx, "alice", []byte(`{"action":"direct message","toId":"`+uid("bob")+`","text":"psst"}`)); err != nil {
		t.Fatal(err)
	}
	if err := svc.Rename(ctx, "alice", []byte(`{"action":"rename","name":"Al"}`)); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := svc.Who(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := svc.SendHistory(ctx, "alice", []byte(`{"action":"history"}`)); err != nil {
			t.Fatal(err)
		}
	}
	var pe *chat.ProtocolError
	if _, err := svc.Send(ctx, "alice", []byte(`{"action":"chat message","text":"x"}`)); !errors.As(err, &pe) || pe.Code != chat.CodeRateLimited {
		t.Errorf("third counted frame: err = %v, want rate_limited", err)
	}
	if err := svc.Rename(ctx, "alice", []byte(`{"action":"rename","name":"Alf"}`)); !errors.As(err, &pe) || pe.Code != chat.CodeRateLimited {
		t.Errorf("rename over the limit: err = %v, want rate_limited", err)
	}
}

// raceStore makes the first SetClock of the send clock lose, as a
// concurrent frame of the same connection would make it.
type raceStore struct {
	*fakeStore
	lost bool
}

func (s *raceStore) SetClock(ctx context.Context, id string, clock chat.Clock, prev, next time.Time) (bool, error) {
	if clock == chat.SendClock && !s.lost {
		s.lost = true
		// The other frame took a token: the clock moved on.
		s.fakeStore.SetClock(ctx, id, clock, prev, next)
		return false, nil
	}
	return s.fakeStore.SetClock(ctx, id, clock, prev, next)
}

func TestSendLimitReadsAgainAfterLosingARace(t *testing.T) {
	store := &raceStore{fakeStore: room("alice", "bob")}
	sender := newSender()
	svc := newService(store, sender)
	svc.SendLimit = chat.RateLimit{Burst: 2, Every: time.Minute}
	ctx := context.Background()
	// The lost race spent a token (the other frame's); this frame takes
	// the second after reading the clock again.
	if _, err := svc.Send(ctx, "alice", []byte(`{"action":"chat message","text":"x"}`)); err != nil {
		t.Fatalf("after a lost race: %v", err)
	}
	var pe *chat.ProtocolError
	if _, err := svc.Send(ctx, "alice", []byte(`{"action":"chat message","text":"y"}`)); !errors.As(err, &pe) || pe.Code != chat.CodeRateLimited {
		t.Errorf("third frame (two tokens gone): err = %v, want rate_limited", err)
	}
}

func TestSendLimitOf(t *testing.T) {
	tests := []struct {
		burst     int
		perSecond float64
		want      chat.RateLimit
	}{
		{-1, 0, chat.DefaultSendLimit},                                    // unset
		{0, 0, chat.RateLimit{Burst: -1}},                                 // off, whatever the rate
		{0, 5, chat.RateLimit{Burst: -1}},                                 //
		{20, 0, chat.RateLimit{Burst: 20, Every: time.Second}},            // the default rate
		{5, 2, chat.RateLimit{Burst: 5, Every: 500 * time.Millisecond}},   //
		{-1, 4, chat.RateLimit{Burst: 10, Every: 250 * time.Millisecond}}, // the default burst
	}
	for _, tt := range tests {
		if got := chat.SendLimitOf(tt.burst, tt.perSecond); got != tt.want {
			t.Errorf("SendLimitOf(%d, %v) = %+v, want %+v", tt.burst, tt.perSecond, got, tt.want)
		}
	}
}

func TestRoomCap(t *testing.T) {
	store := room("a", "b")
	svc := newService(store, newSender())
	svc.RoomCap = 3
	ctx := context.Background()
	if _, err := svc.Connect(ctx, "c", "carol", "general"); err != nil {
		t.Fatalf("third member: %v", err)
	}
	var pe *chat.ProtocolError
	if _, err := svc.Connect(ctx, "d", "dan", "general"); !errors.As(err, &pe) || pe.Code != chat.CodeRoomFull {
		t.Fatalf("fourth member: err = %v, want room_full", err)
	}
	if _, err := store.Get(ctx, "d"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("a refused member was stored: %v", err)
	}
	if _, err := svc.Connect(ctx, "e", "eve", "other"); err != nil {
		t.Errorf("another room: %v", err)
	}
	// A member connecting again under the same ID is not counted twice.
	if _, err := svc.Connect(ctx, "c", "carol", "general"); err != nil {
		t.Errorf("reconnect of a member: %v", err)
	}
}

func TestConnectUser(t *testing.T) {
	tests := []struct {
		name string
		user chat.User
		want string
	}{
		{"the token's name", chat.User{ID: "sub-1", Name: "Alice Smith"}, "Alice Smith"},
		{"no name", chat.User{ID: "0f3c9e2a-77aa-4b1e"}, "user-0f3c9e2a"},
		{"controls dropped", chat.User{ID: "s", Name: "Al\x00ice\u200b"}, "Alice"},
		{"too long", chat.User{ID: "s", Name: "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop"}, "abcdefghijklmnopqrstuvwxyzabcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeStore{}
			svc := newService(store, newSender())
			c, err := svc.ConnectUser(context.Background(), "c1", "general", tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if id := chat.SignedInUserID(tt.user.Issuer, tt.user.ID); c.Name != tt.want || c.UserID != id || !c.SignedIn {
				t.Errorf("connection = %q (user %q), want %q (user %q), signed in", c.Name, c.UserID, tt.want, id)
			}
			if err := chat.ValidateName(c.Name); err != nil {
				t.Errorf("name %q is not valid: %v", c.Name, err)
			}
		})
	}
	// A signed-in member cannot rename itself.
	store := &fakeStore{}
	sender := newSender()
	svc := newService(store, sender)
	if _, err := svc.ConnectUser(context.Background(), "c1", "general", chat.User{ID: "s", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	var pe *chat.ProtocolError
	if err := svc.Rename(context.Background(), "c1", []byte(`{"action":"rename","name":"Mallory"}`)); !errors.As(err, &pe) || pe.Code != chat.CodeNameFixed {
		t.Errorf("rename when signed in: err = %v, want name_fixed", err)
	}
}
