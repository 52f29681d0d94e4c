package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/serverless-chat/chat/internal/chat"
)

// framesOf decodes the frames a connection received, of one type.
func framesOf[T any](t *testing.T, s *fakeSender, id, typ string) []T {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []T
	for _, f := range s.frames[id] {
		var head struct{ Type string }
		if err := json.Unmarshal(f, &head); err != nil {
			t.Fatalf("frame to %s = %q: %v", id, f, err)
		}
		if head.Type != typ {
			continue
		}
		var v T
		if err := json.Unmarshal(f, &v); err != nil {
			t.Fatalf("frame to %s = %q: %v", id, f, err)
		}
		out = append(out, v)
	}
	return out
}

func withoutUser(f chat.PresenceFrame) chat.PresenceFrame {
	f.UserID = ""
	return f
}

func TestJoinAndLeaveNotices(t *testing.T) {
	store := room("bob", "carol")
	sender := newSender()
	svc := newService(store, sender)
	if _, err := svc.Connect(context.Background(), "alice", "alice", "general"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bob", "carol"} {
		got := framesOf[chat.PresenceFrame](t, sender, id, chat.TypeJoined)
		if want := (chat.PresenceFrame{Type: chat.TypeJoined, Name: "alice", Count: 3}); len(got) != 1 || !chat.IsUserID(got[0].UserID) || withoutUser(got[0]) != want {
			t.Errorf("%s got %+v, want %+v", id, got, want)
		}
	}
	if got := sender.received(); slices.Contains(got, "alice") || slices.Contains(got, "elsewhere") {
		t.Errorf("frames went to %q: not to the joiner, not to another room", got)
	}

	sender = newSender()
	svc.Sender = sender
	if err := svc.Disconnect(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "carol"} {
		got := framesOf[chat.PresenceFrame](t, sender, id, chat.TypeLeft)
		if want := (chat.PresenceFrame{Type: chat.TypeLeft, UserID: uid("bob"), Name: "name-bob", Count: 2}); len(got) != 1 || got[0] != want {
			t.Errorf("%s got %+v, want %+v", id, got, want)
		}
	}
	// A second tab of carol's: when one of two leaves, carol has not left.
	store.conns = append(store.conns, chat.Connection{ID: "carol2", Room: "general", Name: "name-carol", UserID: uid("carol"),
		ConnectedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)})
	sender = newSender()
	svc.Sender = sender
	if err := svc.Disconnect(context.Background(), "carol"); err != nil {
		t.Fatal(err)
	}
	if got := sender.received(); len(got) != 0 {
		t.Errorf("closing one of carol's two tabs sent frames to %q, want none", got)
	}

	// A repeated $disconnect (best effort, retried) announces nothing.
	sender = newSender()
	svc.Sender = sender
	if err := svc.Disconnect(context.Background(), "carol"); err != nil || len(sender.received()) != 0 {
		t.Errorf("second Disconnect() = %v, frames to %q; want none", err, sender.received())
	}
}

// A member found gone by a post leaves as by $disconnect: the rest are told
// and it no longer counts.
func TestGoneMemberLeaves(t *testing.T) {
	store := room("alice", "bob", "carol")
	sender := newSender()
	sender.errs["carol"] = chat.ErrGone
	svc := newService(store, sender)
	if _, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "bob"} {
		got := framesOf[chat.PresenceFrame](t, sender, id, chat.TypeLeft)
		if want := (chat.PresenceFrame{Type: chat.TypeLeft, UserID: uid("carol"), Name: "name-carol", Count: 2}); len(got) != 1 || got[0] != want {
			t.Errorf("%s got %+v, want %+v", id, got, want)
		}
	}
	sender = newSender()
	svc.Sender = sender
	if err := svc.Who(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	var who chat.MembersFrame
	sender.frame(t, "alice", &who)
	if who.Count != 2 || len(who.Members) != 2 {
		t.Errorf("who = %+v, want alice and bob, count 2", who)
	}
}

func TestWho(t *testing.T) {
	store := room("a1", "b1")
	// Two tabs of one person, and names that sort by case.
	for _, c := range []chat.Connection{{ID: "z1", Name: "zed", UserID: uid("z")}, {ID: "z2", Name: "zed", UserID: uid("z")}, {ID: "B", Name: "Bea", UserID: uid("B")}} {
		c.Room, c.ConnectedAt, c.ExpiresAt = "general", now, now.Add(time.Hour)
		store.conns = append(store.conns, c)
	}
	sender := newSender()
	if err := newService(store, sender).Who(context.Background(), "a1"); err != nil {
		t.Fatal(err)
	}
	var got chat.MembersFrame
	sender.frame(t, "a1", &got)
	names := []string{}
	for _, m := range got.Members {
		names = append(names, m.Name)
	}
	if want := []string{"Bea", "name-a1", "name-b1", "zed"}; got.Type != chat.TypeMembers || got.Room != "general" ||
		!slices.Equal(names, want) || got.Count != 4 {
		t.Errorf("who = %+v (names %q), want names %q once each and count 4 (people)", got, names, want)
	}
	if got.You != (chat.MemberName{UserID: uid("a1"), Name: "name-a1"}) || got.Members[3].Connections != 2 || got.Members[3].UserID != uid("z") {
		t.Errorf("who = %+v, want you = a1, and zed with two connections", got)
	}
	if r := sender.received(); !slices.Equal(r, []string{"a1"}) {
		t.Errorf("frames went to %q, want the asker alone", r)
	}
}

