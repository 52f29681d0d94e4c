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
	"github.com/serverless-chat/chat/internal/memstore"
)

// peopleService is a Service on the in-memory store, which keeps name
// claims; the leave grace runs when the test says (graceDue).
type peopleService struct {
	*chat.Service
	sender *fakeSender
	mu     sync.Mutex
	due    []func(context.Context)
}

func newPeopleService() *peopleService {
	store := memstore.New()
	p := &peopleService{sender: newSender()}
	p.Service = &chat.Service{Store: store, Names: store, Blocks: store, History: memstore.NewHistory(), Sender: p.sender,
		SendLimit: chat.RateLimit{Burst: -1}, ReadLimit: chat.RateLimit{Burst: -1},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
		Later: func(_ time.Duration, f func(context.Context)) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.due = append(p.due, f)
		}}
	return p
}

// graceDue runs the leave graces begun so far.
func (p *peopleService) graceDue() {
	p.mu.Lock()
	due := p.due
	p.due = nil
	p.mu.Unlock()
	for _, f := range due {
		f(context.Background())
	}
}

// join connects id as the person whose client holds secret.
func (p *peopleService) join(t *testing.T, id, name, secret string) chat.Connection {
	t.Helper()
	c, err := p.ConnectAnonymous(context.Background(), id, name, "general", "", secret)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	return c
}

const (
	annSecret   = "ann-secret-0123456789abcdef"
	otherSecret = "other-secret-0123456789abcdef"
	carolSecret = "carol-secret-0123456789abcdef"
)

func TestNamesAreUniqueAmongPeople(t *testing.T) {
	p := newPeopleService()
	ann := p.join(t, "ann1", "Ann", annSecret)
	tab := p.join(t, "ann2", "Someone else", annSecret)
	other := p.join(t, "other", "Ann", otherSecret)
	if ann.UserID != tab.UserID || tab.Name != "Ann" {
		t.Errorf("second tab = %+v, want the same user and name as %+v", tab, ann)
	}
	if other.UserID == ann.UserID || other.Name != "Ann (2)" {
		t.Errorf("another person asking for Ann got %q (user %s), want \"Ann (2)\" and another user", other.Name, other.UserID)
	}
	// In another case, and in another normalisation (e + combining acute
	// against the precomposed é), a name is still taken.
	p.join(t, "rene", "Ren\u00e9", carolSecret)
	for _, name := range []string{"ANN", "ann", "Rene\u0301", "RENÉ"} {
		err := p.Rename(context.Background(), "other", []byte(fmt.Sprintf(`{"action":"rename","name":%q}`, name)))
		if codeOf(err) != chat.CodeNameTaken {
			t.Errorf("rename to %q = %v, want name_taken", name, err)
		}
	}
	// A rename to a free name renames all of one person's tabs.
	if err := p.Rename(context.Background(), "ann1", []byte(`{"action":"rename","name":"Annie"}`)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ann1", "ann2"} {
		if c, _ := p.Store.Get(context.Background(), id); c.Name != "Annie" {
			t.Errorf("%s is called %q after the rename, want Annie", id, c.Name)
		}
	}
	// Ann's old name is free now.
	if err := p.Rename(context.Background(), "other", []byte(`{"action":"rename","name":"ann"}`)); err != nil {
		t.Errorf("rename to a name given up = %v", err)
	}
}

func TestConcurrentJoinsGetDistinctNames(t *testing.T) {
	p := newPeopleService()
	var wg sync.WaitGroup
	names := make([]string, 8)
	for i := range names {
		wg.Go(func() {
			c, err := p.ConnectAnonymous(context.Background(), fmt.Sprint("c", i), "Ann", "general", "", fmt.Sprintf("secret-of-person-number-%02d", i))
			if err != nil {
				t.Error(err)
				return
			}
			names[i] = chat.NameKey(c.Name)
		})
	}
	wg.Wait()
	slices.Sort(names)
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("names %q: want each distinct", names)
	}
}

