package web_test

// People, not names (docs/protocol.md, "Who you are", "Presence",
// "Private conversations"): the page is a person, known by the user ID the
// server makes from the secret the page keeps; "(you)", the online list and
// the private threads follow user IDs, whatever names people take.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// userID is the page's user ID, from the last "who" reply it received
// (after waiting for one).
func (p *chatPage) userID() string {
	p.t.Helper()
	p.waitFor("who's reply", `window.__test.received.some(f => f.includes('"type":"members"'))`)
	return eval[string](p, `JSON.parse(window.__test.received.filter(f => f.includes('"type":"members"')).at(-1)).you.userId`)
}

// conversationOf is the ID of two people's private conversation.
func conversationOf(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "+" + b
}

func threadSelector(conv string) string {
	return fmt.Sprintf(`#log ol[data-conversation=%s]`, jsString(conv))
}

// threadMessages returns the messages the thread of conv shows.
func (p *chatPage) threadMessages(conv string) []shownMessage {
	p.t.Helper()
	return eval[[]shownMessage](p, fmt.Sprintf(`[...document.querySelectorAll(%s)].map(li => ({
		from: li.querySelector('.from').textContent,
		text: li.querySelector('.text').textContent,
		own: li.classList.contains('own') && !!li.querySelector('.you'),
		pending: li.classList.contains('pending'),
	}))`, jsString(threadSelector(conv)+" li.message")))
}

// waitThreadMessage waits until the thread of conv shows a message with text.
func (p *chatPage) waitThreadMessage(conv, text string) {
	p.t.Helper()
	p.waitFor("private message "+text, fmt.Sprintf(`[...document.querySelectorAll(%s)].some(e => e.textContent === %s)`,
		jsString(threadSelector(conv)+" li.message .text"), jsString(text)))
}

// received counts the frames the page received that contain s.
func (p *chatPage) received(s string) int {
	p.t.Helper()
	return eval[int](p, fmt.Sprintf(`window.__test.received.filter(f => f.includes(%s)).length`, jsString(s)))
}

func (p *chatPage) text(id string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.getElementById(%q).textContent`, id))
}

func (p *chatPage) openThreadWith(userID string) {
	p.t.Helper()
	p.do(chromedp.Click(fmt.Sprintf(`#people-list li[data-user-id=%q] button`, userID)))
	p.waitFor("the private thread", `!document.getElementById('dm-target').hidden`)
}

func (p *chatPage) showThread(conv string) {
	p.t.Helper()
	p.do(chromedp.Click(fmt.Sprintf(`#thread-list button[data-conversation=%s]`, jsString(conv))))
	p.waitFor("the thread shown", fmt.Sprintf(`!document.querySelector(%s).hidden`, jsString(threadSelector(conv))))
}

func (p *chatPage) sentHistoryOf(conv string) []map[string]any {
	p.t.Helper()
	var out []map[string]any
	for _, f := range p.sentFrames() {
		var m map[string]any
		if json.Unmarshal([]byte(f), &m) == nil && m["action"] == "history" && m["conversation"] == conv {
			out = append(out, m)
		}
	}
	return out
}

