package web_test

// Reading (issue 18): links, hostile links, grouping, day separators, the
// "new since you left" line, and unread counts in the tab's title.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// hiddenHook lets a test say whether the page is hidden (a background
// tab): document.hidden and visibilityState follow window.__hidden, and
// setHidden fires visibilitychange as the browser does.
const hiddenHook = `(() => {
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => !!window.__hidden });
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (window.__hidden ? 'hidden' : 'visible') });
})();`

func (p *chatPage) setHidden(hidden bool) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`(() => { window.__hidden = %t; document.dispatchEvent(new Event('visibilitychange')); })()`, hidden))
}

// clockHook makes the page's clock start at a fixed local time (the
// arguments of new Date(...)) and run from there: new Date() and
// Date.now() follow it, dates built from values are untouched.
func clockHook(args string) string {
	return `(() => {
  const Real = Date;
  const offset = new Real(` + args + `).getTime() - Real.now();
  class Clock extends Real {
    constructor(...a) { if (a.length === 0) super(Real.now() + offset); else super(...a); }
    static now() { return Real.now() + offset; }
  }
  window.Date = Clock;
})();`
}

// inject hands a frame to the page as if its socket had received it.
func (p *chatPage) inject(frame string) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`window.__test.sockets.at(-1).dispatchEvent(new MessageEvent('message', { data: %s }))`, jsString(frame)))
}

