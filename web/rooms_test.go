package web_test

// Rooms and the phone's header (issue 18).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// On a phone (390 and 320 px wide) the header is one line of at most 64
// px, in every state the page shows at first, and no label in it is cut
// off or reads "…".
func TestPhoneHeader(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	p := newPage(t, browser, "phone")
	p.do(chromedp.EmulateViewport(390, 740))
	p.open(srv.URL(), "Alexandra Konstantinopoulou")
	check := func(what string) {
		t.Helper()
		type header struct {
			Height  float64  `json:"height"`
			Cut     []string `json:"cut"`
			Dots    []string `json:"dots"`
			Outside []string `json:"outside"`
		}
		h := eval[header](p, `(() => {
			const bar = document.querySelector('.topbar');
			const shown = [...bar.querySelectorAll('button, h1, span, p')].filter(e => e.offsetParent !== null && e.getClientRects().length > 0
				&& getComputedStyle(e).clipPath === 'none' && e.closest('.visually-hidden') === null);
			return {
				height: bar.getBoundingClientRect().height,
				cut: shown.filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible').map(e => e.id || e.className),
				dots: [...bar.querySelectorAll('button')].filter(b => /…$/.test(b.innerText.trim())).map(b => b.id + ': ' + b.innerText),
				outside: shown.filter(e => e.getBoundingClientRect().right > innerWidth + 0.5).map(e => e.id || e.className),
			};
		})()`)
		if h.Height > 64 {
			t.Errorf("%s: the header is %.0f px high, want at most 64", what, h.Height)
		}
		if len(h.Cut) > 0 || len(h.Outside) > 0 {
			t.Errorf("%s: cut off in the header: %q, outside the screen: %q", what, h.Cut, h.Outside)
		}
		if len(h.Dots) > 0 {
			t.Errorf("%s: buttons read …: %q", what, h.Dots)
		}
	}
	check("390 px, online")
	if got := eval[string](p, `(() => { const e = document.getElementById('name-initial'); return e.getBoundingClientRect().width > 0 ? e.textContent : '(not shown)'; })()`); got != "A" {
		t.Errorf("the name button shows %q on a phone, want the initial A", got)
	}
	if w := eval[float64](p, `document.getElementById('name-label').getBoundingClientRect().width`); w > 1 {
		t.Errorf("the name takes %.0f px on a phone, want it for screen readers only", w)
	}
	if got := eval[string](p, `document.getElementById('change-name').getAttribute('aria-label') ?? document.getElementById('change-name').textContent`); !strings.Contains(got, "Alexandra Konstantinopoulou") {
		t.Errorf("the name button's name %q, want the whole name", got)
	}
	p.do(chromedp.EmulateViewport(320, 640))
	check("320 px, online")
	// The longest room name there is.
	long := strings.Repeat("room-", 6) + "xy"
	p.do(chromedp.Navigate(srv.URL() + "#" + long))
	p.waitFor("the long room", fmt.Sprintf(`document.getElementById('room-name').textContent === '#%s'`, long))
	p.waitOnline()
	check("320 px, a 32-character room")
	// Before connecting (another page, no name yet): the same.
	q := newPage(t, browser, "phone-first")
	q.do(chromedp.EmulateViewport(320, 640))
	q.do(chromedp.Navigate(srv.URL()))
	q.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	if dots := eval[[]string](q, `[...document.querySelectorAll('.topbar button')].map(b => b.innerText.trim()).filter(s => s === '' || s.endsWith('…'))`); len(dots) > 0 {
		t.Errorf("before a name, header buttons read %q", dots)
	}
}

// The room list: the rooms visited, the current one marked with its
// unread count; a labelled form joins another; an empty room says so; a
// switch leaves nothing of the old room's view behind.
func TestRoomList(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	bob.send("hello general")
	alice.waitMessage("hello general")

	if label := eval[string](alice, `document.querySelector('label[for=room-input]').textContent`); label != "Join another room" {
		t.Errorf("the room input's label %q, want Join another room", label)
	}
	alice.do(chromedp.SendKeys("#room-input", "quiet-room\r"))
	alice.waitFor("quiet-room", `document.getElementById('room-name').textContent === '#quiet-room'`)
	alice.waitOnline()
	alice.waitFor("the empty room's notice", `document.querySelector('#messages .empty-room')?.textContent.includes('No messages in #quiet-room yet')`)
	rooms := eval[string](alice, `[...document.querySelectorAll('#room-list a')].map(a => a.textContent + (a.getAttribute('aria-current') === 'page' ? '*' : '')).join(',')`)
	if rooms != "#quiet-room*,#general" {
		t.Errorf("the room list reads %q, want #quiet-room*,#general", rooms)
	}

	// Back to general by the list; Alice reads, scrolled up, while Bob
	// writes a few: the button counts them; a switch clears it.
	alice.do(chromedp.Click(`#room-list a[href="#general"]`))
	alice.waitFor("general", `document.getElementById('room-name').textContent === '#general'`)
	alice.waitOnline()
	alice.waitMessage("hello general")
	if n := eval[int](alice, `document.querySelectorAll('#messages .empty-room').length`); n != 0 {
		t.Errorf("general has messages but says it is empty")
	}
	alice.addScript(hiddenHook)
	eval[chromedp.Void](alice, hiddenHook)
	alice.setHidden(true)
	for i := 1; i <= 2; i++ {
		bob.send(fmt.Sprintf("unread %d", i))
	}
	alice.waitMessage("unread 2")
	alice.waitFor("the count in the list", `document.querySelector('#room-list a[aria-current=page] .badge')?.textContent === '2 unread messages'`)
	alice.setHidden(false)
	alice.waitFor("the count gone", `!document.querySelector('#room-list .badge')`)

	// A room-scoped button: shown in general, gone after a switch.
	eval[chromedp.Void](alice, `(() => { const b = document.getElementById('new-messages'); b.hidden = false; b.textContent = '3 new messages ↓'; })()`)
	alice.do(chromedp.Click(`#room-list a[href="#quiet-room"]`))
	alice.waitFor("quiet-room", `document.getElementById('room-name').textContent === '#quiet-room'`)
	if !eval[bool](alice, `document.getElementById('new-messages').hidden`) {
		t.Errorf("the old room's new-messages button stays after a switch")
	}
	if s := eval[string](alice, `document.getElementById('typing').textContent`); strings.TrimSpace(s) != "" {
		t.Errorf("the typing line %q stays after a switch", s)
	}

	// Another room's count, from the server: Bob writes in general while
	// Alice is elsewhere; her next connect asks how many she has not seen.
	bob.send("later 1")
	bob.send("later 2")
	bob.waitMessage("later 2") // shown, pending, then acked: stored
	bob.waitAcked()
	alice.do(chromedp.SendKeys("#room-input", "third-room\r"))
	alice.waitFor("third-room", `document.getElementById('room-name').textContent === '#third-room'`)
	alice.waitOnline()
	alice.waitFor("general's count from the server", `document.querySelector('#room-list a[href="#general"] .badge')?.textContent === '2 unread messages'`)
}
