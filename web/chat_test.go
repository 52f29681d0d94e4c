package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/serverless-chat/chat/internal/testenv"
)

func TestTwoPagesChat(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")

	alice.send("hello Bob")
	bob.waitMessage("hello Bob")
	bob.send("hi Alice")
	alice.waitMessage("hi Alice")
	// Bob's answer came after Alice's message went through the server, so an
	// echo of her message would be here by now.
	alice.send("how are you?")
	bob.waitMessage("how are you?")
	alice.waitAcked() // the ack may come after the broadcast reached bob

	tests := []struct {
		page    *chatPage
		text    string
		from    string
		wantAll int
		wantOwn int
	}{
		{alice, "hello Bob", "Alice", 1, 1},
		{alice, "hi Alice", "Bob", 1, 0},
		{alice, "how are you?", "Alice", 1, 1},
		{bob, "hello Bob", "Alice", 1, 0},
		{bob, "hi Alice", "Bob", 1, 1},
		{bob, "how are you?", "Alice", 1, 0},
	}
	// (No subtests: the page helpers fail the test that owns the page.)
	for _, tt := range tests {
		name := tt.page.name + "/" + tt.text
		all, own := tt.page.count(tt.text)
		if all != tt.wantAll || own != tt.wantOwn {
			t.Errorf("%s: shown %d times (%d as own), want %d (%d as own)", name, all, own, tt.wantAll, tt.wantOwn)
		}
		for _, m := range tt.page.messages() {
			if m.Text != tt.text {
				continue
			}
			if m.From != tt.from {
				t.Errorf("%s: from %q, want %q", name, m.From, tt.from)
			}
			if len(m.Time) != 5 || m.Time[2] != ':' {
				t.Errorf("%s: time %q, want HH:MM", name, m.Time)
			}
			if m.Pending {
				t.Errorf("%s: still pending", name)
			}
		}
	}

	if d := append(alice.dialogsSeen(), bob.dialogsSeen()...); len(d) > 0 {
		t.Errorf("dialogs opened: %q", d)
	}
}

// The receiver shows sentAt in its own time zone, as HH:MM.
func TestTimesAreLocal(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	const zone = "Asia/Kolkata" // UTC+05:30: a wrong zone shows a wrong minute too
	bob.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	}))
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("what time is it?")
	bob.waitMessage("what time is it?")

	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	for _, m := range bob.messages() {
		at, err := time.Parse(time.RFC3339Nano, m.At)
		if err != nil {
			t.Fatalf("datetime %q: %v", m.At, err)
		}
		if want := at.In(loc).Format("15:04"); m.Time != want {
			t.Errorf("shown time %q, want %q (sentAt %s in %s)", m.Time, want, m.At, zone)
		}
		if time.Since(at).Abs() > 5*time.Minute {
			t.Errorf("sentAt %s is far from now", m.At)
		}
	}
}

func TestMessagesAreText(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	const evilName = `<img src=x onerror=alert(2)>`
	const evilText = `<img src=x onerror=alert(1)>`
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), evilName)
	bob.open(srv.URL(), "Bob")

	alice.send(evilText)
	bob.waitMessage(evilText)
	alice.send(`<script>alert(3)</script>`)
	bob.waitMessage(`<script>alert(3)</script>`)

	for _, p := range []*chatPage{alice, bob} {
		if n := eval[int](p, `document.querySelectorAll('#messages img, #messages script, #name-label img').length`); n != 0 {
			t.Errorf("%s: %d img/script elements in the messages", p.name, n)
		}
		if d := p.dialogsSeen(); len(d) > 0 {
			t.Errorf("%s: dialogs opened: %q", p.name, d)
		}
	}
	for _, m := range bob.messages() {
		if m.Text == evilText && m.From != evilName {
			t.Errorf("sender shown as %q, want the literal %q", m.From, evilName)
		}
	}
	if got := eval[string](alice, `document.getElementById('name-label').textContent`); got != evilName {
		t.Errorf("own name shown as %q, want %q", got, evilName)
	}
}

