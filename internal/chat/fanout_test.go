package chat_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// queueRecorder is a chat.Queue keeping what it is given.
type queueRecorder struct {
	mu      sync.Mutex
	batches []chat.Batch
	err     error
}

func (q *queueRecorder) Enqueue(_ context.Context, bs []chat.Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.batches = append(q.batches, bs...)
	return nil
}

func bigRoom(n int) *fakeStore {
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("m%02d", i))
	}
	return room(ids...)
}

// A room over the inline limit is handed to the queue in batches that
// cover every member but the sender once; a room at the limit is not.
func TestSendLargeRoomIsQueued(t *testing.T) {
	q := &queueRecorder{}
	sender := newSender()
	svc := newService(bigRoom(10), sender)
	svc.Queue, svc.InlineLimit, svc.BatchSize, svc.Endpoint = q, 8, 4, "https://api.example/prod"
	d, err := svc.Send(context.Background(), "m00", []byte(`{"action":"chat message","text":"to many","clientMsgId":"big-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Queued != 9 || d.Batches != 3 || d.Delivered != 0 {
		t.Errorf("Send() = %+v, want 9 queued in 3 batches, none inline", d)
	}
	var got []string
	for _, b := range q.batches {
		if b.Room != "general" || b.Seq != 1 || b.Endpoint != "https://api.example/prod" || len(b.Recipients) > 4 {
			t.Errorf("batch %+v", b)
		}
		for _, m := range b.Recipients {
			got = append(got, m.ID)
		}
	}
	slices.Sort(got)
	want := []string{"m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08", "m09"}
	if !slices.Equal(got, want) {
		t.Errorf("batches cover %q, want %q", got, want)
	}
	// The sender still gets its ack at once.
	if acks := framesOf[chat.Ack](t, sender, "m00", chat.TypeAck); len(acks) != 1 {
		t.Errorf("sender's acks = %+v, want 1", acks)
	}

	// At the limit: inline.
	q.batches = nil
	svc.InlineLimit = 9
	if d, err := svc.Send(context.Background(), "m00", []byte(`{"action":"chat message","text":"x"}`)); err != nil || d.Delivered != 9 || len(q.batches) != 0 {
		t.Errorf("Send() at the limit = %+v, %v, %d batches; want delivered inline", d, err, len(q.batches))
	}

	// A queue that refuses: a server error; the message is stored (acked)
	// and the members catch up from history.
	q.err = fmt.Errorf("queue down")
	svc.InlineLimit = 8
	if _, err := svc.Send(context.Background(), "m00", []byte(`{"action":"chat message","text":"y"}`)); err == nil {
		t.Errorf("Send() with a refusing queue = nil, want an error")
	}
}

// DeliverBatch retries throttled posts until they pass, deletes the gone,
// and hands back what is still throttled when time runs short.
func TestDeliverBatch(t *testing.T) {
	store := bigRoom(6)
	store.conns[5].ConnectedAt = now.Add(-time.Hour) // m05: gone for good
	sender := newSender()
	throttles := map[string]int{"m01": 2, "m02": 1}
	sender.before = func(_ context.Context, id string) {
		// Post reads errs under the sender's lock, after before.
		sender.mu.Lock()
		defer sender.mu.Unlock()
		if throttles[id] > 0 {
			throttles[id]--
			sender.errs[id] = chat.ErrThrottled
		} else if id != "m05" {
			delete(sender.errs, id)
		}
	}
	sender.errs["m05"] = chat.ErrGone
	svc := newService(store, sender)
	b := chat.Batch{Room: "general", Seq: 7, Frame: []byte(`{"type":"chat message"}`),
		Recipients: []chat.Member{{ID: "m01"}, {ID: "m02"}, {ID: "m03"}, {ID: "m05"}}}
	d, rest := svc.DeliverBatch(context.Background(), b)
	if rest != nil || d.Delivered != 3 || d.Gone != 1 || d.Retried != 3 {
		t.Errorf("DeliverBatch() = %+v, rest %+v; want 3 delivered after 3 retries, 1 gone, nothing left", d, rest)
	}
	if slices.Contains(store.ids(), "m05") {
		t.Errorf("gone m05 still stored")
	}

	// Throttled for good, with a deadline: handed back, not dropped.
	sender.mu.Lock()
	sender.before = nil
	sender.errs["m01"] = chat.ErrThrottled
	sender.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	d, rest = svc.DeliverBatch(ctx, chat.Batch{Room: "general", Frame: []byte(`{}`), Recipients: []chat.Member{{ID: "m01"}, {ID: "m03"}}})
	if rest == nil || len(rest.Recipients) != 1 || rest.Recipients[0].ID != "m01" || rest.Attempt != 1 || d.Throttled != 1 || d.Delivered != 1 {
		t.Errorf("DeliverBatch() = %+v, rest %+v; want m03 delivered and m01 handed back", d, rest)
	}
}

// countingHandler counts the log records at Info and above.
type countingHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *countingHandler) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// A broadcast logs at most one line, whatever becomes of its posts: no
// line per throttled, gone or failed member (a flood logged 870 MB in two
// minutes with a line per broadcast and one per closing member).
func TestBroadcastLogsOneLineAtMost(t *testing.T) {
	store := bigRoom(60)
	sender := newSender()
	for i := 1; i < 60; i++ {
		id := fmt.Sprintf("m%02d", i)
		switch {
		case i%3 == 0:
			sender.errs[id] = chat.ErrThrottled
		case i%3 == 1:
			sender.errs[id] = fmt.Errorf("reset: %w", chat.ErrGone)
		}
	}
	h := &countingHandler{}
	svc := newService(store, sender)
	svc.Logger = slog.New(h)
	svc.PresenceLimit = -1
	for range 10 {
		if _, err := svc.Send(context.Background(), "m00", []byte(`{"action":"chat message","text":"hi"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if h.n > 0 {
		t.Errorf("%d log lines at info or above for 10 broadcasts with throttled and gone members, want none", h.n)
	}
	// A failure that matters (posts failing for other reasons) is one
	// warning per broadcast, with counts.
	for i := 1; i < 60; i++ {
		sender.errs[fmt.Sprintf("m%02d", i)] = fmt.Errorf("connection reset")
	}
	if _, err := svc.Send(context.Background(), "m00", []byte(`{"action":"chat message","text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	if h.n != 1 {
		t.Errorf("%d log lines for one broadcast whose posts all failed, want 1 summary", h.n)
	}
}