func TestImpersonation(t *testing.T) {
	p := newPeopleService()
	ann := p.join(t, "ann", "Ann", annSecret)
	carol := p.join(t, "carol", "Carol", carolSecret)
	// A client presenting Ann's public ID as its secret is someone else.
	thief := p.join(t, "thief", "Ann", ann.UserID)
	if thief.UserID == ann.UserID {
		t.Fatalf("presenting a public ID as the secret gave that user")
	}
	// A forged fromId or from in a frame is ignored.
	p.sender.frames = map[string][][]byte{}
	if _, err := p.Send(context.Background(), "thief", []byte(`{"action":"chat message","text":"hi","fromId":"`+ann.UserID+`","from":"Ann"}`)); err != nil {
		t.Fatal(err)
	}
	var m chat.Message
	p.sender.frame(t, "ann", &m)
	if m.FromID != thief.UserID || m.From != thief.Name {
		t.Errorf("message = %+v, want it from %s (%s)", m, thief.UserID, thief.Name)
	}
	// A private message to Ann reaches Ann alone, not the thief who took
	// a name like hers.
	p.sender.frames = map[string][][]byte{}
	if _, err := p.Direct(context.Background(), "carol", []byte(`{"action":"direct message","toId":"`+ann.UserID+`","text":"secret","clientMsgId":"d1"}`)); err != nil {
		t.Fatal(err)
	}
	if got := p.sender.received(); !slices.Equal(got, []string{"ann", "carol"}) {
		t.Errorf("the private message went to %q, want ann (and carol's ack)", got)
	}
	// A third person cannot read the conversation.
	conversation := chat.ConversationID(ann.UserID, carol.UserID)
	p.sender.frames = map[string][][]byte{}
	err := p.SendHistory(context.Background(), "thief", []byte(`{"action":"history","conversation":"`+conversation+`","requestId":"r1"}`))
	if codeOf(err) != chat.CodeForbidden {
		t.Errorf("a third person's history request = %v, want forbidden", err)
	}
	var refusal chat.ErrorFrame
	p.sender.frame(t, "thief", &refusal)
	if refusal.RequestID != "r1" || refusal.Code != chat.CodeForbidden {
		t.Errorf("refusal = %+v", refusal)
	}
	// Ann can.
	p.sender.frames = map[string][][]byte{}
	if err := p.SendHistory(context.Background(), "ann", []byte(`{"action":"history","conversation":"`+conversation+`"}`)); err != nil {
		t.Fatal(err)
	}
	var h chat.HistoryFrame
	p.sender.frame(t, "ann", &h)
	if len(h.Messages) != 1 || h.Messages[0].Text != "secret" || h.Messages[0].FromID != carol.UserID {
		t.Errorf("ann's history of the conversation = %+v", h)
	}
	// A private message to someone who left is refused, and not stored.
	if err := p.Disconnect(context.Background(), "ann"); err != nil {
		t.Fatal(err)
	}
	p.sender.frames = map[string][][]byte{}
	_, err = p.Direct(context.Background(), "carol", []byte(`{"action":"direct message","toId":"`+ann.UserID+`","text":"still there?","clientMsgId":"d2"}`))
	if codeOf(err) != chat.CodeNoSuchMember {
		t.Errorf("a private message to someone who left = %v, want no_such_member", err)
	}
}

func TestPresenceByPerson(t *testing.T) {
	p := newPeopleService()
	p.join(t, "carol", "Carol", carolSecret)
	p.join(t, "ann1", "Ann", annSecret)
	p.sender.frames = map[string][][]byte{}
	// A second tab is not a join.
	p.join(t, "ann2", "Ann", annSecret)
	if got := framesOf[chat.PresenceFrame](t, p.sender, "carol", chat.TypeJoined); len(got) != 0 {
		t.Errorf("a second tab announced %+v", got)
	}
	// Closing one of two tabs is not a leave.
	if err := p.Disconnect(context.Background(), "ann1"); err != nil {
		t.Fatal(err)
	}
	p.graceDue()
	if got := framesOf[chat.PresenceFrame](t, p.sender, "carol", chat.TypeLeft); len(got) != 0 {
		t.Errorf("closing one of two tabs announced %+v", got)
	}
	// A reload within the grace is neither a leave nor a join, and keeps
	// the name.
	if err := p.Disconnect(context.Background(), "ann2"); err != nil {
		t.Fatal(err)
	}
	back := p.join(t, "ann3", "Ann", annSecret)
	p.graceDue()
	if got := p.sender.received(); len(got) != 0 {
		t.Errorf("a reload sent frames to %q, want none", got)
	}
	if back.Name != "Ann" {
		t.Errorf("back as %q, want Ann", back.Name)
	}
	// Someone else cannot take the name while it is held for a reload.
	if err := p.Disconnect(context.Background(), "ann3"); err != nil {
		t.Fatal(err)
	}
	if c := p.join(t, "sniper", "Ann", otherSecret); c.Name == "Ann" {
		t.Errorf("another person took Ann's name during the grace")
	}
	// The last tab gone for good is one leave, after the grace.
	if got := framesOf[chat.PresenceFrame](t, p.sender, "carol", chat.TypeLeft); len(got) != 0 {
		t.Errorf("left announced before the grace: %+v", got)
	}
	p.graceDue()
	left := framesOf[chat.PresenceFrame](t, p.sender, "carol", chat.TypeLeft)
	if len(left) != 1 || left[0].UserID != back.UserID || left[0].Count != 2 {
		t.Errorf("left notices = %+v, want one for Ann, leaving 2 people", left)
	}
	// who counts people, and lists each once.
	p.sender.frames = map[string][][]byte{}
	p.join(t, "carol2", "Carol", carolSecret)
	if err := p.Who(context.Background(), "carol"); err != nil {
		t.Fatal(err)
	}
	var who chat.MembersFrame
	p.sender.frame(t, "carol", &who)
	if who.Count != 2 || len(who.Members) != 2 || who.You.Name != "Carol" {
		t.Errorf("who = %+v, want 2 people, carol among them", who)
	}
}

func TestDirectTyping(t *testing.T) {
	p := newPeopleService()
	ann := p.join(t, "ann", "Ann", annSecret)
	p.join(t, "carol", "Carol", carolSecret)
	p.join(t, "bob", "Bob", otherSecret)
	p.sender.frames = map[string][][]byte{}
	if err := p.Typing(context.Background(), "carol", []byte(`{"action":"typing","toId":"`+ann.UserID+`"}`)); err != nil {
		t.Fatal(err)
	}
	if got := p.sender.received(); !slices.Equal(got, []string{"ann"}) {
		t.Errorf("typing in a private conversation went to %q, want ann alone", got)
	}
	var f chat.TypingFrame
	p.sender.frame(t, "ann", &f)
	if f.Conversation == "" || f.From != "Carol" {
		t.Errorf("typing frame = %+v", f)
	}
}
