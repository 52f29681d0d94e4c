package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The Socket.io chat's feature set with three pages: join and leave notices
// with the count, the online list, typing shown and cleared, a private
// message seen by its recipient alone (in a thread), a rename seen by all, a
// room switch.
func TestPresence(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	carol := newPage(t, browser, "carol")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	carol.open(srv.URL(), "Carol")

	hasLine := func(p *chatPage, what, line string) {
		t.Helper()
		p.waitFor(what, fmt.Sprintf(`[...document.querySelectorAll('#messages li.system')].some(li => li.textContent === %s)`, jsString(line)))
	}
	// Joins: alice saw both, bob saw carol; everyone counts three.
	hasLine(alice, "bob's join", "Bob joined (2 online).")
	hasLine(alice, "carol's join", "Carol joined (3 online).")
	hasLine(bob, "carol's join", "Carol joined (3 online).")
	for _, p := range []*chatPage{alice, bob, carol} {
		p.waitFor("the count", `document.getElementById('online-count').textContent === '3 online'`)
		p.waitFor("the list", `document.querySelectorAll('#people-list li').length === 3`)
	}
	if names := eval[string](carol, `[...document.querySelectorAll('#people-list li')].map(li => li.textContent).join(',')`); names != "Alice,Bob,Carol (you)" {
		t.Errorf("carol's online list = %q, want Alice,Bob,Carol (you)", names)
	}
	// Joins and leaves are announced to screen readers; typing is not.
	if a := eval[string](alice, `document.getElementById('announcer').textContent`); !strings.Contains(a, "Carol joined") {
		t.Errorf("announcer %q, want the join", a)
	}

	// Typing: shown to the others, cleared by the message.
	bob.setInput("hel")
	bob.do(chromedp.SendKeys("#message-input", "l"))
	alice.waitFor("bob typing", `window.__test.typingShown.includes('Bob is typing…')`)
	carol.waitFor("bob typing", `window.__test.typingShown.includes('Bob is typing…')`)
	if typing := eval[string](bob, `window.__test.typingShown.join(' | ')`); typing != "" {
		t.Errorf("bob sees %q about himself", typing)
	}
	bob.setInput("hello all")
	bob.pressEnter()
	alice.waitMessage("hello all")
	alice.waitFor("the typing line cleared", `document.getElementById('typing').textContent === ''`)

	// A private message: alice picks bob in her list; it goes in a thread
	// of its own on both pages, not in the room.
	alice.do(chromedp.Click(`#people-list button[aria-label="Write to Bob privately"]`))
	alice.waitFor("the private target", `!document.getElementById('dm-target').hidden`)
	alice.send("just between us")
	inThread := `[...document.querySelectorAll('#log ol[data-conversation] li.message .text')].some(e => e.textContent === 'just between us')`
	bob.waitFor("the private message in a thread", inThread)
	alice.waitFor("the private message acked", `!document.querySelector('#log li.pending')`)
	for _, p := range []*chatPage{alice, bob} {
		if !eval[bool](p, inThread) {
			t.Errorf("%s does not show the private message in its thread", p.name)
		}
		if all, _ := p.count("just between us"); all != 0 {
			t.Errorf("%s shows the private message in the room", p.name)
		}
		if n := eval[int](p, `document.querySelectorAll('#thread-list button[data-conversation]').length`); n != 1 {
			t.Errorf("%s lists %d private threads, want 1", p.name, n)
		}
	}
	if a := eval[string](bob, `document.getElementById('announcer').textContent`); !strings.Contains(a, "Private message from Alice") {
		t.Errorf("bob's announcer %q, want the private message", a)
	}
	alice.do(chromedp.Click("#dm-cancel"))
	alice.send("back to everyone")
	carol.waitMessage("back to everyone")
	if all, _ := carol.count("just between us"); all != 0 {
		t.Errorf("carol sees the private message")
	}

	// A rename, seen by all; no reconnect.
	bob.do(chromedp.Click("#change-name"))
	bob.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	// The dialog opens with the old name selected: typing replaces it.
	bob.do(chromedp.KeyEvent("Robert\r"))
	hasLine(alice, "the rename", "Bob is now Robert.")
	hasLine(carol, "the rename", "Bob is now Robert.")
	hasLine(bob, "the rename", "You are now Robert.")
	alice.waitFor("the list renamed", `[...document.querySelectorAll('#people-list li')].some(li => li.textContent === 'Robert')`)

	// Colours: each name keeps one, with AA contrast on its background, in
	// both themes.
	for _, scheme := range []string{"light", "dark"} {
		alice.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}))
		alice.waitFor(scheme+" colours", fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches`, scheme))
		contrast := eval[float64](alice, `(() => {
			// Computed colours may be oklch(): a canvas turns any CSS colour into sRGB.
			const rgb = (c) => { const x = Object.assign(document.createElement('canvas'), { width: 1, height: 1 }).getContext('2d'); x.fillStyle = c; x.fillRect(0, 0, 1, 1); return [...x.getImageData(0, 0, 1, 1).data.slice(0, 3)]; };
			const lum = (c) => { const v = rgb(c).map(x => x / 255).map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
			const bgOf = (e) => { for (let n = e; n; n = n.parentElement) { const b = getComputedStyle(n).backgroundColor; if (!/rgba\(.*, 0\)$/.test(b) && b !== 'transparent') return b; } return 'rgb(255, 255, 255)'; };
			let worst = 21;
			for (const e of document.querySelectorAll('#messages li.message:not(.own) .name-color, #people-list .name-color')) {
				const fg = lum(getComputedStyle(e).color), bg = lum(bgOf(e));
				worst = Math.min(worst, (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05));
			}
			return worst;
		})()`)
		if contrast < 4.5 {
			t.Errorf("%s theme: a name colour has contrast %.2f, want at least 4.5 (WCAG AA)", scheme, contrast)
		}
	}

	// Leaving: carol closes her tab.
	if err := chromedp.Cancel(carol.ctx); err != nil {
		t.Fatalf("close carol's tab: %v", err)
	}
	hasLine(alice, "carol's leave", "Carol left (2 online).")
	alice.waitFor("the count", `document.getElementById('online-count').textContent === '2 online'`)
	if names := eval[string](alice, `[...document.querySelectorAll('#people-list li')].map(li => li.textContent).join(',')`); names != "Alice (you),Robert" {
		t.Errorf("alice's list after the joins, the rename and the leave = %q, want Alice (you),Robert", names)
	}
	// The list was kept from the notices: one "who", on connecting.
	who := 0
	for _, f := range alice.sentFrames() {
		if f == `{"action":"who"}` {
			who++
		}
	}
	if who != 1 {
		t.Errorf("alice asked who %d times, want once (the notices keep the list)", who)
	}

	// A room switch through the form: the room shows, the old room's
	// messages go, and the room's own conversation works.
	alice.do(chromedp.SendKeys("#room-input", "side-room\r"))
	alice.waitFor("the new room", `document.getElementById('room-name').textContent === '#side-room'`)
	alice.waitOnline()
	alice.waitFor("one online", `document.getElementById('online-count').textContent === '1 online'`)
	if n := len(alice.messages()); n != 0 {
		t.Errorf("%d messages of the old room still shown", n)
	}
	if rooms := eval[string](alice, `[...document.querySelectorAll('#recent-rooms option')].map(o => o.value).join(',')`); !strings.HasPrefix(rooms, "side-room,general") {
		t.Errorf("recent rooms %q, want side-room then general", rooms)
	}
}
