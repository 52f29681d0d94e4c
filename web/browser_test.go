package web_test

// The harness of the browser tests: the real local adapter (built once from
// ./local) and headless Chromium driven through chromedp.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/serverless-chat/chat/internal/testenv"
)

// waitLong bounds every wait for the page: generous, because the machine
// running the tests can be busy.
const waitLong = 90 * time.Second

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chat-web-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binDir = dir
	code := testenv.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// localBinary builds ./local once per test binary.
func localBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "local")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./local")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./local: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// server is one run of the local adapter on a fixed address, so that it can
// be stopped and started again on the same port.
type server struct {
	t    *testing.T
	bin  string
	addr string
	args []string
	log  string
	cmd  *exec.Cmd
	runs int
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{
		t:    t,
		bin:  localBinary(t),
		addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		args: args,
	}
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop()
		}
		if t.Failed() {
			t.Logf("local adapter log (%s):\n%s", s.log, testenv.ReadLog(s.log))
		}
	})
	return s
}

// URL is the page's address.
func (s *server) URL() string { return "http://" + s.addr + "/" }

func (s *server) start() {
	s.t.Helper()
	s.runs++
	s.log = filepath.Join(s.t.TempDir(), fmt.Sprintf("local-%d.log", s.runs))
	s.cmd = exec.Command(s.bin, append([]string{"-addr", s.addr}, s.args...)...)
	if err := testenv.Start(s.cmd, s.log); err != nil {
		s.t.Fatalf("start the local adapter: %v", err)
	}
	if err := testenv.WaitHTTP(s.URL()+"config.json", waitLong); err != nil {
		s.t.Fatalf("local adapter: %v\n%s", err, testenv.ReadLog(s.log))
	}
}

// stop kills the adapter at once, as a crash would: no close frames.
func (s *server) stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// artifactsDir is where screenshots go: $CHAT_ARTIFACTS, else
// testdata-artifacts/web in the repository (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CHAT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "testdata-artifacts", "web")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	return dir
}

// newBrowser starts a headless Chromium with a fresh profile for the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(1000, 720),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Do starts the browser and ties its life to the context it
	// gets: ctx, not one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// chatPage is one tab, in a browser context of its own (its own
// localStorage), that records what the page writes to the console and
// answers (and records) every JavaScript dialog.
type chatPage struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	dialogs []string
}

// socketHook runs before the page's scripts (DevTools scripts are not subject
// to the page's CSP). It keeps the page's WebSockets and records what they
// send and receive, so that tests can check what was sent, send a raw frame
// through the page's own connection, and hide a received frame from the
// page. The page's code is unchanged.
const socketHook = `(() => {
  if (window.__test) return;
  const Native = window.WebSocket;
  const test = { sockets: [], sent: [], received: [], drop: [], cspViolations: [], typingShown: [] };
  window.__test = test;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      test.sockets.push(this);
      this.addEventListener('message', (e) => {
        const data = String(e.data);
        test.received.push(data);
        // A frame containing a string of test.drop never reaches the page,
        // as if its broadcast had missed this connection.
        if (test.drop.some((s) => data.includes(s))) e.stopImmediatePropagation();
      });
    }
    send(data) { super.send(data); test.sent.push(String(data)); }
  };
  document.addEventListener('securitypolicyviolation', (e) => {
    test.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  // Every text the typing line ever showed: the line clears itself after
  // about 4 s, which a busy machine's polling can miss, so tests assert
  // that it was shown, not that it is shown now.
  document.addEventListener('DOMContentLoaded', () => {
    const line = document.getElementById('typing');
    if (!line) return;
    new MutationObserver(() => {
      if (line.textContent) test.typingShown.push(line.textContent);
    }).observe(line, { childList: true, characterData: true, subtree: true });
  });
})();`

func newPage(t *testing.T, browser context.Context, name string) *chatPage {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return setUpPage(t, ctx, name)
}

// newTab opens another tab in p's browser context: the same localStorage,
// so the same person (their secret) and their chosen name.
func (p *chatPage) newTab(name string) *chatPage {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	p.t.Cleanup(cancel)
	return setUpPage(p.t, ctx, name)
}

func setUpPage(t *testing.T, ctx context.Context, name string) *chatPage {
	t.Helper()
	p := &chatPage{t: t, name: name, ctx: ctx}
	// The first Do opens the tab and ties it to the context it gets.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	p.addScript(socketHook)
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.dialogs = append(p.dialogs, string(ev.Type)+": "+ev.Message)
			p.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		// Every page of every test runs under the policy without a violation.
		for _, m := range p.consoleMessages() {
			if strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
				t.Errorf("%s: CSP violation in the console: %s", name, m.Text)
			}
		}
	})
	return p
}

