package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/serverless-chat/chat/internal/chat"
	"github.com/serverless-chat/chat/internal/dynamo"
)

// newHistory returns a history on a fresh messages table.
func newHistory(t *testing.T) (*dynamo.History, *dynamodb.Client) {
	t.Helper()
	client := newClient(t)
	table := tableName(t)
	ctx := testContext(t)
	if err := dynamo.CreateHistoryTable(ctx, client, table, ""); err != nil {
		t.Fatalf("CreateHistoryTable(%s): %v", table, err)
	}
	// Idempotent: a second call checks the layout and succeeds.
	if err := dynamo.CreateHistoryTable(ctx, client, table, ""); err != nil {
		t.Fatalf("CreateHistoryTable(%s) again: %v", table, err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	return dynamo.NewHistory(client, table, ""), client
}

func message(room, text, clientMsgID string) chat.Message {
	return chat.Message{Type: chat.TypeChatMessage, ID: chat.NewID(), Room: room, From: "alice", Text: text,
		SentAt: chat.FormatTime(t0), ClientMsgID: clientMsgID}
}

// Concurrent senders in one room get distinct seqs, and the room's order
// (read back by seq) holds every message once.
func TestHistoryConcurrentSeq(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t)
	ctx := testContext(t)
	const senders, each = 8, 25
	var mu sync.Mutex
	seqs := map[int64]string{}
	var g errgroup.Group
	for s := range senders {
		g.Go(func() error {
			var last int64
			for i := range each {
				m, isNew, err := h.Append(ctx, message("general", fmt.Sprintf("s%d-%d", s, i), ""), t0.Add(time.Hour), t0)
				if err != nil {
					return err
				}
				if !isNew || m.Seq <= last {
					return fmt.Errorf("sender %d got seq %d after %d (new %v): want strictly increasing", s, m.Seq, last, isNew)
				}
				last = m.Seq
				mu.Lock()
				if other, dup := seqs[m.Seq]; dup {
					mu.Unlock()
					return fmt.Errorf("seq %d given to %q and %q", m.Seq, other, m.Text)
				}
				seqs[m.Seq] = m.Text
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, more, err := h.Read(ctx, "general", chat.Range{Limit: 1000}, t0)
	if err != nil || more {
		t.Fatalf("Read() more %v, %v", more, err)
	}
	if len(msgs) != senders*each {
		t.Fatalf("read %d messages, want %d", len(msgs), senders*each)
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) || seqs[m.Seq] != m.Text {
			t.Fatalf("message %d = seq %d %q, want seq %d %q", i, m.Seq, m.Text, i+1, seqs[int64(i+1)])
		}
	}
}

// A clientMsgId is stored once, concurrent duplicates included; every
// duplicate gets the stored message back. Other rooms are apart.
func TestHistoryDeduplicates(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t)
	ctx := testContext(t)
	var g errgroup.Group
	results := make([]chat.Message, 10)
	news := make([]bool, 10)
	for i := range results {
		g.Go(func() error {
			var err error
			results[i], news[i], err = h.Append(ctx, message("general", "once", "k-1"), t0.Add(time.Hour), t0)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := len(slices.DeleteFunc(slices.Clone(news), func(b bool) bool { return !b })); n != 1 {
		t.Errorf("%d appends stored the message, want 1", n)
	}
	for i, m := range results {
		if m.ID != results[0].ID || m.Seq != results[0].Seq || m.SentAt != results[0].SentAt || m.ClientMsgID != "k-1" {
			t.Errorf("append %d returned %+v, want the stored %+v", i, m, results[0])
		}
	}
	msgs, _, err := h.Read(ctx, "general", chat.Range{Limit: 100}, t0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Read() = %d messages, %v; want 1", len(msgs), err)
	}
	// The same clientMsgId in another room is another message.
	if _, isNew, err := h.Append(ctx, message("other", "once", "k-1"), t0.Add(time.Hour), t0); err != nil || !isNew {
		t.Errorf("Append in another room: new %v, %v; want stored", isNew, err)
	}
	// Once expired, the clientMsgId may be used again.
	later := t0.Add(2 * time.Hour)
	m, isNew, err := h.Append(ctx, message("general", "again", "k-1"), later.Add(time.Hour), later)
	if err != nil || !isNew || m.Seq <= results[0].Seq {
		t.Errorf("Append after expiry = %+v, new %v, %v; want stored with a later seq", m, isNew, err)
	}
}

func TestHistoryRead(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t)
	ctx := testContext(t)
	// 30 messages of about 4 KB: more than one 1 MB Query page is not
	// needed, but Limit+1 and the filter are exercised.
	for i := 1; i <= 30; i++ {
		exp := t0.Add(time.Hour)
		if i <= 5 {
			exp = t0 // expired at t0 (TTL lags: still stored)
		}
		if _, _, err := h.Append(ctx, message("general", fmt.Sprintf("%02d %s", i, strings.Repeat("x", 4000)), ""), exp, t0.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		q           chat.Range
		first, last int64
		more        bool
	}{
		{name: "since 0 skips expired", q: chat.Range{Limit: 100}, first: 6, last: 30},
		{name: "since 20", q: chat.Range{After: 20, Limit: 100}, first: 21, last: 30},
		{name: "since capped", q: chat.Range{After: 10, Limit: 5}, first: 11, last: 15, more: true},
		{name: "latest", q: chat.Range{Latest: true, Limit: 10}, first: 21, last: 30, more: true},
		{name: "before", q: chat.Range{Before: 21, Limit: 10}, first: 11, last: 20, more: true},
		{name: "before reaches expired", q: chat.Range{Before: 11, Limit: 10}, first: 6, last: 10},
		{name: "nothing after the last", q: chat.Range{After: 30, Limit: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, more, err := h.Read(ctx, "general", tt.q, t0)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range msgs {
				got = append(got, m.Seq)
			}
			var want []int64
			for s := tt.first; s > 0 && s <= tt.last; s++ {
				want = append(want, s)
			}
			if !slices.Equal(got, want) || more != tt.more {
				t.Errorf("Read(%+v) = %v, more %v; want %v, more %v", tt.q, got, more, want, tt.more)
			}
		})
	}
}

// DeleteStale keeps a connection younger than the cutoff: it may still be
// in its handshake.
func TestDeleteStale(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testContext(t)
	young := conn("young", "general") // connected at t0
	if err := s.Put(ctx, young); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.DeleteStale(ctx, "young", t0)
	if err != nil || deleted {
		t.Fatalf("DeleteStale(young, cutoff t0) = %v, %v; want kept", deleted, err)
	}
	if _, err := s.Get(ctx, "young"); err != nil {
		t.Fatalf("young connection gone: %v", err)
	}
	deleted, err = s.DeleteStale(ctx, "young", t0.Add(time.Millisecond))
	if err != nil || !deleted {
		t.Fatalf("DeleteStale(young, cutoff after it) = %v, %v; want deleted", deleted, err)
	}
	// Deleted once: a second broadcast (or $disconnect before it) that
	// finds it gone does not count it, so that it is announced once.
	if deleted, err := s.DeleteStale(ctx, "young", t0.Add(time.Millisecond)); err != nil || deleted {
		t.Errorf("DeleteStale(deleted already) = %v, %v; want false", deleted, err)
	}
	if deleted, err := s.DeleteStale(ctx, "never-stored", t0); err != nil || deleted {
		t.Errorf("DeleteStale(unknown) = %v, %v; want false (nothing to announce)", deleted, err)
	}
}

// Presence on DynamoDB Local: Members carries names (the room index
// projects them), Rename changes one (never creating an item) and returns
// it as it was, Delete returns what it deleted, SetClock is a
// compare-and-set on typingAt.
func TestPresenceItems(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := testContext(t)
	for _, c := range []chat.Connection{conn("a", "general"), conn("b", "general")} {
		if err := s.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	members, err := s.Members(ctx, "general", t0)
	if err != nil || len(members) != 2 || members[0].Name != "name-a" || members[1].Name != "name-b" {
		t.Fatalf("Members = %+v, %v; want a and b with their names", members, err)
	}
	old, err := s.Rename(ctx, "a", "Ann")
	if err != nil || old.Name != "name-a" || old.Room != "general" {
		t.Fatalf("Rename = %+v, %v; want the connection as it was", old, err)
	}
	if got, _ := s.Get(ctx, "a"); got.Name != "Ann" {
		t.Errorf("name after Rename = %q, want Ann", got.Name)
	}
	if _, err := s.Rename(ctx, "nobody", "x"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Rename(unknown) = %v, want chat.ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("Rename created an item for an unknown connection")
	}

	// typingAt: set from absent, then only from the value read.
	first := t0.Add(time.Second)
	if ok, err := s.SetClock(ctx, "a", chat.TypingClock, time.Time{}, first); err != nil || !ok {
		t.Fatalf("SetClock from none = %v, %v; want set", ok, err)
	}
	if ok, _ := s.SetClock(ctx, "a", chat.TypingClock, time.Time{}, first.Add(time.Second)); ok {
		t.Errorf("SetClock from a stale zero value succeeded: two concurrent notices both passed")
	}
	got, _ := s.Get(ctx, "a")
	if !got.TypingAt.Equal(first) {
		t.Errorf("TypingAt = %v, want %v", got.TypingAt, first)
	}
	if ok, err := s.SetClock(ctx, "a", chat.TypingClock, first, first.Add(3*time.Second)); err != nil || !ok {
		t.Errorf("SetClock from the value read = %v, %v; want set", ok, err)
	}
	if ok, _ := s.SetClock(ctx, "nobody", chat.TypingClock, time.Time{}, first); ok {
		t.Errorf("SetClock of an unknown connection succeeded")
	}

	deleted, err := s.Delete(ctx, "b")
	if err != nil || deleted.ID != "b" || deleted.Name != "name-b" {
		t.Errorf("Delete = %+v, %v; want b as it was", deleted, err)
	}
	if again, err := s.Delete(ctx, "b"); err != nil || again.ID != "" {
		t.Errorf("second Delete = %+v, %v; want the zero Connection", again, err)
	}
}

// A private conversation is a stream of its own: its messages keep their
// author, recipient and conversation, number from 1 in their own order,
// are deduplicated by clientMsgId, and are not in the room's history.
func TestConversationHistory(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t)
	ctx := testContext(t)
	a, b := chat.AnonymousUserID("alice-secret-0123456789ab"), chat.AnonymousUserID("bob-secret-0123456789abcd")
	conversation := chat.ConversationID(a, b)
	stream := "general/" + conversation
	if _, _, err := h.Append(ctx, message("general", "in the room", "r1"), t0.Add(time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	dm := chat.Message{Type: chat.TypeDirect, ID: chat.NewID(), Room: stream, Conversation: conversation, From: "alice", FromID: a,
		To: "bob", ToID: b, Text: "psst", SentAt: chat.FormatTime(t0), ClientMsgID: "k-dm"}
	first, isNew, err := h.Append(ctx, dm, t0.Add(time.Hour), t0)
	if err != nil || !isNew || first.Seq != 1 || first.Epoch == "" {
		t.Fatalf("Append = %+v, %v, %v; want seq 1 of the conversation", first, isNew, err)
	}
	again := dm
	again.ID = chat.NewID()
	got, isNew, err := h.Append(ctx, again, t0.Add(time.Hour), t0)
	if err != nil || isNew || got.ID != dm.ID {
		t.Errorf("Append again = %+v, %v, %v; want the first one back", got, isNew, err)
	}
	msgs, _, err := h.Read(ctx, stream, chat.Range{After: 0, Limit: 10}, t0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Read = %+v, %v; want the one message", msgs, err)
	}
	if m := msgs[0]; m.Type != chat.TypeDirect || m.FromID != a || m.ToID != b || m.To != "bob" || m.Conversation != conversation || m.Text != "psst" {
		t.Errorf("read back %+v", m)
	}
	if found, ok, err := h.Find(ctx, stream, "k-dm", t0); err != nil || !ok || found.ID != dm.ID {
		t.Errorf("Find = %+v, %v, %v", found, ok, err)
	}
	room, _, _ := h.Read(ctx, "general", chat.Range{After: 0, Limit: 10}, t0)
	if len(room) != 1 || room[0].Text != "in the room" || room[0].Conversation != "" {
		t.Errorf("the room's history = %+v, want its own message alone", room)
	}
}

// A resend found by Find takes no seq: the next message follows its
// original without a gap. Find sees an expired message as gone.
func TestFindBeforeSeq(t *testing.T) {
	t.Parallel()
	h, _ := newHistory(t)
	ctx := testContext(t)
	first, _, err := h.Append(ctx, message("general", "one", "c1"), t0.Add(time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	found, ok, err := h.Find(ctx, "general", "c1", t0)
	if err != nil || !ok || found.ID != first.ID || found.Seq != first.Seq || found.Text != "one" {
		t.Fatalf("Find(c1) = %+v, %v, %v; want the stored message", found, ok, err)
	}
	if _, ok, err := h.Find(ctx, "general", "c2", t0); err != nil || ok {
		t.Fatalf("Find(c2) = %v, %v; want not found", ok, err)
	}
	if _, ok, err := h.Find(ctx, "other", "c1", t0); err != nil || ok {
		t.Fatalf("Find(c1) in another room = %v, %v; want not found", ok, err)
	}
	if _, ok, err := h.Find(ctx, "general", "c1", t0.Add(2*time.Hour)); err != nil || ok {
		t.Fatalf("Find(c1) after it expired = %v, %v; want not found", ok, err)
	}
	next, _, err := h.Append(ctx, message("general", "two", "c2"), t0.Add(time.Hour), t0)
	if err != nil || next.Seq != first.Seq+1 {
		t.Fatalf("next seq = %d, %v; want %d (no gap)", next.Seq, err, first.Seq+1)
	}

}

// The room's epoch is made with its counter, carried by every message
// stored and read, and is another one in a new table.
func TestHistoryEpochDynamo(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	epochs := func(h *dynamo.History) []string {
		var out []string
		for i := range 2 {
			m, _, err := h.Append(ctx, message("general", fmt.Sprint(i), ""), t0.Add(time.Hour), t0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m.Epoch)
		}
		msgs, _, err := h.Read(ctx, "general", chat.Range{Limit: 10}, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			out = append(out, m.Epoch)
		}
		return out
	}
	h1, _ := newHistory(t)
	first := epochs(h1)
	for _, e := range first {
		if e == "" || e != first[0] {
			t.Fatalf("epochs %q, want one, on every message", first)
		}
	}
	h2, _ := newHistory(t) // a replaced table
	if second := epochs(h2); second[0] == first[0] {
		t.Errorf("a new table kept the epoch %q", first[0])
	}
}
