package web_test

// @mentions (issue 18; the wire form is in web/README.md, "Mentions").

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Typing @ offers the room's people; the one picked goes out as
// <@userId>, shows with the current name (after a rename too), and the
// message is highlighted for the person mentioned. A mention picked with
// the mouse works the same; one of someone not in the room is plain text.
func TestMentions(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	annID, bobID := ann.userID(), bob.userID()
	bob.waitFor("ann in the list", fmt.Sprintf(`!!document.querySelector('#people-list li[data-user-id=%q]')`, annID))

	// Keyboard: "@An" offers Ann; Enter picks her.
	bob.do(chromedp.SendKeys("#message-input", "hi @An"))
	bob.waitFor("the offer", `!document.getElementById('mention-list').hidden`)
	offered := eval[[]string](bob, `[...document.querySelectorAll('#mention-list [role=option]')].map(o => o.textContent + (o.getAttribute('aria-selected') === 'true' ? '*' : ''))`)
	if strings.Join(offered, ",") != "Ann*" {
		t.Errorf("offered %q, want Ann, selected", offered)
	}
	if got := eval[string](bob, `document.getElementById('message-input').getAttribute('aria-activedescendant')`); got != "mention-option-0" {
		t.Errorf("the box's aria-activedescendant %q while offering, want the first option", got)
	}
	bob.do(enterKey)
	bob.waitFor("the pick", `document.getElementById('mention-list').hidden`)
	if v := eval[string](bob, `document.getElementById('message-input').value`); v != "hi @Ann " {
		t.Errorf("the box reads %q after the pick, want %q", v, "hi @Ann ")
	}
	bob.do(chromedp.SendKeys("#message-input", "look"), enterKey)
	ann.waitFor("the mention", `!!document.querySelector('#messages li.message .mention')`)
	sent := ""
	for _, f := range bob.sentFrames() {
		if strings.Contains(f, `"chat message"`) {
			sent = f
		}
	}
	if want := fmt.Sprintf(`hi <@%s> look`, annID); !strings.Contains(sent, want) {
		t.Errorf("bob sent %s, want the text %q", sent, want)
	}
	shown := func(p *chatPage) string {
		t.Helper()
		return eval[string](p, `(() => { const li = [...document.querySelectorAll('#messages li.message')].find(li => li.querySelector('.mention'));
			return li.querySelector('.text').textContent + (li.classList.contains('mentions-me') ? ' [me]' : ''); })()`)
	}
	if got := shown(ann); got != "hi @Ann look [me]" {
		t.Errorf("ann sees %q, want it highlighted for her", got)
	}
	bob.waitAcked()
	if got := shown(bob); got != "hi @Ann look" {
		t.Errorf("bob sees %q", got)
	}

	// Ann renames: the mention follows her, and stays hers.
	ann.do(chromedp.Click("#change-name"))
	ann.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	ann.do(chromedp.KeyEvent("Annie\r"))
	bob.waitFor("the rename", fmt.Sprintf(`document.querySelector('#people-list li[data-user-id=%q]')?.textContent === 'Annie'`, annID))
	ann.waitFor("her new name", `document.getElementById('name-label').textContent === 'Annie'`)
	for _, c := range []struct {
		p    *chatPage
		want string
	}{{ann, "hi @Annie look [me]"}, {bob, "hi @Annie look"}} {
		c.p.waitFor("the mention renamed", `[...document.querySelectorAll('#messages .mention')].some(m => m.textContent === '@Annie')`)
		if got := shown(c.p); got != c.want {
			t.Errorf("%s sees %q after the rename, want %q", c.p.name, got, c.want)
		}
	}

	// The mouse: Ann types @ and clicks Bob.
	ann.do(chromedp.SendKeys("#message-input", "thanks @"))
	ann.waitFor("the offer", `!document.getElementById('mention-list').hidden`)
	ann.do(chromedp.Click(fmt.Sprintf(`#mention-list [data-user-id=%q]`, bobID)))
	ann.waitFor("the pick", `document.getElementById('message-input').value === 'thanks @Bob '`)
	ann.pressEnter()
	bob.waitFor("bob mentioned", `!!document.querySelector('#messages li.message.mentions-me')`)

	// Someone never in the room: the token stays text, not a mention.
	const stranger = "u0000000000000000000000000"
	bob.setInput("ping <@" + stranger + ">")
	bob.pressEnter()
	ann.waitMessage("ping <@" + stranger + ">")
	if n := eval[int](ann, `document.querySelectorAll('#messages .mention.known').length`); n != 2 {
		t.Errorf("%d known mentions, want 2 (the stranger's is plain text)", n)
	}
}

// notifyHook is a stub of the Notification API: permission is asked and
// granted, and every notification made is recorded in window.__notes.
const notifyHook = `(() => {
  window.__notes = [];
  window.Notification = class {
    static permission = 'default';
    static requestPermission() { window.Notification.permission = 'granted'; return Promise.resolve('granted'); }
    constructor(title, opts = {}) { window.__notes.push({ title, body: opts.body ?? '' }); }
    close() {}
  };
})();`

// Notifications are opt-in (asked for on a click); then, while the tab is
// hidden, a mention or a private message shows one, other messages do
// not; a visible tab shows none.
func TestNotifications(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	bob.addScript(notifyHook + hiddenHook)
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	bobID := bob.userID()
	ann.waitFor("bob in the list", fmt.Sprintf(`!!document.querySelector('#people-list li[data-user-id=%q]')`, bobID))
	if p := eval[string](bob, `Notification.permission`); p != "default" {
		t.Fatalf("permission %q before the click: the page asked by itself", p)
	}
	bob.do(chromedp.Click("#notify"))
	bob.waitFor("notifications on", `document.getElementById('notify').getAttribute('aria-pressed') === 'true'`)

	bob.setHidden(true)
	ann.send("just the room")
	ann.setInput("look <@" + bobID + ">")
	ann.pressEnter()
	ann.openThreadWith(bobID)
	ann.send("a secret")
	bob.waitThreadMessage(conversationOf(ann.userID(), bobID), "a secret")
	bob.waitMessage("just the room")
	type note struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	notes := eval[[]note](bob, `window.__notes`)
	want := []note{{"Ann in #general", "look @Bob"}, {"Ann (private)", "a secret"}}
	if fmt.Sprint(notes) != fmt.Sprint(want) {
		t.Errorf("notifications %+v, want %+v", notes, want)
	}

	// Visible: no more.
	bob.setHidden(false)
	ann.send("seen at once")
	bob.waitThreadMessage(conversationOf(ann.userID(), bobID), "seen at once")
	if n := eval[int](bob, `window.__notes.length`); n != 2 {
		t.Errorf("%d notifications, want still 2 (the tab is visible)", n)
	}
}