// Three people, two of whom chose the name Ann: the second gets "Ann (2)"
// and is told so; a private message to the first Ann reaches her alone,
// in a thread of its own, and her answer comes back there. A rename to a
// name someone holds is refused and said so; a rename that works follows
// the person, not the name.
func TestPeopleWithOneName(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	ann2 := newPage(t, browser, "ann2")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	ann2.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	annID, ann2ID, bobID := ann.userID(), ann2.userID(), bob.userID()
	if annID == ann2ID || annID == bobID || ann2ID == bobID {
		t.Fatalf("user IDs %s, %s, %s: want three people", annID, ann2ID, bobID)
	}

	// The second Ann shows the name she got, and is told why; she chose Ann.
	ann2.waitFor("the name she got", `document.getElementById('name-label').textContent === 'Ann (2)'`)
	if s := ann2.text("name-status"); !strings.Contains(s, "Ann is taken") || !strings.Contains(s, "Ann (2)") {
		t.Errorf("ann2's name status %q, want that Ann is taken and she is Ann (2)", s)
	}
	if got := eval[string](ann2, `localStorage.getItem('chat.name')`); got != "Ann" {
		t.Errorf("ann2 keeps the name %q, want the one she chose, Ann", got)
	}
	for _, p := range []*chatPage{ann, ann2, bob} {
		p.waitFor("three people", `document.querySelectorAll('#people-list li').length === 3 && document.getElementById('online-count').textContent === '3 online'`)
	}
	if names := eval[string](bob, `[...document.querySelectorAll('#people-list li')].map(li => li.textContent).join(',')`); names != "Ann,Ann (2),Bob (you)" {
		t.Errorf("bob's online list %q, want Ann,Ann (2),Bob (you)", names)
	}

	// Bob writes to the first Ann, picked in his list.
	conv := conversationOf(annID, bobID)
	const secret = "for the first Ann <b>only</b>"
	bob.openThreadWith(annID)
	// Typing in the thread is for Ann alone, and shows in her thread, not
	// in her room.
	bob.setInput("for")
	bob.do(chromedp.SendKeys("#message-input", " "))
	ann.waitFor("bob's typing", fmt.Sprintf(`window.__test.received.some(f => f.includes('"type":"typing"') && f.includes(%s))`, jsString(conv)))
	if shown := eval[string](ann, `window.__test.typingShown.join(' | ')`); shown != "" {
		t.Errorf("ann's room shows %q while bob types to her privately", shown)
	}
	bob.setInput("")
	bob.send(secret)
	ann.waitFor("the private message", fmt.Sprintf(`window.__test.received.some(f => f.includes('"type":"direct message"') && f.includes(%s))`, jsString(conv)))
	ann.waitThreadMessage(conv, secret)
	bob.waitFor("the private message acked", `!document.querySelector('#log li.pending')`)
	// Then to the room: once ann2 has that, she would have had the private
	// one too, had it been sent to her.
	bob.do(chromedp.Click("#dm-cancel"))
	bob.send("to the room")
	ann2.waitMessage("to the room")
	ann.waitMessage("to the room")

	if n := ann2.received("for the first Ann"); n != 0 {
		t.Errorf("ann2 received %d frames with the private message", n)
	}
	if n := ann2.received(`"type":"typing"`); n != 0 {
		t.Errorf("ann2 received %d typing frames, all of them bob's to ann", n)
	}
	if n := eval[int](ann2, `document.querySelectorAll('#log ol[data-conversation]').length`); n != 0 {
		t.Errorf("ann2 shows %d private threads, want none", n)
	}
	for _, p := range []*chatPage{ann, bob} {
		if all, _ := p.count(secret); all != 0 {
			t.Errorf("%s shows the private message in the room", p.name)
		}
		if n := eval[int](p, `document.querySelectorAll('#log b, #log img, #log script').length`); n != 0 {
			t.Errorf("%s: markup from a message became %d elements", p.name, n)
		}
	}
	// Ann was in the room: the thread counts it unread, and it was read out.
	badge := eval[string](ann, fmt.Sprintf(`document.querySelector('#thread-list button[data-conversation=%s] .badge')?.textContent ?? ''`, jsString(conv)))
	if badge != "1 unread message" {
		t.Errorf("ann's thread badge %q, want 1 unread message", badge)
	}
	if a := ann.text("announcer"); !strings.Contains(a, "Private message from Bob: "+secret) {
		t.Errorf("ann's announcer %q, want the private message", a)
	}

	// Ann answers in the thread.
	ann.showThread(conv)
	if badge := eval[int](ann, `document.querySelectorAll('#thread-list .badge').length`); badge != 0 {
		t.Errorf("the unread badge stays once the thread is shown")
	}
	ann.send("thanks Bob")
	bob.waitThreadMessage(conv, "thanks Bob")
	ann.waitAcked()
	wantAnn := []shownMessage{{From: "Bob", Text: secret}, {From: "Ann", Text: "thanks Bob", Own: true}}
	wantBob := []shownMessage{{From: "Bob", Text: secret, Own: true}, {From: "Ann", Text: "thanks Bob"}}
	for _, c := range []struct {
		p    *chatPage
		want []shownMessage
	}{{ann, wantAnn}, {bob, wantBob}} {
		if got := c.p.threadMessages(conv); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s's thread shows %+v, want %+v", c.p.name, got, c.want)
		}
	}
	if all, _ := ann.count("thanks Bob"); all != 0 {
		t.Errorf("ann's answer shows in her room")
	}

	// ann2 asks for Bob's name: refused, said so, and she stays Ann (2).
	ann2.do(chromedp.Click("#change-name"))
	ann2.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	ann2.do(chromedp.KeyEvent("Bob\r"))
	ann2.waitFor("the refusal", `window.__test.received.some(f => f.includes('"name_taken"'))`)
	if s := ann2.text("name-status"); !strings.Contains(s, "Bob is taken") || !strings.Contains(s, "still Ann (2)") {
		t.Errorf("ann2's name status %q after name_taken, want that Bob is taken and she is still Ann (2)", s)
	}
	if role := eval[string](ann2, `document.getElementById('name-status').getAttribute('role')`); role != "status" {
		t.Errorf("the name status has role %q, want status (read out)", role)
	}
	if l := ann2.text("name-label"); l != "Ann (2)" {
		t.Errorf("ann2's name reads %q after name_taken, want Ann (2)", l)
	}
	if got := eval[string](ann2, `localStorage.getItem('chat.name')`); got != "Ann" {
		t.Errorf("ann2 keeps %q after name_taken, want Ann", got)
	}

	// Then a free name: the person is renamed, wherever she is listed.
	ann2.do(chromedp.Click("#change-name"))
	ann2.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	ann2.do(chromedp.KeyEvent("Anna\r"))
	bob.waitFor("the rename", fmt.Sprintf(`document.querySelector('#people-list li[data-user-id=%q]')?.textContent === 'Anna'`, ann2ID))
	ann2.waitFor("her new name", `document.getElementById('name-label').textContent === 'Anna'`)
	if s := ann2.text("name-status"); s != "" {
		t.Errorf("ann2's name status %q after a rename, want none", s)
	}
	ann.waitFor("the rename in her list", `[...document.querySelectorAll('#people-list li')].map(li => li.textContent).join(',') === 'Ann (you),Anna,Bob'`)
}

