package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// The race that cut joiners off: bob's $connect has stored him, but API
// Gateway still answers 410 for him because his handshake has not
// completed. A broadcast then must not delete him, and once open he gets
// the message he missed from history.
func TestJoinerInHandshakeSurvives(t *testing.T) {
	store := room("alice", "stale")
	sender := newSender()
	svc := newService(store, sender)
	// bob's $connect runs: he is stored now...
	if _, err := svc.Connect(context.Background(), "bob", "bob", "general"); err != nil {
		t.Fatal(err)
	}
	// ...and is not postable yet, like the stale member, who left a minute ago.
	sender.errs["bob"] = chat.ErrGone
	sender.errs["stale"] = chat.ErrGone

	svc.Now = func() time.Time { return now.Add(chat.ConnectGrace - time.Millisecond) }
	d, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"welcome"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Opening != 1 || d.Gone != 1 {
		t.Errorf("Send() = %+v, want bob opening and the stale member gone", d)
	}
	if got, want := store.ids(), []string{"alice", "elsewhere", "bob"}; !slices.Equal(got, want) {
		t.Fatalf("store keeps %q, want %q: the joiner was cut off", got, want)
	}

	// The handshake completes; bob's page asks for what it missed.
	delete(sender.errs, "bob")
	if err := svc.SendHistory(context.Background(), "bob", []byte(`{"action":"history","since":0}`)); err != nil {
		t.Fatal(err)
	}
	var h chat.HistoryFrame
	sender.frame(t, "bob", &h)
	if len(h.Messages) != 1 || h.Messages[0].Text != "welcome" {
		t.Errorf("bob's history = %+v, want the welcome message", h)
	}

	// Past the grace period, a 410 is proof: bob is deleted.
	sender.errs["bob"] = chat.ErrGone
	svc.Now = func() time.Time { return now.Add(chat.ConnectGrace + time.Millisecond) }
	if d, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"bye"}`)); err != nil || d.Gone != 1 {
		t.Errorf("Send() = %+v, %v; want bob gone", d, err)
	}
	if slices.Contains(store.ids(), "bob") {
		t.Errorf("bob is kept %v after connecting although gone", chat.ConnectGrace)
	}
}

func TestSendAcksAndDeduplicates(t *testing.T) {
	store := room("alice", "alice2", "bob")
	sender := newSender()
	svc := newService(store, sender)
	ids := []string{"id-1", "id-2", "id-3", "id-4"}
	svc.NewID = func() string { id := ids[0]; ids = ids[1:]; return id }

	send := func(from, body string) chat.Delivery {
		t.Helper()
		d, err := svc.Send(context.Background(), from, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := send("alice", `{"action":"chat message","text":"one","clientMsgId":"k-1"}`)
	// The same message again, from another connection of the room (a
	// reconnected tab): acked the same, stored and broadcast once.
	again := send("alice2", `{"action":"chat message","text":"one","clientMsgId":"k-1"}`)
	second := send("alice", `{"action":"chat message","text":"two","clientMsgId":"k-2"}`)

	if first.Seq != 1 || first.Duplicate || first.Delivered != 2 {
		t.Errorf("first send = %+v, want seq 1 delivered to 2", first)
	}
	if !again.Duplicate || again.Seq != 1 || again.Recipients != 0 {
		t.Errorf("duplicate send = %+v, want a duplicate of seq 1, not broadcast", again)
	}
	if second.Seq != 2 {
		t.Errorf("second send = %+v, want seq 2", second)
	}
	acks := func(id string) []chat.Ack {
		var out []chat.Ack
		for _, f := range sender.frames[id] {
			var a chat.Ack
			if json.Unmarshal(f, &a) == nil && a.Type == chat.TypeAck {
				out = append(out, a)
			}
		}
		return out
	}
	got := acks("alice")
	epoch := ""
	if len(got) > 0 {
		epoch = got[0].Epoch // the room's, made with its history
	}
	wantFirst := chat.Ack{Type: chat.TypeAck, ClientMsgID: "k-1", ID: "id-1", Seq: 1, Epoch: epoch, SentAt: "2026-11-24T15:00:00.123Z"}
	if len(got) != 2 || epoch == "" || got[0] != wantFirst || got[1].Seq != 2 || got[1].Epoch != epoch {
		t.Errorf("alice's acks = %+v, want %+v then seq 2", got, wantFirst)
	}
	if got := acks("alice2"); len(got) != 1 || got[0] != wantFirst {
		t.Errorf("the resender's ack = %+v, want the first ack again %+v", got, wantFirst)
	}
	var texts []string
	for _, f := range sender.frames["bob"] {
		var m chat.Message
		_ = json.Unmarshal(f, &m)
		texts = append(texts, fmt.Sprintf("%d:%s", m.Seq, m.Text))
	}
	if want := []string{"1:one", "2:two"}; !slices.Equal(texts, want) {
		t.Errorf("bob received %q, want %q", texts, want)
	}
	// A message without clientMsgId gets no ack.
	sender = newSender()
	svc.Sender = sender
	send("alice", `{"action":"chat message","text":"three"}`)
	if got := acks("alice"); len(got) != 0 {
		t.Errorf("acks without clientMsgId = %+v, want none", got)
	}
}

func TestSendHistory(t *testing.T) {
	store := room("alice", "bob")
	svc := newService(store, newSender())
	for i := 1; i <= 120; i++ {
		body := fmt.Sprintf(`{"action":"chat message","text":"m%d"}`, i)
		if _, err := svc.Send(context.Background(), "alice", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		body      string
		wantFirst int64
		wantLast  int64
		wantNext  *chat.HistoryCursor
	}{
		{name: "latest", body: `{"action":"history"}`, wantFirst: 71, wantLast: 120, wantNext: &chat.HistoryCursor{Before: 71}},
		{name: "since", body: `{"action":"history","since":100}`, wantFirst: 101, wantLast: 120},
		{name: "since all", body: `{"action":"history","since":0}`, wantFirst: 1, wantLast: 120},
		{name: "before", body: `{"action":"history","before":71,"limit":20}`, wantFirst: 51, wantLast: 70, wantNext: &chat.HistoryCursor{Before: 51}},
		{name: "before the start", body: `{"action":"history","before":11,"limit":20}`, wantFirst: 1, wantLast: 10},
		{name: "nothing new", body: `{"action":"history","since":120}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := newSender()
			svc.Sender = sender
			if err := svc.SendHistory(context.Background(), "bob", []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			var h chat.HistoryFrame
			sender.frame(t, "bob", &h)
			if h.Type != chat.TypeHistory || h.Room != "general" || h.More || h.Messages == nil {
				t.Errorf("frame = %+v, want one history frame of general with a messages array", h)
			}
			var first, last int64
			want := 0
			if len(h.Messages) > 0 {
				first, last = h.Messages[0].Seq, h.Messages[len(h.Messages)-1].Seq
			}
			if tt.wantLast > 0 {
				want = int(tt.wantLast - tt.wantFirst + 1)
			}
			if first != tt.wantFirst || last != tt.wantLast || len(h.Messages) != want {
				t.Errorf("messages %d..%d (%d), want %d..%d in order", first, last, len(h.Messages), tt.wantFirst, tt.wantLast)
			}
			if fmt.Sprint(h.Next) != fmt.Sprint(tt.wantNext) {
				t.Errorf("next = %+v, want %+v", h.Next, tt.wantNext)
			}
		})
	}
}

