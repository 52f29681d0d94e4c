package chat_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/serverless-chat/chat/internal/chat"
)

// say sends a room message from id with clientMsgId cid and returns its seq.
func (p *peopleService) say(t *testing.T, id, text, cid string) int64 {
	t.Helper()
	d, err := p.Send(context.Background(), id, []byte(fmt.Sprintf(`{"action":"chat message","text":%q,"clientMsgId":%q}`, text, cid)))
	if err != nil {
		t.Fatal(err)
	}
	return d.Seq
}

// latest returns the room's history as a reader sees it now.
func (p *peopleService) latest(t *testing.T) []chat.Message {
	t.Helper()
	msgs, _, err := p.History.Read(context.Background(), "general", chat.Range{Latest: true, Limit: 100}, now)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func (p *peopleService) at(t *testing.T, seq int64) chat.Message {
	t.Helper()
	m, ok, err := p.History.At(context.Background(), "general", seq, now)
	if err != nil || !ok {
		t.Fatalf("At(%d) = %v, %v", seq, ok, err)
	}
	return m
}

func TestEditAndDeleteOwnMessages(t *testing.T) {
	p := newPeopleService()
	p.join(t, "ann", "Ann", annSecret)
	p.join(t, "carol", "Carol", carolSecret)
	ctx := context.Background()
	seq := p.say(t, "ann", "helo", "m1")

	// Someone else may neither edit nor delete it.
	for _, try := range []struct {
		frame string
		do    func(context.Context, string, []byte) error
	}{
		{fmt.Sprintf(`{"action":"edit","target":%d,"text":"mine now","clientMsgId":"x1"}`, seq), p.Edit},
		{fmt.Sprintf(`{"action":"delete","target":%d,"clientMsgId":"x2"}`, seq), p.DeleteMessage},
	} {
		if err := try.do(ctx, "carol", []byte(try.frame)); codeOf(err) != chat.CodeNotAuthor {
			t.Errorf("%s by another = %v, want not_author", try.frame, err)
		}
	}
	// The author's edit is an event of the stream, broadcast, and applied.
	p.sender.frames = map[string][][]byte{}
	edit := fmt.Sprintf(`{"action":"edit","target":%d,"text":"hello","clientMsgId":"e1"}`, seq)
	if err := p.Edit(ctx, "ann", []byte(edit)); err != nil {
		t.Fatal(err)
	}
	var ev chat.Message
	p.sender.frame(t, "carol", &ev)
	if ev.Type != chat.TypeEdit || ev.Target != seq || ev.Text != "hello" || ev.Seq != seq+1 || ev.EditedAt == "" {
		t.Errorf("carol got %+v, want the edit event at seq %d", ev, seq+1)
	}
	if m := p.at(t, seq); m.Text != "hello" || m.EditedAt == "" {
		t.Errorf("stored message = %+v, want edited", m)
	}
	// Resent after a reconnect: applied once, acked again, no new seq.
	p.sender.frames = map[string][][]byte{}
	if err := p.Edit(ctx, "ann", []byte(edit[:len(edit)-1]+`,"resend":true}`)); err != nil {
		t.Fatal(err)
	}
	var ack chat.Ack
	p.sender.frame(t, "ann", &ack)
	if ack.Type != chat.TypeAck || ack.Seq != seq+1 {
		t.Errorf("resend acked %+v, want the first event's seq", ack)
	}
	if got := p.sender.received(); slices.Contains(got, "carol") {
		t.Errorf("a resent edit was broadcast again")
	}
	// A later edit, then an older one resent: the older never wins.
	if err := p.Edit(ctx, "ann", []byte(fmt.Sprintf(`{"action":"edit","target":%d,"text":"hello!","clientMsgId":"e2"}`, seq))); err != nil {
		t.Fatal(err)
	}
	if err := p.Edit(ctx, "ann", []byte(edit)); err != nil {
		t.Fatal(err)
	}
	if m := p.at(t, seq); m.Text != "hello!" {
		t.Errorf("after an old edit resent, text = %q, want the newer", m.Text)
	}
	// Deletion removes the text from storage, the edit events' too.
	if err := p.DeleteMessage(ctx, "ann", []byte(fmt.Sprintf(`{"action":"delete","target":%d,"clientMsgId":"d1"}`, seq))); err != nil {
		t.Fatal(err)
	}
	for _, m := range p.latest(t) {
		if m.Text != "" && (m.Seq == seq || m.Target == seq) {
			t.Errorf("after the deletion, %s at seq %d still holds %q", m.Type, m.Seq, m.Text)
		}
	}
	if m := p.at(t, seq); !m.Deleted || m.FromID == "" || m.ID == "" {
		t.Errorf("deleted message = %+v, want deleted with its author and id", m)
	}
	err := p.Edit(ctx, "ann", []byte(fmt.Sprintf(`{"action":"edit","target":%d,"text":"back","clientMsgId":"e3"}`, seq)))
	if codeOf(err) != chat.CodeDeleted {
		t.Errorf("edit of a deleted message = %v, want deleted", err)
	}
	// A target that is an event, or past the end, is no message.
	for _, target := range []int64{seq + 1, 999} {
		err := p.Edit(ctx, "ann", []byte(fmt.Sprintf(`{"action":"edit","target":%d,"text":"x"}`, target)))
		if codeOf(err) != chat.CodeNoSuchMessage {
			t.Errorf("edit of seq %d = %v, want no_such_message", target, err)
		}
	}
}

func TestReactions(t *testing.T) {
	p := newPeopleService()
	ann := p.join(t, "ann", "Ann", annSecret)
	carol := p.join(t, "carol", "Carol", carolSecret)
	ctx := context.Background()
	seq := p.say(t, "ann", "lunch?", "m1")
	react := func(id, emoji, op, cid string) error {
		return p.React(ctx, id, []byte(fmt.Sprintf(`{"action":"react","target":%d,"emoji":%q,"op":%q,"clientMsgId":%q}`, seq, emoji, op, cid)))
	}
	// Toggled twice (add, add again, remove): one person counts once.
	for _, r := range []struct{ id, op, cid string }{{"ann", "add", "r1"}, {"ann", "add", "r2"}, {"carol", "add", "r3"}} {
		if err := react(r.id, "👍", r.op, r.cid); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.at(t, seq).Reactions["👍"]; !slices.Equal(got, []string{ann.UserID, carol.UserID}) {
		t.Errorf("👍 by %v, want ann and carol once each", got)
	}
	if err := react("ann", "👍", "remove", "r4"); err != nil {
		t.Fatal(err)
	}
	if err := react("ann", "👍", "remove", "r5"); err != nil {
		t.Fatal(err)
	}
	if got := p.at(t, seq).Reactions["👍"]; !slices.Equal(got, []string{carol.UserID}) {
		t.Errorf("after ann removed hers, 👍 by %v, want carol", got)
	}
	// Emoji, and only emoji: flags, keycaps, skin tones and ZWJ sequences.
	for _, e := range []string{"🇫🇷", "1️⃣", "👍🏽", "👩‍👩‍👧", "❤️"} {
		if !chat.IsEmoji(e) {
			t.Errorf("IsEmoji(%q) = false", e)
		}
	}
	for _, e := range []string{"a", "1", "👍👍", ":)", "", "<b>", "👍x"} {
		if err := react("carol", e, "add", "bad"); codeOf(err) != chat.CodeInvalidEmoji {
			t.Errorf("reaction %q = %v, want invalid_emoji", e, err)
		}
	}
	// At most MaxReactionKinds distinct emoji on a message.
	pictographs := []rune("😀😁😂😃😄😅😆😇😈😉😊😋😌😍😎😏😐😑😒😓😔")
	for i, r := range pictographs {
		err := react("carol", string(r), "add", fmt.Sprint("k", i))
		if i < chat.MaxReactionKinds-1 && err != nil {
			t.Fatalf("reaction %d: %v", i, err)
		}
		if i == chat.MaxReactionKinds && codeOf(err) != chat.CodeTooManyReactions {
			t.Errorf("reaction %d = %v, want too_many_reactions", i, err)
		}
	}
	if n := len(p.at(t, seq).Reactions); n != chat.MaxReactionKinds {
		t.Errorf("%d distinct emoji kept, want %d", n, chat.MaxReactionKinds)
	}
}

// A person blocks another: private messages from them are refused with
// the code for someone not in the room, and the block is listed by who.
func TestBlock(t *testing.T) {
	p := newPeopleService()
	ann := p.join(t, "ann", "Ann", annSecret)
	carol := p.join(t, "carol", "Carol", carolSecret)
	ctx := context.Background()
	if err := p.Block(ctx, "ann", []byte(`{"action":"block","userId":"`+carol.UserID+`","blocked":true}`)); err != nil {
		t.Fatal(err)
	}
	_, err := p.Direct(ctx, "carol", []byte(`{"action":"direct message","toId":"`+ann.UserID+`","text":"hey"}`))
	if codeOf(err) != chat.CodeNoSuchMember {
		t.Errorf("a private message from a blocked person = %v, want no_such_member", err)
	}
	// Ann may still write to Carol, and the block survives a reconnect.
	if err := p.Disconnect(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	p.join(t, "ann2", "Ann", annSecret)
	p.sender.frames = map[string][][]byte{}
	if err := p.Who(ctx, "ann2"); err != nil {
		t.Fatal(err)
	}
	var who chat.MembersFrame
	p.sender.frame(t, "ann2", &who)
	if !slices.Equal(who.Blocked, []string{carol.UserID}) {
		t.Errorf("who lists blocked %v, want carol", who.Blocked)
	}
	if err := p.Block(ctx, "ann2", []byte(`{"action":"block","userId":"`+carol.UserID+`","blocked":false}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Direct(ctx, "carol", []byte(`{"action":"direct message","toId":"`+ann.UserID+`","text":"hey"}`)); err != nil {
		t.Errorf("after the unblock: %v", err)
	}
}
