package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

// A resend that says so is looked up before it takes a seq: the room's
// order has no gap for it, and the next message takes the next seq.
func TestResendTakesNoSeq(t *testing.T) {
	store := room("alice", "bob")
	sender := newSender()
	svc := newService(store, sender)
	ctx := context.Background()
	send := func(body string) chat.Delivery {
		t.Helper()
		d, err := svc.Send(ctx, "alice", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := send(`{"action":"chat message","text":"one","clientMsgId":"m1"}`)
	again := send(`{"action":"chat message","text":"one","clientMsgId":"m1","resend":true}`)
	next := send(`{"action":"chat message","text":"two","clientMsgId":"m2","resend":true}`)
	if first.Seq != 1 || !again.Duplicate || again.Seq != 1 || next.Seq != 2 {
		t.Errorf("seqs = %d, %d (duplicate %v), %d; want 1, 1 (a duplicate), 2", first.Seq, again.Seq, again.Duplicate, next.Seq)
	}
	var acks []chat.Ack
	for _, f := range sender.frames["alice"] {
		var a chat.Ack
		if json.Unmarshal(f, &a) == nil && a.Type == chat.TypeAck {
			acks = append(acks, a)
		}
	}
	if len(acks) != 3 || acks[1] != acks[0] {
		t.Errorf("acks = %+v; want three, the resend's the same as the first's", acks)
	}
	if _, err := svc.Send(ctx, "alice", []byte(`{"action":"chat message","text":"x","resend":"yes"}`)); err == nil {
		t.Error("resend that is not a boolean accepted")
	}
}

// History edge values match nothing rather than everything.
func TestHistoryEdgeValues(t *testing.T) {
	store := room("alice")
	sender := newSender()
	svc := newService(store, sender)
	ctx := context.Background()
	for i := range 3 {
		if _, err := svc.Send(ctx, "alice", fmt.Appendf(nil, `{"action":"chat message","text":"m%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{fmt.Sprintf(`{"action":"history","since":%d}`, int64(math.MaxInt64)), 0},
		{fmt.Sprintf(`{"action":"history","since":%d}`, int64(math.MaxInt64-1)), 0},
		{`{"action":"history","before":0}`, 0},
		{`{"action":"history","before":1}`, 0},
		{`{"action":"history","before":2}`, 1},
		{`{"action":"history","since":0}`, 3},
		{`{"action":"history","since":2}`, 1},
	} {
		t.Run(tc.body, func(t *testing.T) {
			sender.frames["alice"] = nil
			if err := svc.SendHistory(ctx, "alice", []byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			var h chat.HistoryFrame
			sender.frame(t, "alice", &h)
			if len(h.Messages) != tc.want || h.Next != nil {
				t.Errorf("got %d messages, next %+v; want %d and no next", len(h.Messages), h.Next, tc.want)
			}
		})
	}
}

// Every frame of a history reply echoes the request's requestId, so that a
// client can tell which request it answers when an earlier one got none.
func TestHistoryRequestID(t *testing.T) {
	store := room("alice")
	sender := newSender()
	svc := newService(store, sender)
	ctx := context.Background()
	long := strings.Repeat("x", chat.MaxTextLength)
	for range 100 { // over 120 KB: more than one frame
		if _, err := svc.Send(ctx, "alice", fmt.Appendf(nil, `{"action":"chat message","text":%q}`, long)); err != nil {
			t.Fatal(err)
		}
	}
	sender.frames["alice"] = nil
	if err := svc.SendHistory(ctx, "alice", []byte(`{"action":"history","since":0,"requestId":"h-7"}`)); err != nil {
		t.Fatal(err)
	}
	frames := sender.frames["alice"]
	if len(frames) < 2 {
		t.Fatalf("%d frames, want several", len(frames))
	}
	for i, f := range frames {
		var h chat.HistoryFrame
		if err := json.Unmarshal(f, &h); err != nil || h.RequestID != "h-7" {
			t.Errorf("frame %d: requestId %q (%v), want h-7", i, h.RequestID, err)
		}
	}
	for _, bad := range []string{`"h 7"`, `7`, `""`, `"` + strings.Repeat("a", 65) + `"`} {
		if err := svc.SendHistory(ctx, "alice", []byte(`{"action":"history","requestId":`+bad+`}`)); err == nil {
			t.Errorf("requestId %s accepted", bad)
		}
	}
}

// A connection that answers 410 to many broadcasts is deleted once, its
// departure announced once; one in its handshake is not deleted at all,
// and costs no write.
func TestGoneDeletedOnce(t *testing.T) {
	store := room("alice", "bob", "stale")
	store.conns = append(store.conns, chat.Connection{ID: "opening", Room: "general", Name: "newbie",
		ConnectedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)})
	sender := newSender()
	sender.errs["stale"] = chat.ErrGone
	sender.errs["opening"] = chat.ErrGone
	reaper := &chat.Reaper{Store: store}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			svc := newService(store, sender) // one per request, as the hosts make them
			svc.Reaper = reaper
			if _, err := svc.Send(ctx, "alice", fmt.Appendf(nil, `{"action":"chat message","text":"m%d"}`, i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := store.deleted; !slices.Equal(got, []string{"stale"}) {
		t.Errorf("deleted %q, want stale once (and never the joiner in its handshake)", got)
	}
	// Broadcasts that listed the room after the delete do not meet it.
	if reaper.Deleted.Load() != 1 || !reaper.Accounted() {
		t.Errorf("reaper: %s; want one delete and every 410 accounted for", reaper)
	}
	left := 0
	for _, f := range sender.frames["bob"] {
		var p chat.PresenceFrame
		if json.Unmarshal(f, &p) == nil && p.Type == chat.TypeLeft {
			left++
			if p.Name != "name-stale" {
				t.Errorf("left notice for %q, want name-stale", p.Name)
			}
		}
	}
	if left != 1 {
		t.Errorf("bob got %d left notices, want 1", left)
	}
}

// In the background a Reaper never holds up the broadcast.
func TestReaperInBackground(t *testing.T) {
	store := &blockingStore{fakeStore: room("alice", "bob", "stale"), release: make(chan struct{})}
	sender := newSender()
	sender.errs["stale"] = chat.ErrGone
	svc := newService(store, sender)
	svc.Reaper = &chat.Reaper{Store: store, Background: true}
	d, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`))
	if err != nil || d.Gone != 1 || d.Delivered != 1 {
		t.Fatalf("Send() = %+v, %v; want bob delivered and stale handed over, with its delete still blocked", d, err)
	}
	close(store.release)
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(store.ids(), "stale") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if slices.Contains(store.ids(), "stale") {
		t.Error("stale connection never deleted")
	}
}

// blockingStore holds every DeleteStale until release is closed.
type blockingStore struct {
	*fakeStore
	release chan struct{}
}

func (s *blockingStore) DeleteStale(ctx context.Context, id string, cutoff time.Time) (bool, error) {
	<-s.release
	return s.fakeStore.DeleteStale(ctx, id, cutoff)
}

// A $connect whose caller gives up (the integration timed out: the
// handshake is refused, and $disconnect will never come) leaves nothing
// stored, even when its write lands after the deadline.
func TestConnectTimeoutLeavesNothing(t *testing.T) {
	store := &lateStore{fakeStore: room("alice")}
	sender := newSender()
	svc := newService(store, sender)
	ctx, cancel := context.WithCancel(context.Background())
	store.onPut = cancel // the deadline passes while the item is written
	if _, err := svc.Connect(ctx, "late", "bob", "general"); err == nil {
		t.Fatal("Connect() succeeded after its deadline")
	}
	if slices.Contains(store.ids(), "late") {
		t.Errorf("store keeps %q: a refused handshake left a ghost", store.ids())
	}
}

type lateStore struct {
	*fakeStore
	onPut func()
}

func (s *lateStore) Put(ctx context.Context, c chat.Connection) error {
	err := s.fakeStore.Put(ctx, c)
	s.onPut()
	return err
}

// A full room whose members left without $disconnect admits a newcomer:
// it probes its oldest members, and forgets those that are gone.
func TestFullRoomProbesForGhosts(t *testing.T) {
	store := room("alice", "ghost1", "ghost2")
	sender := &probingSender{fakeSender: newSender(), dead: map[string]bool{"ghost1": true, "ghost2": true}}
	sender.errs["ghost1"], sender.errs["ghost2"] = chat.ErrGone, chat.ErrGone
	svc := newService(store, sender)
	svc.RoomCap = 3
	if _, err := svc.Connect(context.Background(), "carol", "carol", "general"); err != nil {
		t.Fatalf("Connect() to a room of ghosts = %v, want admitted", err)
	}
	if got, want := store.ids(), []string{"alice", "elsewhere", "carol"}; !slices.Equal(got, want) {
		t.Errorf("store = %q, want %q", got, want)
	}
	// Alive members keep the room full.
	sender.dead = map[string]bool{}
	svc.RoomCap = 2
	_, err := svc.Connect(context.Background(), "dave", "dave", "general")
	var pe *chat.ProtocolError
	if !errors.As(err, &pe) || pe.Code != chat.CodeRoomFull {
		t.Errorf("Connect() to a full room of live members = %v, want room_full", err)
	}
}

type probingSender struct {
	*fakeSender
	dead map[string]bool
}

func (s *probingSender) Alive(_ context.Context, id string) (bool, error) { return !s.dead[id], nil }

// One left notice per departure: $disconnect, then a broadcast that still
// lists the member (an index lags) and finds it gone.
func TestLeftOnceAfterDisconnect(t *testing.T) {
	for name, store := range map[string]chat.Store{"fake": room("alice", "bob"), "memstore": memRoom(t, "alice", "bob")} {
		t.Run(name, func(t *testing.T) {
			sender := newSender()
			svc := newService(store, sender)
			ctx := context.Background()
			members, _ := store.Members(ctx, "general", now)
			if err := svc.Disconnect(ctx, "bob"); err != nil {
				t.Fatal(err)
			}
			deleted, err := store.DeleteStale(ctx, "bob", now)
			if err != nil || deleted {
				t.Errorf("DeleteStale after $disconnect = %v, %v; want false", deleted, err)
			}
			if len(members) != 2 {
				t.Fatalf("members = %+v", members)
			}
		})
	}
}

func memRoom(t *testing.T, ids ...string) *memstore.Store {
	t.Helper()
	s := memstore.New()
	for _, id := range ids {
		if err := s.Put(context.Background(), chat.Connection{ID: id, Room: "general", Name: "name-" + id, UserID: uid(id),
			ConnectedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// A direct message is stored in its conversation before it is delivered:
// a recipient in its handshake, or whose buffer stays full, reads it from
// the conversation's history, and the sender has its ack either way.
func TestDirectDelivery(t *testing.T) {
	ctx := context.Background()
	dm := `{"action":"direct message","toId":"` + uid("bob") + `","text":"psst","clientMsgId":"d1"}`
	conversation := chat.ConversationID(uid("alice"), uid("bob"))
	lastFrame := func(s *fakeSender, id string) map[string]any {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		fs := s.frames[id]
		if len(fs) == 0 {
			t.Fatalf("%s got nothing", id)
		}
		var v map[string]any
		_ = json.Unmarshal(fs[len(fs)-1], &v)
		return v
	}
	readBack := func(svc *chat.Service, sender *fakeSender) {
		t.Helper()
		if err := svc.SendHistory(ctx, "bob", []byte(`{"action":"history","conversation":"`+conversation+`","since":0}`)); err != nil {
			t.Fatal(err)
		}
		var h chat.HistoryFrame
		sender.frame(t, "bob", &h)
		if h.Conversation != conversation || len(h.Messages) != 1 || h.Messages[0].Text != "psst" || h.Messages[0].Seq != 1 {
			t.Errorf("bob's history of the conversation = %+v", h)
		}
	}
	t.Run("in its handshake", func(t *testing.T) {
		store := room("alice")
		store.conns = append(store.conns, chat.Connection{ID: "bob", Room: "general", Name: "name-bob", UserID: uid("bob"),
			ConnectedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)})
		sender := newSender()
		sender.errs["bob"] = chat.ErrGone
		svc := newService(store, sender)
		d, err := svc.Direct(ctx, "alice", []byte(dm))
		if err != nil || d.Opening != 1 {
			t.Errorf("Direct() = %+v, %v; want stored, bob opening", d, err)
		}
		if f := lastFrame(sender, "alice"); f["type"] != chat.TypeAck || f["conversation"] != conversation || f["seq"] != 1.0 {
			t.Errorf("alice got %v, want the ack of seq 1 in the conversation", f)
		}
		delete(sender.errs, "bob")
		sender = newSender()
		svc.Sender = sender
		readBack(svc, sender)
	})
	t.Run("buffer full for a moment", func(t *testing.T) {
		store := room("alice", "bob")
		sender := newSender()
		tries := 0
		sender.before = func(_ context.Context, id string) {
			if id != "bob" {
				return
			}
			sender.mu.Lock()
			defer sender.mu.Unlock()
			if tries++; tries < 3 {
				sender.errs["bob"] = chat.ErrThrottled
			} else {
				delete(sender.errs, "bob")
			}
		}
		svc := newService(store, sender)
		d, err := svc.Direct(ctx, "alice", []byte(dm))
		if err != nil || d.Delivered != 1 || d.Retried != 2 {
			t.Errorf("Direct() = %+v, %v; want delivered on the third try", d, err)
		}
	})
	t.Run("buffer full throughout", func(t *testing.T) {
		store := room("alice", "bob")
		sender := newSender()
		sender.errs["bob"] = chat.ErrThrottled
		svc := newService(store, sender)
		d, err := svc.Direct(ctx, "alice", []byte(dm))
		if err != nil || d.Throttled != 1 {
			t.Errorf("Direct() = %+v, %v; want stored, bob throttled", d, err)
		}
		if f := lastFrame(sender, "alice"); f["type"] != chat.TypeAck {
			t.Errorf("alice got %v, want an ack", f)
		}
		delete(sender.errs, "bob")
		sender = newSender()
		svc.Sender = sender
		readBack(svc, sender)
	})
}

// The in-memory history keeps at most MaxRoomBytes a room, dropping the
// oldest first.
func TestMemoryHistoryBound(t *testing.T) {
	h := memstore.NewHistory()
	h.MaxRoomBytes = 64 << 10
	ctx := context.Background()
	text := strings.Repeat("y", 1000)
	for i := range 500 {
		if _, _, err := h.Append(ctx, chat.Message{ID: fmt.Sprint(i), Room: "big", Text: text, ClientMsgID: fmt.Sprintf("c%d", i)},
			now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _, err := h.Read(ctx, "big", chat.Range{After: 0, Limit: 1000}, now)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, m := range msgs {
		size += len(m.Text)
	}
	if size > 64<<10 || len(msgs) < 40 {
		t.Errorf("kept %d messages, %d bytes of text; want at most 64 KiB and most of it used", len(msgs), size)
	}
	if last := msgs[len(msgs)-1].Seq; last != 500 {
		t.Errorf("newest kept = %d, want 500: the oldest go first", last)
	}
	if _, found, _ := h.Find(ctx, "big", "c0", now); found {
		t.Error("a dropped message is still found by its clientMsgId")
	}
	if _, found, _ := h.Find(ctx, "big", "c499", now); !found {
		t.Error("a kept message is not found by its clientMsgId")
	}
}

// A room's order has an epoch, on every frame that carries a seq: the same
// across its messages and its history, another one when the order starts
// again (here, the adapter restarted: a new in-memory history).
func TestHistoryEpoch(t *testing.T) {
	ctx := context.Background()
	epochOf := func(h chat.History) (string, []string) {
		t.Helper()
		var epochs []string
		for i := range 3 {
			m, _, err := h.Append(ctx, chat.Message{ID: fmt.Sprint(i), Room: "general", Text: "x"}, now.Add(time.Hour), now)
			if err != nil {
				t.Fatal(err)
			}
			epochs = append(epochs, m.Epoch)
		}
		msgs, _, err := h.Read(ctx, "general", chat.Range{Limit: 10}, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			epochs = append(epochs, m.Epoch)
		}
		return epochs[0], epochs
	}
	before, all := epochOf(memstore.NewHistory())
	for _, e := range all {
		if e == "" || e != before {
			t.Fatalf("epochs %q, want one, on every message", all)
		}
	}
	after, _ := epochOf(memstore.NewHistory())
	if after == before {
		t.Errorf("a new store kept the epoch %q: clients would not know their seqs mean nothing now", before)
	}
}