// A history reply is split into frames under the size bound; each but the
// last says more follow.
func TestHistoryFramesBySize(t *testing.T) {
	var msgs []chat.Message
	for i := range 300 {
		// 2,000 characters of 4 bytes: 8 KB a message.
		msgs = append(msgs, chat.Message{Type: chat.TypeChatMessage, ID: chat.NewID(), Room: "general", Seq: int64(i + 1),
			From: strings.Repeat("n", chat.MaxNameLength), Text: strings.Repeat("😀", chat.MaxTextLength), SentAt: "2026-11-24T15:00:00.123Z"})
	}
	next := &chat.HistoryCursor{Since: 300}
	frames := chat.HistoryFrames("general", "", "", msgs, next)
	if len(frames) < 300*8/120 {
		t.Fatalf("%d frames, want at least %d", len(frames), 300*8/120)
	}
	var seqs []int64
	for i, f := range frames {
		if len(f) > chat.MaxHistoryFrame {
			t.Errorf("frame %d is %d bytes, over %d", i, len(f), chat.MaxHistoryFrame)
		}
		var h chat.HistoryFrame
		if err := json.Unmarshal(f, &h); err != nil {
			t.Fatal(err)
		}
		last := i == len(frames)-1
		if h.More == last || (h.Next != nil) != last {
			t.Errorf("frame %d: more %v, next %v; want more on all but the last, next on the last", i, h.More, h.Next)
		}
		for _, m := range h.Messages {
			seqs = append(seqs, m.Seq)
		}
	}
	if len(seqs) != 300 || !slices.IsSorted(seqs) {
		t.Errorf("frames hold %d messages, sorted %v; want all 300 in order", len(seqs), slices.IsSorted(seqs))
	}
	// Frames are JSON for scripts: "<" is not escaped to six bytes.
	if f := chat.HistoryFrames("general", "", "", []chat.Message{{Text: "<b>"}}, nil)[0]; !strings.Contains(string(f), "<b>") {
		t.Errorf("frame %s escapes HTML characters", f)
	}
}

func TestSendHistoryErrors(t *testing.T) {
	store := room("alice")
	sender := newSender()
	history := newHistory()
	history.readErr = fmt.Errorf("table down")
	svc := newService(store, sender)
	svc.History = history
	err := svc.SendHistory(context.Background(), "alice", []byte(`{"action":"history"}`))
	var f chat.ErrorFrame
	sender.frame(t, "alice", &f)
	if err == nil || f.Code != chat.CodeInternal {
		t.Errorf("SendHistory() = %v, frame %+v; want an error and the internal frame", err, f)
	}
	for body, code := range map[string]string{
		`{"action":"history","since":-1}`:           chat.CodeInvalidField,
		`{"action":"history","since":1,"before":5}`: chat.CodeInvalidField,
		`{"action":"history","limit":0}`:            chat.CodeInvalidField,
		`{"action":"history","limit":201}`:          chat.CodeInvalidField,
		`{"action":"history","since":"1"}`:          chat.CodeInvalidField,
	} {
		sender := newSender()
		svc := newService(room("alice"), sender)
		if err := svc.SendHistory(context.Background(), "alice", []byte(body)); codeOf(err) != code {
			t.Errorf("%s: SendHistory() = %v, want code %q", body, err, code)
		}
	}
	sender = newSender()
	svc = newService(room("alice"), sender)
	if err := svc.SendHistory(context.Background(), "nobody", []byte(`{"action":"history"}`)); codeOf(err) != chat.CodeNotConnected {
		t.Errorf("SendHistory() from an unknown connection = %v, want code %q", err, chat.CodeNotConnected)
	}
}