func TestServerRestart(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("before the restart")
	bob.waitMessage("before the restart")

	srv.stop()
	alice.waitState("reconnecting")
	bob.waitState("reconnecting")

	// Alice's network goes away (navigator.onLine false): she stops trying
	// and shows offline. What she types now waits in the outbox. She comes
	// back only after Bob, so that he is there to receive it.
	alice.setNetwork(false)
	alice.waitState("offline")
	alice.send("typed while down")
	if all, own := alice.count("typed while down"); all != 1 || own != 1 {
		t.Fatalf("own message shown %d times (%d own), want once", all, own)
	}
	if !alice.messages()[len(alice.messages())-1].Pending {
		t.Errorf("a message typed while offline is not marked as pending")
	}
	file := filepath.Join(artifactsDir(t), "chat-offline-pending.png")
	alice.screenshot(t, file)
	t.Logf("screenshot: %s", file)

	srv.start()
	bob.waitOnline() // by itself, through the backoff
	alice.setNetwork(true)
	alice.waitOnline()
	bob.waitMessage("typed while down")
	alice.waitFor("the pending message to be sent", `!document.querySelector('#messages li.pending')`)

	// Chat works again, both ways; the queued message arrived exactly once.
	bob.send("after the restart")
	alice.waitMessage("after the restart")
	alice.send("last one")
	bob.waitMessage("last one")
	if all, _ := bob.count("typed while down"); all != 1 {
		t.Errorf("bob got the queued message %d times, want 1", all)
	}
	if all, own := alice.count("typed while down"); all != 1 || own != 1 {
		t.Errorf("alice shows the queued message %d times (%d own), want once", all, own)
	}
	sent := 0
	for _, f := range alice.sentFrames() {
		if strings.Contains(f, "typed while down") {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("the queued message was sent %d times, want 1", sent)
	}
}

// setNetwork switches navigator.onLine (and its events) for the page.
func (p *chatPage) setNetwork(online bool) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: !online, DownloadThroughput: -1, UploadThroughput: -1,
		})
		return err
	}))
}

// After maxAttempts failed attempts the page gives up: offline, with a
// button. Math.random is pinned to 0 in this page only, so that the backoff
// delays (full jitter) are 0 and the attempts run out at once.
func TestGiveUpAndRetry(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	alice.addScript(`Math.random = () => 0;`)
	alice.open(srv.URL(), "Alice")
	if !eval[bool](alice, `document.getElementById('retry').hidden`) {
		t.Errorf("retry button shown while online")
	}
	srv.stop()
	alice.waitFor("giving up", `document.getElementById('status').dataset.state === 'offline' && !document.getElementById('retry').hidden`)
	if text := eval[string](alice, `document.getElementById('status-text').textContent`); !strings.Contains(text, "cannot be reached") {
		t.Errorf("status %q", text)
	}
	attempts := eval[int](alice, `window.__test.sockets.length`)
	if attempts != 1+10 {
		t.Errorf("%d sockets opened, want the first one and 10 attempts", attempts)
	}
	srv.start()
	alice.do(chromedp.Click(chromedp.ID("retry")))
	alice.waitOnline()
	if !eval[bool](alice, `document.getElementById('retry').hidden`) {
		t.Errorf("retry button still shown once online")
	}
}