// "(you)" follows the person: after a reload, and in a second tab, the
// messages she wrote are hers (from history and live), and others see one
// person.
func TestYouAfterReloadAndSecondTab(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	annID := ann.userID()
	ann.send("mine, before the reload")
	bob.waitMessage("mine, before the reload")
	ann.waitAcked()
	bob.send("bob's")
	ann.waitMessage("bob's")

	ownOf := func(p *chatPage) map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for _, m := range p.messages() {
			out[m.Text] = m.Own
		}
		return out
	}

	ann.do(chromedp.Reload())
	ann.waitOnline()
	ann.waitMessage("bob's")
	if id := ann.userID(); id != annID {
		t.Errorf("after the reload ann is %s, want %s (her secret is kept)", id, annID)
	}
	ann.waitFor("her message marked as hers", `[...document.querySelectorAll('#messages li.message.own .text')].some(e => e.textContent === 'mine, before the reload')`)
	if got := ownOf(ann); !got["mine, before the reload"] || got["bob's"] {
		t.Errorf("after the reload ann marks as hers %v, want only her message", got)
	}
	if n := eval[int](ann, `document.querySelectorAll('#messages li.own .you').length`); n != 1 {
		t.Errorf("%d messages say (you) after the reload, want 1", n)
	}

	// A second tab of the same browser: the same person.
	tab := ann.newTab("ann-tab2")
	tab.do(chromedp.Navigate(srv.URL()))
	tab.waitOnline()
	tab.waitMessage("bob's")
	if id := tab.userID(); id != annID {
		t.Errorf("the second tab is %s, want %s", id, annID)
	}
	tab.waitFor("her message marked as hers", `[...document.querySelectorAll('#messages li.message.own .text')].some(e => e.textContent === 'mine, before the reload')`)
	tab.send("from the second tab")
	ann.waitMessage("from the second tab")
	bob.waitMessage("from the second tab")
	if got := ownOf(ann); !got["from the second tab"] {
		t.Errorf("the first tab does not mark the second tab's message as hers: %v", got)
	}
	if got := ownOf(bob); got["from the second tab"] || got["mine, before the reload"] {
		t.Errorf("bob marks ann's messages as his: %v", got)
	}
	for _, m := range bob.messages() {
		if m.Text == "from the second tab" && m.From != "Ann" {
			t.Errorf("bob sees the second tab's message from %q, want Ann", m.From)
		}
	}
	// One person with two tabs: bob's list and count have one Ann.
	bob.waitFor("two people", `document.getElementById('online-count').textContent === '2 online' && document.querySelectorAll('#people-list li').length === 2`)
	if names := eval[string](tab, `[...document.querySelectorAll('#people-list li')].map(li => li.textContent).join(',')`); names != "Ann (you),Bob" {
		t.Errorf("the second tab's online list %q, want Ann (you),Bob", names)
	}
}

