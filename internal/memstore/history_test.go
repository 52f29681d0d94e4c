package memstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/memstore"
)

// The same rules as dynamo.History's tests against DynamoDB Local: seqs per
// room, one message per clientMsgId while it is kept, expired ones unseen.
func TestHistory(t *testing.T) {
	ctx := context.Background()
	h := memstore.NewHistory()
	t0 := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	add := func(room, cmid string, expires, now time.Time) (chat.Message, bool) {
		t.Helper()
		m, isNew, err := h.Append(ctx, chat.Message{ID: chat.NewID(), Room: room, Text: "x", ClientMsgID: cmid}, expires, now)
		if err != nil {
			t.Fatal(err)
		}
		return m, isNew
	}
	for i := 1; i <= 10; i++ {
		exp := t0.Add(time.Hour)
		if i <= 3 {
			exp = t0 // expired at t0
		}
		if m, isNew := add("a", fmt.Sprintf("k%d", i), exp, t0.Add(-time.Minute)); !isNew || m.Seq != int64(i) {
			t.Fatalf("append %d = seq %d, new %v", i, m.Seq, isNew)
		}
	}
	if m, _ := add("b", "k1", t0.Add(time.Hour), t0); m.Seq != 1 {
		t.Errorf("first message of room b has seq %d, want 1", m.Seq)
	}
	if m, isNew := add("a", "k5", t0.Add(time.Hour), t0); isNew || m.Seq != 5 {
		t.Errorf("duplicate k5 = seq %d, new %v; want the stored seq 5", m.Seq, isNew)
	}
	// k2 expired: it may be used again, as a new message.
	if m, isNew := add("a", "k2", t0.Add(time.Hour), t0); !isNew || m.Seq != 11 {
		t.Errorf("expired k2 sent again = seq %d, new %v; want stored as seq 11", m.Seq, isNew)
	}
	seqs := func(q chat.Range) ([]int64, bool) {
		msgs, more, err := h.Read(ctx, "a", q, t0)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, m := range msgs {
			out = append(out, m.Seq)
		}
		return out, more
	}
	for _, tt := range []struct {
		q    chat.Range
		want []int64
		more bool
	}{
		{chat.Range{Limit: 100}, []int64{4, 5, 6, 7, 8, 9, 10, 11}, false},
		{chat.Range{After: 8, Limit: 100}, []int64{9, 10, 11}, false},
		{chat.Range{After: 4, Limit: 2}, []int64{5, 6}, true},
		{chat.Range{Latest: true, Limit: 3}, []int64{9, 10, 11}, true},
		{chat.Range{Before: 7, Limit: 10}, []int64{4, 5, 6}, false},
		{chat.Range{Before: 7, Limit: 2}, []int64{5, 6}, true},
	} {
		got, more := seqs(tt.q)
		if !slices.Equal(got, tt.want) || more != tt.more {
			t.Errorf("Read(%+v) = %v, more %v; want %v, more %v", tt.q, got, more, tt.want, tt.more)
		}
	}
}