// addScript runs src in the page before its own scripts, from the next
// navigation on.
func (p *chatPage) addScript(src string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
}

func (p *chatPage) consoleMessages() []chromedp.ConsoleMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), p.console...)
}

func (p *chatPage) dialogsSeen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dialogs...)
}

// do runs actions with a timeout, failing the test on error.
func (p *chatPage) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *chatPage, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitLong)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, awaitPromise))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

func awaitPromise(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }

// waitFor polls a JavaScript condition from Go. (chromedp.Poll builds its
// predicate with new Function, which the page's CSP rightly refuses.)
func (p *chatPage) waitFor(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, waitLong)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			state := ""
			if s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById('status')?.dataset.state + ' / ' + document.getElementById('status-text')?.textContent`)); err == nil {
				state = s
			}
			p.t.Fatalf("%s: waited %v for %s (%s); last error: %v; status: %s", p.name, waitLong, what, cond, err, state)
		}
		select {
		case <-p.ctx.Done():
			p.t.Fatalf("%s: %v", p.name, p.ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// open loads the page and answers the name form.
func (p *chatPage) open(url, name string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
	p.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	p.do(chromedp.SendKeys(chromedp.ID("name-input"), name+"\n"))
	p.waitOnline()
}

func (p *chatPage) state() string {
	p.t.Helper()
	return eval[string](p, `document.getElementById('status').dataset.state`)
}

func (p *chatPage) waitState(state string) {
	p.t.Helper()
	p.waitFor("state "+state, fmt.Sprintf(`document.getElementById('status').dataset.state === %q`, state))
}

func (p *chatPage) waitOnline() { p.t.Helper(); p.waitState("online") }

// send types text and Enter, as a person would.
func (p *chatPage) send(text string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.ID("message-input"), text), enterKey)
}

// enterKey presses Enter on the focused element as a keyboard does: the
// page cancels the keydown, so no newline is typed. (SendKeys sends "\n"
// as keydown, a char event and keyup; the char event would type a newline
// whatever the keydown handler did.)
var enterKey = chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
		})
		if err != nil {
			return err
		}
	}
	return nil
})

// setInput puts a value in the message box at once (for long texts) and
// fires the input event.
func (p *chatPage) setInput(text string) {
	p.t.Helper()
	eval[chromedp.Void](p, fmt.Sprintf(`(() => {
		const el = document.getElementById('message-input');
		el.value = %s;
		el.dispatchEvent(new Event('input', { bubbles: true }));
	})()`, jsString(text)))
}

// pressEnter sends the Enter key to the message box.
func (p *chatPage) pressEnter() {
	p.t.Helper()
	p.do(chromedp.Focus(chromedp.ID("message-input")), enterKey)
}

type shownMessage struct {
	From    string `json:"from"`
	Text    string `json:"text"`
	Time    string `json:"time"`
	At      string `json:"at"`
	Own     bool   `json:"own"`
	Pending bool   `json:"pending"`
}

func (p *chatPage) messages() []shownMessage {
	p.t.Helper()
	return eval[[]shownMessage](p, `[...document.querySelectorAll('#messages li.message')].map(li => ({
		from: li.querySelector('.from').textContent,
		text: li.querySelector('.text').textContent,
		time: li.querySelector('time').textContent,
		at: li.querySelector('time').dateTime,
		own: li.classList.contains('own'),
		pending: li.classList.contains('pending'),
	}))`)
}

func (p *chatPage) systemLines() []string {
	p.t.Helper()
	return eval[[]string](p, `[...document.querySelectorAll('#messages li.system')].map(li => li.textContent)`)
}

// waitMessage waits until a message with text is shown.
func (p *chatPage) waitMessage(text string) {
	p.t.Helper()
	p.waitFor("message "+text, fmt.Sprintf(`[...document.querySelectorAll('#messages li.message .text')].some(e => e.textContent === %s)`, jsString(text)))
}

// count returns how many messages with text the page shows, and how many of them are its own.
func (p *chatPage) count(text string) (all, own int) {
	p.t.Helper()
	for _, m := range p.messages() {
		if m.Text == text {
			all++
			if m.Own {
				own++
			}
		}
	}
	return all, own
}

func (p *chatPage) sentFrames() []string {
	p.t.Helper()
	return eval[[]string](p, `window.__test.sent`)
}

func (p *chatPage) screenshot(t *testing.T, file string) []byte {
	t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return buf
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