// Above the presence limit joins, leaves and typing are not announced;
// who and its count still work.
func TestPresenceLimit(t *testing.T) {
	store := room("a", "b", "c")
	sender := newSender()
	svc := newService(store, sender)
	svc.PresenceLimit = 3
	if _, err := svc.Connect(context.Background(), "d", "dee", "general"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Typing(context.Background(), "a", []byte(`{"action":"typing"}`)); err != nil {
		t.Fatal(err)
	}
	if r := sender.received(); len(r) != 0 {
		t.Errorf("frames went to %q in a room of 4 with a limit of 3, want none", r)
	}
	if err := svc.Who(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	var who chat.MembersFrame
	sender.frame(t, "a", &who)
	if who.Count != 4 {
		t.Errorf("who count = %d, want 4", who.Count)
	}
}

func TestTyping(t *testing.T) {
	store := room("alice", "bob", "carol")
	sender := newSender()
	svc := newService(store, sender)
	clock := now
	svc.Now = func() time.Time { return clock }
	typing := func(at time.Duration) {
		t.Helper()
		clock = now.Add(at)
		if err := svc.Typing(context.Background(), "alice", []byte(`{"action":"typing"}`)); err != nil {
			t.Fatal(err)
		}
	}
	typing(0)
	typing(time.Second)                       // too soon: dropped
	typing(chat.TypingInterval)               // passed on
	typing(chat.TypingInterval + time.Second) // dropped
	for _, id := range []string{"bob", "carol"} {
		got := framesOf[chat.TypingFrame](t, sender, id, chat.TypeTyping)
		if len(got) != 2 || got[0] != (chat.TypingFrame{Type: chat.TypeTyping, From: "name-alice", FromID: uid("alice")}) {
			t.Errorf("%s got %+v, want 2 typing notices from alice", id, got)
		}
	}
	if n := len(sender.frames["alice"]); n != 0 {
		t.Errorf("alice got %d frames, want none (no error for a dropped notice)", n)
	}
}

func TestDirectMessage(t *testing.T) {
	store := room("alice", "carol")
	// bob has two tabs; the same person is in another room too; and a
	// second alice tab gets a copy.
	for _, c := range []chat.Connection{{ID: "bob1", Room: "general"}, {ID: "bob2", Room: "general"}, {ID: "bob3", Room: "other"}} {
		c.Name, c.UserID, c.ConnectedAt, c.ExpiresAt = "bob", uid("bob"), now.Add(-time.Minute), now.Add(time.Hour)
		store.conns = append(store.conns, c)
	}
	store.conns = append(store.conns, chat.Connection{ID: "alice2", Room: "general", Name: "name-alice", UserID: uid("alice"),
		ConnectedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)})
	sender := newSender()
	svc := newService(store, sender)
	body := `{"action":"direct message","toId":"` + uid("bob") + `","text":"psst","clientMsgId":"dm-1"}`
	d, err := svc.Direct(context.Background(), "alice", []byte(body))
	if err != nil || d.Delivered != 3 {
		t.Fatalf("Direct() = %+v, %v; want delivered to bob's two connections and alice's other tab", d, err)
	}
	if got := sender.received(); !slices.Equal(got, []string{"alice", "alice2", "bob1", "bob2"}) {
		t.Errorf("frames went to %q, want alice (ack), her other tab and bob's two connections", got)
	}
	var dm chat.Message
	if got := framesOf[chat.Message](t, sender, "bob1", chat.TypeDirect); len(got) == 1 {
		dm = got[0]
	}
	conversation := chat.ConversationID(uid("alice"), uid("bob"))
	if dm.From != "name-alice" || dm.FromID != uid("alice") || dm.To != "bob" || dm.ToID != uid("bob") ||
		dm.Text != "psst" || dm.ID == "" || dm.SentAt == "" || dm.Conversation != conversation || dm.Seq != 1 || dm.Room != "general" {
		t.Errorf("bob got %+v", dm)
	}
	acks := framesOf[chat.Ack](t, sender, "alice", chat.TypeAck)
	if len(acks) != 1 || acks[0].ID != dm.ID || acks[0].Seq != 1 || acks[0].Conversation != conversation || acks[0].ClientMsgID != "dm-1" {
		t.Errorf("alice's acks = %+v, want one for %s at seq 1 of the conversation", acks, dm.ID)
	}
	// A resend is acked again and not delivered again.
	d, err = svc.Direct(context.Background(), "alice", []byte(body))
	if err != nil || !d.Duplicate {
		t.Errorf("resend: Direct() = %+v, %v; want a duplicate", d, err)
	}
	if n := len(framesOf[chat.Message](t, sender, "bob1", chat.TypeDirect)); n != 1 {
		t.Errorf("bob1 got %d direct messages, want 1", n)
	}
	// Not in the room's history.
	if msgs, _, _ := svc.History.Read(context.Background(), "general", chat.Range{Limit: 10}, now); len(msgs) != 0 {
		t.Errorf("history holds %+v, want no direct message", msgs)
	}
	// Both know of the conversation from "who".
	for _, id := range []string{"alice", "bob1"} {
		sender := newSender()
		svc.Sender = sender
		if err := svc.Who(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		var who chat.MembersFrame
		sender.frame(t, id, &who)
		if len(who.Conversations) != 1 || who.Conversations[0].ID != conversation {
			t.Errorf("%s's who lists conversations %+v, want %s", id, who.Conversations, conversation)
		}
	}

	for _, tt := range []struct{ body, code string }{
		{`{"action":"direct message","toId":"` + uid("dave") + `","text":"hi"}`, chat.CodeNoSuchMember},
		{`{"action":"direct message","toId":"` + uid("alice") + `","text":"me?"}`, chat.CodeNoSuchMember}, // herself
		{`{"action":"direct message","to":"bob","text":"hi"}`, chat.CodeInvalidField},                     // by name: no more
		{`{"action":"direct message","toId":"bob","text":"hi"}`, chat.CodeInvalidField},
		{`{"action":"direct message","toId":"` + uid("bob") + `","text":" "}`, chat.CodeEmptyText},
		{`{"action":"direct message","toId":"` + uid("bob") + `","text":"a\u0000"}`, chat.CodeControlChar},
	} {
		sender := newSender()
		svc.Sender = sender
		if _, err := svc.Direct(context.Background(), "alice", []byte(tt.body)); codeOf(err) != tt.code {
			t.Errorf("%s: Direct() = %v, want code %q", tt.body, err, tt.code)
		}
		if got := sender.received(); !slices.Equal(got, []string{"alice"}) {
			t.Errorf("%s: frames went to %q, want the sender alone", tt.body, got)
		}
	}
}

func TestRename(t *testing.T) {
	store := room("alice", "bob")
	sender := newSender()
	svc := newService(store, sender)
	if err := svc.Rename(context.Background(), "alice", []byte(`{"action":"rename","name":"Alicia 🌷"}`)); err != nil {
		t.Fatal(err)
	}
	want := chat.RenamedFrame{Type: chat.TypeRenamed, UserID: uid("alice"), From: "name-alice", Name: "Alicia 🌷"}
	for _, id := range []string{"alice", "bob"} {
		if got := framesOf[chat.RenamedFrame](t, sender, id, chat.TypeRenamed); len(got) != 1 || got[0] != want {
			t.Errorf("%s got %+v, want %+v", id, got, want)
		}
	}
	sender = newSender()
	svc.Sender = sender
	if _, err := svc.Send(context.Background(), "alice", []byte(`{"action":"chat message","text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	var m chat.Message
	sender.frame(t, "bob", &m)
	if m.From != "Alicia 🌷" {
		t.Errorf("message from %q after the rename, want the new name", m.From)
	}
	for body, code := range map[string]string{
		`{"action":"rename"}`:                                chat.CodeInvalidName,
		`{"action":"rename","name":""}`:                      chat.CodeInvalidName,
		`{"action":"rename","name":"  "}`:                    chat.CodeInvalidName,
		`{"action":"rename","name":7}`:                       chat.CodeInvalidField,
		fmt.Sprintf(`{"action":"rename","name":"%033d"}`, 0): chat.CodeInvalidName,
		`{"action":"rename","name":"a\u200bb"}`:              chat.CodeInvalidName,
	} {
		sender := newSender()
		svc.Sender = sender
		if err := svc.Rename(context.Background(), "alice", []byte(body)); codeOf(err) != code {
			t.Errorf("%s: Rename() = %v, want code %q", body, err, code)
		}
	}
	if err := svc.Rename(context.Background(), "nobody", []byte(`{"action":"rename","name":"x"}`)); codeOf(err) != chat.CodeNotConnected {
		t.Errorf("Rename() of an unknown connection = %v, want %q", err, chat.CodeNotConnected)
	}
}