// A private conversation comes back after a reload, with its history, and
// on another device of the same person (the same secret, no stored
// threads), from who's list of conversations. Once the other person has
// left, a message to them is marked not delivered.
func TestPrivateHistoryAfterReload(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	annID, bobID := ann.userID(), bob.userID()
	conv := conversationOf(annID, bobID)

	ann.openThreadWith(bobID)
	ann.send("p1")
	bob.waitThreadMessage(conv, "p1")
	bob.showThread(conv)
	bob.send("p2")
	ann.waitThreadMessage(conv, "p2")
	ann.send("p3")
	bob.waitThreadMessage(conv, "p3")
	ann.waitAcked()
	bob.waitAcked()
	want := []shownMessage{{From: "Ann", Text: "p1"}, {From: "Bob", Text: "p2", Own: true}, {From: "Ann", Text: "p3"}}

	bob.do(chromedp.Reload())
	bob.waitOnline()
	bob.waitThreadMessage(conv, "p3")
	if got := bob.threadMessages(conv); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the reload bob's thread shows %+v, want %+v", got, want)
	}
	if h := bob.sentHistoryOf(conv); len(h) == 0 {
		t.Errorf("bob asked no history of the conversation after the reload: %q", bob.sentFrames())
	}
	if label := eval[string](bob, fmt.Sprintf(`document.querySelector('#thread-list button[data-conversation=%s]').textContent`, jsString(conv))); label != "Ann" {
		t.Errorf("bob's thread is called %q, want Ann", label)
	}
	if n := eval[int](bob, `document.querySelectorAll('#thread-list .badge').length`); n != 0 {
		t.Errorf("after the reload bob's thread counts unread what he read")
	}
	if all, _ := bob.count("p1"); all != 0 {
		t.Errorf("the private history shows in the room")
	}

	// Bob's other device: his secret, nothing else.
	secret := eval[string](bob, `localStorage.getItem('chat.secret')`)
	other := newPage(t, browser, "bob-elsewhere")
	other.addScript(fmt.Sprintf(`localStorage.setItem('chat.secret', %s); localStorage.setItem('chat.name', 'Bob');`, jsString(secret)))
	other.do(chromedp.Navigate(srv.URL()))
	other.waitOnline()
	if id := other.userID(); id != bobID {
		t.Fatalf("bob's other device is %s, want %s", id, bobID)
	}
	other.waitThreadMessage(conv, "p3")
	if got := other.threadMessages(conv); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bob's other device shows %+v, want %+v", got, want)
	}
	from0 := false
	for _, h := range other.sentHistoryOf(conv) {
		from0 = from0 || h["since"] == float64(0)
	}
	if !from0 {
		t.Errorf("the other device did not read the conversation from 0: %v", other.sentHistoryOf(conv))
	}
	// Unread there: it never saw them.
	if badge := eval[string](other, `document.querySelector('#thread-list .badge')?.textContent ?? ''`); badge != "2 unread messages" {
		t.Errorf("the other device's badge %q, want 2 unread messages (Ann's two)", badge)
	}

	// Ann leaves: a private message to her is not delivered, and says so.
	if err := chromedp.Cancel(ann.ctx); err != nil {
		t.Fatalf("close ann's tab: %v", err)
	}
	bob.waitFor("ann's leave", fmt.Sprintf(`window.__test.received.some(f => f.includes('"type":"left"') && f.includes(%q))`, annID))
	bob.showThread(conv)
	bob.send("are you there?")
	bob.waitFor("the message marked not delivered", fmt.Sprintf(`[...document.querySelectorAll(%s)].some(li => li.querySelector('.text').textContent === 'are you there?' && li.querySelector('.delivery')?.textContent.startsWith('not delivered'))`,
		jsString(threadSelector(conv)+" li.message.undelivered")))
	if n := bob.received(`"no_such_member"`); n != 1 {
		t.Errorf("bob received %d no_such_member errors, want 1", n)
	}
}