func TestInputRules(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")

	hint := func() string {
		return eval[string](alice, `document.getElementById('hint-text').textContent`)
	}
	hintVisible := func() bool {
		return eval[bool](alice, `(() => { const r = document.getElementById('hint-text').getBoundingClientRect(); return r.width > 0 && r.height > 0; })()`)
	}

	// Empty, then blank: Enter and the Send button both refuse.
	alice.pressEnter()
	alice.setInput("   \n  ")
	alice.do(chromedp.Click(chromedp.ID("send")))
	if h := hint(); !strings.Contains(h, "Type a message") || !hintVisible() {
		t.Errorf("empty: hint %q (visible %v), want a visible 'Type a message first.'", h, hintVisible())
	}

	// Too long, counted in code points: 2001 emoji are 4002 UTF-16 units.
	long := strings.Repeat("😀", 2001)
	alice.setInput(long)
	if c := eval[string](alice, `document.getElementById('counter').textContent`); c != "2001 / 2000" {
		t.Errorf("too long: counter %q, want %q", c, "2001 / 2000")
	}
	alice.pressEnter()
	if h := hint(); !strings.Contains(h, "Too long") || !hintVisible() {
		t.Errorf("too long: hint %q (visible %v), want a visible 'Too long'", h, hintVisible())
	}
	if v := eval[string](alice, `document.getElementById('message-input').value`); v != long {
		t.Errorf("too long: the refused text was not kept in the box for editing")
	}
	alice.screenshot(t, filepath.Join(artifactsDir(t), "chat-too-long.png"))

	for _, f := range alice.sentFrames() {
		if strings.Contains(f, `"chat message"`) {
			t.Errorf("frame sent for refused input: %q", f)
		}
	}
	if ms := alice.messages(); len(ms) != 0 {
		t.Errorf("refused input shown as messages: %+v", ms)
	}

	// Exactly at the limit, counted in code points as the server does, the
	// text goes through; the server accepts it too.
	atLimit := strings.Repeat("😀", 2000)
	alice.setInput(atLimit)
	if h := hint(); h != "" {
		t.Errorf("hint %q stays for a text at the limit", h)
	}
	alice.pressEnter()
	bob.waitMessage(atLimit)
	alice.send("next")
	bob.waitMessage("next")
	if lines := eval[[]string](alice, `[...document.querySelectorAll('#messages li.system.error')].map(li => li.textContent)`); len(lines) != 0 {
		t.Errorf("error lines: %q", lines)
	}
}

func TestErrorFramesAreShown(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	alice.open(srv.URL(), "Alice")

	tests := []struct {
		name  string
		frame string
		code  string
	}{
		{"not JSON", `not json`, "invalid_json"},
		{"unknown action", `{"action":"shout","text":"hi"}`, "unknown_action"},
		{"text not a string", `{"action":"chat message","text":42}`, "invalid_field"},
	}
	for i, tt := range tests {
		// Sent through the page's own socket, as a buggy client would.
		eval[chromedp.Void](alice, fmt.Sprintf(`window.__test.sockets.at(-1).send(%s)`, jsString(tt.frame)))
		alice.waitFor("error line "+tt.code, fmt.Sprintf(`document.querySelectorAll('#messages li.system.error').length > %d`, i))
		lines := alice.systemLines()
		if last := lines[len(lines)-1]; !strings.Contains(last, tt.code) {
			t.Errorf("%s: error line %q does not name %s", tt.name, last, tt.code)
		}
		if live := eval[string](alice, `document.getElementById('announcer').textContent`); !strings.Contains(live, tt.code) {
			t.Errorf("%s: the error was not announced: %q", tt.name, live)
		}
	}
	if alice.state() != "online" {
		t.Errorf("state %q after error frames, want online", alice.state())
	}
}

func TestContentSecurityPolicyHeader(t *testing.T) {
	srv := startServer(t)
	resp, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy allows unsafe sources: %q", csp)
	}

	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	alice.open(srv.URL(), "Alice")
	alice.send("policy check")
	if v := eval[[]string](alice, `window.__test.cspViolations`); len(v) != 0 {
		t.Errorf("CSP violations: %q", v)
	}
	for _, m := range alice.consoleMessages() {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			t.Errorf("console %s: %s", m.Type, m.Text)
		}
	}
}

func TestAutoScroll(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")

	for i := range 25 {
		alice.setInput(fmt.Sprintf("line %d", i))
		alice.pressEnter()
	}
	bob.waitMessage("line 24")
	atBottom := `(() => { const l = document.getElementById('log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 2; })()`
	if !eval[bool](bob, atBottom) {
		t.Fatalf("the log does not follow new messages")
	}

	// Bob scrolls up to read: new messages do not move him, a button says so.
	eval[chromedp.Void](bob, `document.getElementById('log').scrollTop = 0`)
	bob.waitFor("the scroll to settle", `document.getElementById('log').scrollTop === 0`)
	alice.send("while Bob reads")
	bob.waitMessage("while Bob reads")
	if top := eval[float64](bob, `document.getElementById('log').scrollTop`); top != 0 {
		t.Errorf("scrollTop %v after a new message, want 0 (the reader was moved)", top)
	}
	bob.waitFor("the new messages button", `!document.getElementById('new-messages').hidden`)
	if label := eval[string](bob, `document.getElementById('new-messages').textContent`); !strings.Contains(label, "1 new message") {
		t.Errorf("button says %q", label)
	}
	bob.do(chromedp.Click(chromedp.ID("new-messages")))
	bob.waitFor("the log at the bottom", atBottom)
	if !eval[bool](bob, `document.getElementById('new-messages').hidden`) {
		t.Errorf("the button stays after a click")
	}
}

