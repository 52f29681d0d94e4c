package web_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// signIn walks the page's sign-in with the local adapter's development
// issuer: the page sends the browser to the issuer's form (authorization
// code with PKCE), the issuer sends it back with a code, the page trades
// it for a token and connects with it.
func (p *chatPage) signIn(url, name string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
	p.waitFor("the signed-out state", `document.getElementById('status-text').textContent === 'Not connected: sign in'`)
	if label := eval[string](p, `document.getElementById('name-label').textContent`); label != "Sign in" {
		p.t.Errorf("%s: the name button reads %q, want Sign in", p.name, label)
	}
	p.do(chromedp.Click("#change-name"))
	p.waitFor("the issuer's form", `location.pathname === '/dev-issuer/authorize' && !!document.getElementById('name')`)
	if q := eval[string](p, `location.search`); !strings.Contains(q, "code_challenge_method=S256") || !strings.Contains(q, "response_type=code") {
		p.t.Errorf("%s: authorization request %s, want the code flow with an S256 challenge", p.name, q)
	}
	p.do(chromedp.SendKeys("#name", name), chromedp.Click("#sign-in"))
	p.waitOnline()
	if loc := eval[string](p, `location.search`); loc != "" {
		p.t.Errorf("%s: the address still has %q after signing in", p.name, loc)
	}
}

// TestSignIn: two people sign in with the development issuer, chat, and
// see the names from their tokens; signing out disconnects.
func TestSignIn(t *testing.T) {
	srv := startServer(t, "-auth", "dev")
	browser := newBrowser(t)
	zoe := newPage(t, browser, "zoe")
	bob := newPage(t, browser, "bob")
	zoe.signIn(srv.URL(), "Zoë")
	bob.signIn(srv.URL(), "Bob")
	if label := eval[string](zoe, `document.getElementById('name-label').textContent`); label != "Zoë · Sign out" {
		t.Errorf("zoe's name button reads %q", label)
	}
	// The token, never a name, is in the WebSocket URL.
	if u := eval[string](zoe, `window.__test.sockets.at(-1).url`); !strings.Contains(u, "token=") || strings.Contains(u, "name=") {
		t.Errorf("WebSocket URL %s, want a token and no name", u)
	}
	bob.send("hello Zoë")
	zoe.waitMessage("hello Zoë")
	msgs := zoe.messages()
	if last := msgs[len(msgs)-1]; last.From != "Bob" {
		t.Errorf("zoe sees the message from %q, want Bob (the token's name)", last.From)
	}
	zoe.waitFor("bob in the list", `[...document.querySelectorAll('#people-list li')].some(li => li.textContent.startsWith('Bob'))`)

	// Signing out asks first: staying keeps the connection.
	zoe.do(chromedp.Click("#change-name"))
	zoe.waitFor("the sign-out question", `document.getElementById('signout-dialog').open`)
	zoe.do(chromedp.Click("#signout-cancel"))
	zoe.waitFor("the question closed", `!document.getElementById('signout-dialog').open`)
	if s := zoe.state(); s != "online" {
		t.Errorf("zoe is %s after staying signed in, want online", s)
	}
	// Signing out closes the connection and forgets the token.
	zoe.do(chromedp.Click("#change-name"))
	zoe.waitFor("the sign-out question", `document.getElementById('signout-dialog').open`)
	zoe.do(chromedp.Click("#signout-confirm"))
	zoe.waitFor("signed out", `document.getElementById('status-text').textContent === 'Not connected: sign in'`)
	// Signed out: nobody is listed, and the box says why nothing is sent,
	// with a way to sign in.
	if n := eval[int](zoe, `document.querySelectorAll('#people-list li').length`); n != 0 {
		t.Errorf("zoe still lists %d people after signing out", n)
	}
	zoe.send("while signed out")
	if h := zoe.text("hint-text"); !strings.Contains(h, "signed out") {
		t.Errorf("the composer's hint %q, want that she is signed out", h)
	}
	if eval[bool](zoe, `document.getElementById('hint-sign-in').hidden`) {
		t.Errorf("no Sign in button beside the hint")
	}
	if n := eval[int](zoe, `window.__test.sent.filter(f => f.includes('while signed out')).length`); n != 0 {
		t.Errorf("a message was sent while signed out")
	}
	if s := eval[string](zoe, `sessionStorage.getItem('chat.session') || ''`); s != "" {
		t.Errorf("the token is still stored after signing out: %s", s)
	}
	bob.waitFor("zoe's leave", `[...document.querySelectorAll('#messages li.system')].some(li => li.textContent.startsWith('Zoë left'))`)
}

// TestRateLimitedMessagesWait: a burst over the send limit is held by the
// page, not lost: every message is sent, in order, once.
func TestRateLimitedMessagesWait(t *testing.T) {
	srv := startServer(t, "-send-burst", "2", "-send-rate", "2")
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	const n = 6
	for i := range n {
		alice.send(fmt.Sprint("burst ", i))
	}
	alice.waitFor("the slow-down notice", `[...document.querySelectorAll('#messages li.system')].some(li => li.textContent.startsWith('You are sending too fast'))`)
	alice.waitFor("every message acked", `document.querySelectorAll('#messages li.message.own').length === 6 && !document.querySelector('#messages li.pending')`)
	bob.waitMessage(fmt.Sprint("burst ", n-1))
	var got []string
	for _, m := range bob.messages() {
		got = append(got, m.Text)
	}
	want := []string{}
	for i := range n {
		want = append(want, fmt.Sprint("burst ", i))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("bob sees %q, want %q: every message once, in order", got, want)
	}
}

// TestTokenRefresh: the page refreshes its token before it expires, and a
// reconnect after that uses the new one.
func TestTokenRefresh(t *testing.T) {
	// Tokens of 65 s: the page refreshes a minute before expiry, so at once.
	srv := startServer(t, "-auth", "dev", "-dev-token-ttl", "65s")
	browser := newBrowser(t)
	zoe := newPage(t, browser, "zoe")
	zoe.signIn(srv.URL(), "Zoë")
	first := eval[string](zoe, `JSON.parse(sessionStorage.getItem('chat.session')).idToken`)
	zoe.waitFor("a refreshed token", fmt.Sprintf(`JSON.parse(sessionStorage.getItem('chat.session')).idToken !== %s`, jsString(first)))
	// Drop the connection: the page reconnects, with the refreshed token.
	sockets := eval[int](zoe, `window.__test.sockets.length`)
	eval[chromedp.Void](zoe, `window.__test.sockets.at(-1).close()`)
	zoe.waitFor("a new socket", fmt.Sprintf(`window.__test.sockets.length > %d && window.__test.sockets.at(-1).readyState === 1`, sockets))
	zoe.waitOnline()
	refreshed := eval[string](zoe, `JSON.parse(sessionStorage.getItem('chat.session')).idToken`)
	if u := eval[string](zoe, `window.__test.sockets.at(-1).url`); !strings.Contains(u, "token="+refreshed) {
		t.Errorf("reconnected with %s, want the refreshed token", u)
	}
}