// http and https URLs are links, opening a new tab without telling the
// site where from; nothing else is, and no message becomes markup.
func TestLinks(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")

	long := "https://example.com/" + strings.Repeat("a", 1500)
	cases := []struct {
		name, text string
		links      []string // the hrefs, in order
	}{
		{"https", "see https://example.com/docs?a=1&b=2#top.", []string{"https://example.com/docs?a=1&b=2#top"}},
		{"http in parentheses", "(http://example.org/path_(x))", []string{"http://example.org/path_(x)"}},
		{"two", "https://a.example/ and https://b.example/x", []string{"https://a.example/", "https://b.example/x"}},
		{"javascript", "javascript:alert(1)", nil},
		{"javascript upper case", "JaVaScRiPt:alert(document.domain)", nil},
		{"javascript as a host", "http://javascript:alert(1)", nil},
		{"data", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", nil},
		{"data html", `data:text/html,<script>alert(1)</script>`, nil},
		{"vbscript and file", "vbscript:msgbox(1) file:///etc/passwd", nil},
		{"look-alike host", "https://раураl.com/login", nil},
		{"user name look-alike", "https://paypal.com@evil.example/", nil},
		{"markup around a link", `<a href="javascript:alert(1)">https://ok.example/</a>`, []string{"https://ok.example/"}},
		{"very long", long, []string{long}},
	}
	for _, c := range cases {
		alice.setInput(c.text)
		alice.pressEnter()
	}
	last := cases[len(cases)-1].text
	bob.waitMessage(last)
	alice.waitAcked()

	type link struct {
		Href   string `json:"href"`
		Text   string `json:"text"`
		Target string `json:"target"`
		Rel    string `json:"rel"`
	}
	for _, p := range []*chatPage{alice, bob} {
		for _, c := range cases {
			got := eval[[]link](p, fmt.Sprintf(`[...document.querySelectorAll('#messages li.message')]
				.filter(li => li.querySelector('.text').textContent === %s)
				.flatMap(li => [...li.querySelectorAll('.text a')])
				.map(a => ({href: a.href, text: a.textContent, target: a.target, rel: a.rel}))`, jsString(c.text)))
			var hrefs []string
			for _, l := range got {
				hrefs = append(hrefs, l.Href)
				if l.Target != "_blank" || l.Rel != "noopener noreferrer" {
					t.Errorf("%s: %s: link %q has target %q rel %q, want _blank and noopener noreferrer", p.name, c.name, l.Href, l.Target, l.Rel)
				}
			}
			if fmt.Sprint(hrefs) != fmt.Sprint(c.links) {
				t.Errorf("%s: %s: links %q, want %q", p.name, c.name, hrefs, c.links)
			}
		}
		if n := eval[int](p, `[...document.querySelectorAll('#log a')].filter(a => !/^https?:$/.test(new URL(a.href).protocol)).length`); n != 0 {
			t.Errorf("%s: %d links of another scheme than http(s)", p.name, n)
		}
		if n := eval[int](p, `document.querySelectorAll('#log script, #log img, #log iframe, #log object, #log [onerror], #log [onclick]').length`); n != 0 {
			t.Errorf("%s: markup from a message became %d elements", p.name, n)
		}
		if d := p.dialogsSeen(); len(d) > 0 {
			t.Errorf("%s: dialogs opened: %q", p.name, d)
		}
		// The very long link wraps: the log never scrolls sideways.
		if wide := eval[bool](p, `(() => { const l = document.getElementById('log'); return l.scrollWidth > l.clientWidth + 1; })()`); wide {
			t.Errorf("%s: the very long link widens the log", p.name)
		}
	}
}

// With a clock the test sets: messages of one person a few minutes apart
// are grouped under one name, a day starts with its separator (Today,
// Yesterday, a date), and a time reads short with the full date beside it
// for screen readers.
func TestGroupingAndDays(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	ann.addScript(clockHook("2026, 2, 10, 12, 0"))
	ann.open(srv.URL(), "Ann")

	const bob, carol = "a0000000000000000000000000", "a1111111111111111111111111"
	msgs := []struct{ id, fromID, from, text, at string }{
		{"g1", bob, "Bob", "a week ago", "2026, 2, 1, 9, 0"},
		{"g2", bob, "Bob", "yesterday, first", "2026, 2, 9, 18, 0"},
		{"g3", bob, "Bob", "yesterday, two minutes on", "2026, 2, 9, 18, 2"},
		{"g4", bob, "Bob", "today, first", "2026, 2, 10, 11, 50"},
		{"g5", bob, "Bob", "today, a minute on", "2026, 2, 10, 11, 51"},
		{"g6", carol, "Carol", "carol now", "2026, 2, 10, 11, 52"},
		{"g7", carol, "Carol", "carol six minutes on", "2026, 2, 10, 11, 58"},
	}
	for _, m := range msgs {
		sentAt := eval[string](ann, `new Date(`+m.at+`).toISOString()`)
		ann.inject(fmt.Sprintf(`{"type":"chat message","id":%q,"fromId":%q,"from":%q,"text":%q,"sentAt":%q}`, m.id, m.fromID, m.from, m.text, sentAt))
	}
	ann.waitMessage("carol six minutes on")
	got := eval[[]string](ann, `[...document.querySelectorAll('#messages > li.message, #messages > li.day-separator')].map(li =>
		li.classList.contains('day-separator') ? 'day ' + li.textContent
		: (li.classList.contains('grouped') ? '  ' : '') + li.querySelector('.text').textContent)`)
	weekAgo := eval[string](ann, `new Date(2026, 2, 1).toLocaleDateString(undefined, {weekday: 'long', day: 'numeric', month: 'long'})`)
	want := []string{
		"day " + weekAgo, "a week ago",
		"day Yesterday", "yesterday, first", "  yesterday, two minutes on",
		"day Today", "today, first", "  today, a minute on", "carol now", "carol six minutes on",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("the log reads\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A grouped message keeps its name and time for screen readers.
	type shownTime struct {
		Short  string `json:"short"`
		Full   string `json:"full"`
		Title  string `json:"title"`
		Hidden string `json:"hidden"`
		From   string `json:"from"`
	}
	st := eval[shownTime](ann, `(() => { const li = [...document.querySelectorAll('#messages li.message')].find(li => li.querySelector('.text').textContent === 'today, a minute on');
		const t = li.querySelector('time');
		return {short: t.textContent, full: li.querySelector('.full-time').textContent, title: t.title, hidden: t.getAttribute('aria-hidden'), from: li.querySelector('.from').textContent}; })()`)
	if st.Short != "11:51" || st.Hidden != "true" || st.From != "Bob" {
		t.Errorf("the grouped message's meta %+v, want 11:51 shown, hidden from screen readers, from Bob", st)
	}
	if !strings.Contains(st.Full, "2026") || st.Full != st.Title {
		t.Errorf("the full time %q (title %q), want the whole date, for hover and screen readers alike", st.Full, st.Title)
	}
}

// A hidden page counts what it receives in its title; shown, the count
// stops. Coming back to the room later, a line marks what is new since.
func TestUnreadTitleAndSinceYouLeft(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	bob.addScript(hiddenHook)
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	if title := eval[string](bob, `document.title`); title != "#general · Chat" {
		t.Errorf("the title %q, want #general · Chat", title)
	}

	bob.setHidden(true)
	for i := 1; i <= 3; i++ {
		alice.send(fmt.Sprintf("while hidden %d", i))
	}
	bob.waitMessage("while hidden 3")
	bob.waitFor("the unread title", `document.title === '(3) #general · Chat'`)
	bob.setHidden(false)
	bob.waitFor("the title without a count", `document.title === '#general · Chat'`)

	// Bob goes away; Alice writes; Bob comes back.
	bob.do(chromedp.Navigate("about:blank"))
	alice.send("after Bob left")
	alice.waitAcked()
	bob.do(chromedp.Navigate(srv.URL()))
	bob.waitOnline()
	bob.waitMessage("after Bob left")
	after := eval[string](bob, `(() => { let e = document.querySelector('#messages .since-line');
		if (!e) return 'no line';
		while (e && !e.classList.contains('message')) e = e.nextElementSibling;
		return e ? e.querySelector('.text').textContent : 'nothing after it'; })()`)
	if after != "after Bob left" {
		t.Errorf("the first message after the new-since-you-left line: %q, want after Bob left", after)
	}
	if n := eval[int](bob, `document.querySelectorAll('#messages .since-line').length`); n != 1 {
		t.Errorf("%d new-since-you-left lines, want 1", n)
	}
}

// The server comes back while the page waits out its backoff: the online
// event makes it reconnect at once. The socket that comes online is the
// one the event opened (made while the event was handled), not one of the
// backoff's.
func TestReconnectOnOnline(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	ann.addScript(`Math.random = () => 0.99;`) // the longest backoff delays
	ann.open(srv.URL(), "Ann")

	srv.stop()
	ann.waitFor("a wait of several seconds", `/reconnecting in ([7-9]|10) s/.test(document.getElementById('status-text').textContent)`)
	if eval[bool](ann, `document.getElementById('retry').hidden`) {
		t.Errorf("no Retry now while the page waits to reconnect")
	}
	srv.start()
	opened := eval[int](ann, `(() => { const n = window.__test.sockets.length; window.dispatchEvent(new Event('online')); return window.__test.sockets.length - n; })()`)
	if opened != 1 {
		t.Fatalf("the online event opened %d sockets, want 1 at once", opened)
	}
	ann.waitOnline()
	if n := eval[bool](ann, `window.__test.sockets.at(-1).readyState === WebSocket.OPEN`); !n {
		t.Errorf("the socket online is not the one the online event opened")
	}
	if !eval[bool](ann, `document.getElementById('retry').hidden`) {
		t.Errorf("Retry now stays once online")
	}
}