// Keyboard only: the name form opens focused, Enter joins, focus moves to
// the message box, Enter sends; every control has a name.
func TestKeyboardAndLabels(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	alice.do(chromedp.Navigate(srv.URL()))
	alice.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	if id := eval[string](alice, `document.activeElement.id`); id != "name-input" {
		t.Errorf("focus on %q, want name-input", id)
	}
	alice.screenshot(t, filepath.Join(artifactsDir(t), "chat-name-dialog.png"))
	alice.do(chromedp.KeyEvent("   \r"))
	if e := eval[string](alice, `document.getElementById('name-error').textContent`); e == "" {
		t.Errorf("a blank name was accepted")
	}
	alice.do(chromedp.KeyEvent("Ada\r"))
	alice.waitOnline()
	if id := eval[string](alice, `document.activeElement.id`); id != "message-input" {
		t.Errorf("focus on %q after joining, want message-input", id)
	}
	alice.do(chromedp.KeyEvent("typed with the keyboard"), enterKey)
	alice.waitFor("the message", `document.querySelector('#messages li.own')`)

	unlabelled := eval[[]string](alice, `[...document.querySelectorAll('button, input, textarea, [tabindex]')].filter(e => {
		const name = (e.labels && e.labels.length ? e.labels[0].textContent : '') || e.getAttribute('aria-label') || (e.getAttribute('aria-labelledby') ? 'x' : '') || e.textContent;
		return !name.trim();
	}).map(e => e.outerHTML.slice(0, 80))`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without an accessible name: %q", unlabelled)
	}
	if live := eval[string](alice, `document.querySelector('[aria-live]')?.id ?? ''`); live == "" {
		t.Errorf("no aria-live region")
	}

	// The name can be changed without reconnecting: a rename, told to the
	// room; the next connection uses it too.
	sockets := eval[int](alice, `window.__test.sockets.length`)
	alice.do(chromedp.Click(chromedp.ID("change-name")))
	alice.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	// The dialog opens with the old name selected: typing replaces it.
	alice.do(chromedp.KeyEvent("Grace\r"))
	alice.waitFor("the new name", `document.getElementById('name-label').textContent === 'Grace'`)
	alice.waitOnline()
	if got := eval[string](alice, `localStorage.getItem('chat.name')`); got != "Grace" {
		t.Errorf("stored name %q, want Grace", got)
	}
	alice.waitFor("the rename notice", `[...document.querySelectorAll('#messages li.system')].some(li => li.textContent === 'You are now Grace.')`)
	if n := eval[int](alice, `window.__test.sockets.length`); n != sockets {
		t.Errorf("%d sockets after the rename, %d before: want no reconnect", n, sockets)
	}
	renamed := false
	for _, f := range alice.sentFrames() {
		renamed = renamed || f == `{"action":"rename","name":"Grace"}`
	}
	if !renamed {
		t.Errorf("frames sent %q, want a rename to Grace", alice.sentFrames())
	}
}

func TestRooms(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	carol := newPage(t, browser, "carol")
	alice.open(srv.URL()+"?room=team-1", "Alice")
	bob.open(srv.URL()+"#team-1", "Bob")
	carol.open(srv.URL(), "Carol")
	if got := eval[string](bob, `document.getElementById('room-name').textContent`); got != "#team-1" {
		t.Errorf("room shown as %q", got)
	}
	alice.send("team only")
	bob.waitMessage("team only")
	carol.send("general only")
	// Carol's message reached the server after Alice's; had it leaked into
	// team-1, Bob would see it before the next one.
	alice.send("still team")
	bob.waitMessage("still team")
	if all, _ := bob.count("general only"); all != 0 {
		t.Errorf("a message from #general reached #team-1")
	}
	if all, _ := carol.count("team only"); all != 0 {
		t.Errorf("a message from #team-1 reached #general")
	}

	// Bob follows a link to #general: the page switches rooms.
	eval[chromedp.Void](bob, `location.hash = 'general'`)
	bob.waitFor("the room #general", `document.getElementById('room-name').textContent === '#general' && window.__test.sockets.at(-1).url.includes('room=general')`)
	bob.waitOnline()
	carol.send("welcome Bob")
	bob.waitMessage("welcome Bob")
	if all, _ := bob.count("team only"); all != 0 {
		t.Errorf("the messages of #team-1 stay shown in #general")
	}
}

