package chat_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/serverless-chat/chat/internal/chat"
)

func TestUnreadCounts(t *testing.T) {
	p := newPeopleService()
	ctx := context.Background()
	// Three messages and an edit in "other"; ann follows "general".
	if _, err := p.ConnectAnonymous(ctx, "bob", "Bob", "other", "", otherSecret); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := p.Send(ctx, "bob", []byte(fmt.Sprintf(`{"action":"chat message","text":"m%d","clientMsgId":"c%d"}`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Edit(ctx, "bob", []byte(`{"action":"edit","target":1,"text":"m0!","clientMsgId":"e1"}`)); err != nil {
		t.Fatal(err)
	}
	p.join(t, "ann", "Ann", annSecret)
	p.sender.frames = map[string][][]byte{}
	if err := p.Unread(ctx, "ann", []byte(`{"action":"unread","rooms":{"other":1,"empty":0}}`)); err != nil {
		t.Fatal(err)
	}
	var got chat.UnreadFrame
	p.sender.frame(t, "ann", &got)
	if got.Rooms["other"] != (chat.RoomUnread{Count: 2}) || got.Rooms["empty"] != (chat.RoomUnread{}) {
		t.Errorf("unread = %+v, want 2 in other (the edit not counted), 0 in empty", got)
	}
	for _, bad := range []string{`{"action":"unread"}`, `{"action":"unread","rooms":{"BAD ROOM":1}}`, `{"action":"unread","rooms":{"a":-1}}`} {
		if err := p.Unread(ctx, "ann", []byte(bad)); codeOf(err) != chat.CodeInvalidField {
			t.Errorf("%s = %v, want invalid_field", bad, err)
		}
	}
}