// Screenshots of a conversation in light and dark. With UPDATE_SCREENSHOTS=1
// they also replace docs/screenshot-light.png and docs/screenshot-dark.png.
func TestScreenshots(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")

	bob.send("Hi Alice! Is the deploy done?")
	alice.waitMessage("Hi Alice! Is the deploy done?")
	bob.send("The dashboard is at https://console.aws.amazon.com/cloudwatch/")
	alice.waitMessage("The dashboard is at https://console.aws.amazon.com/cloudwatch/")
	alice.send("Yes: sam deploy finished, the page is on S3 behind CloudFront.")
	bob.waitMessage("Yes: sam deploy finished, the page is on S3 behind CloudFront.")
	bob.send("Great. And <b>this</b> stays text.")
	alice.waitMessage("Great. And <b>this</b> stays text.")
	carol := newPage(t, browser, "carol")
	carol.open(srv.URL(), "Carol")
	alice.waitFor("carol's join", `document.getElementById('online-count').textContent === '3 online'`)
	carol.setInput("<@" + alice.userID() + "> could you look at the phone header?")
	carol.pressEnter()
	alice.waitFor("the mention", `!!document.querySelector('#messages li.mentions-me')`)
	carol.do(chromedp.Click(`#people-list button[aria-label="Write to Alice privately"]`))
	carol.send("Psst: lunch after the demo?")
	alice.waitFor("carol's private message", `[...document.querySelectorAll('#log ol[data-conversation] li.message .text')].some(e => e.textContent === 'Psst: lunch after the demo?')`)
	bob.setInput("typing")
	bob.do(chromedp.SendKeys("#message-input", "…"))
	alice.waitFor("bob typing", `window.__test.typingShown.length > 0`)
	alice.setInput("Typing a reply…")

	dir := artifactsDir(t)
	update := os.Getenv("UPDATE_SCREENSHOTS") == "1"
	for _, scheme := range []string{"light", "dark"} {
		alice.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}))
		alice.waitFor(scheme+" colours", fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches`, scheme))
		for _, size := range []struct {
			name          string
			width, height int64
		}{{"desktop", 900, 600}, {"phone", 390, 740}} {
			alice.do(chromedp.EmulateViewport(size.width, size.height))
			file := filepath.Join(dir, fmt.Sprintf("chat-%s-%s.png", scheme, size.name))
			buf := alice.screenshot(t, file)
			t.Logf("screenshot: %s", file)
			if update {
				doc := filepath.Join(testenv.RepoRoot(), "docs", "screenshot-"+scheme+".png")
				if size.name == "phone" {
					doc = filepath.Join(testenv.RepoRoot(), "docs", "screenshot-"+scheme+"-phone.png")
				}
				if err := os.WriteFile(doc, buf, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("updated %s", doc)
			}
		}
	}
}

// The page's pure helpers (text.js), run in the browser: the rules the page
// applies must be the server's.
func TestTextHelpers(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	p := newPage(t, browser, "helpers")
	p.do(chromedp.Navigate(srv.URL()))
	call := func(expr string) string {
		t.Helper()
		return eval[string](p, `import('./text.js').then(m => JSON.stringify(`+expr+`))`)
	}
	tests := []struct {
		expr, want string
	}{
		{`m.codePointLength("")`, `0`},
		{`m.codePointLength("abc")`, `3`},
		{`m.codePointLength("😀😀")`, `2`},
		{`m.codePointLength("e\u0301")`, `2`}, // combining mark: two code points, as Go counts
		{`m.checkText("hello")`, `null`},
		{`m.checkText("").code`, `"empty_text"`},
		{`m.checkText(" \n\t ").code`, `"empty_text"`},
		{`m.checkText("x".repeat(2000))`, `null`},
		{`m.checkText("x".repeat(2001)).code`, `"text_too_long"`},
		{`m.checkText("😀".repeat(2000))`, `null`},
		{`m.checkText("😀".repeat(2001)).code`, `"text_too_long"`},
		{`m.checkName("  Ada  ")`, `{"name":"Ada"}`},
		{`m.checkName("").error !== undefined`, `true`},
		{`m.checkName("a".repeat(32)).name.length`, `32`},
		{`m.checkName("a".repeat(33)).error !== undefined`, `true`},
		{`m.checkName("tab\there").error !== undefined`, `true`},
		{`m.checkName("Zoë 🙂").name`, `"Zoë 🙂"`},
		{`m.checkName(null).error !== undefined`, `true`},
		{`m.roomFromURL("http://h/")`, `{"room":"general","invalid":null}`},
		{`m.roomFromURL("http://h/?room=team-1")`, `{"room":"team-1","invalid":null}`},
		{`m.roomFromURL("http://h/#Team-2")`, `{"room":"team-2","invalid":null}`},
		{`m.roomFromURL("http://h/?room=a&x=1#b")`, `{"room":"a","invalid":null}`},
		{`m.roomFromURL("http://h/?room=no%20spaces")`, `{"room":"general","invalid":"no spaces"}`},
		{`m.roomFromURL("http://h/?room=" + "a".repeat(33)).invalid.length`, `33`},
		{`m.socketURL("ws://h:1/local", "Ada L", "general")`, `"ws://h:1/local?name=Ada%20L&room=general"`},
		{`m.socketURL("ws://h:1/local", "a+b&c=d é", "general")`, `"ws://h:1/local?name=a%2Bb%26c%3Dd%20%C3%A9&room=general"`},
		{`m.socketURL("ws://h:1/local?name=old&room=old&x=1", "new", "r")`, `"ws://h:1/local?x=1&name=new&room=r"`},
		{`m.socketURL("wss://x/prod?k=v", "", "r")`, `"wss://x/prod?k=v&room=r"`},
		{`m.formatClock(new Date(2026, 0, 2, 3, 4, 5))`, `"03:04"`},
		{`m.formatClock(new Date(2026, 0, 2, 23, 59))`, `"23:59"`},
		{`m.formatClock(new Date("not a date"))`, `""`},
		{`m.backoffDelay(1, {random: () => 0.999999})`, `499`},
		{`m.backoffDelay(3, {random: () => 0.5})`, `1000`},
		{`m.backoffDelay(30, {random: () => 0.999999})`, `29999`},
		{`m.backoffDelay(5, {random: () => 0})`, `0`},
	}
	for _, tt := range tests {
		if got := call(tt.expr); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

// The adapter restarts in memory mode with pages open: its history is new,
// and its seqs start again at 1. Every page, and one that joins later,
// ends showing exactly the new history, in order: the frames carry the
// room's epoch, and a page that sees another one drops what it showed.
func TestHistoryEpochAfterRestart(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	for _, text := range []string{"old one", "old two", "old three"} {
		alice.send(text)
		bob.waitMessage(text)
	}
	alice.waitAcked()

	srv.stop()
	srv.start()
	alice.waitOnline()
	bob.waitOnline()
	bob.send("new one")
	alice.waitMessage("new one")
	alice.send("new two")
	bob.waitMessage("new two")
	alice.waitAcked()
	bob.waitAcked()

	carol := newPage(t, browser, "carol")
	carol.open(srv.URL(), "Carol")
	carol.waitMessage("new two")

	want := []string{"new one", "new two"}
	for _, p := range []*chatPage{alice, bob, carol} {
		p.waitFor("the new history alone", fmt.Sprintf(`[...document.querySelectorAll('#messages li.message .text')].map(e => e.textContent).join('|') === %s`,
			jsString(strings.Join(want, "|"))))
		checkOrder(t, p, want)
	}
	if !slices.ContainsFunc(alice.systemLines(), func(l string) bool { return strings.Contains(l, "new history") }) {
		t.Errorf("alice was not told that the history started again: %q", alice.systemLines())
	}
}
