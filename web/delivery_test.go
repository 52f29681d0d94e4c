package web_test

// Exactly-once delivery in the page (docs/protocol.md, "The client's duty"):
// catch-up after a reconnect, resends with the same clientMsgId, history for
// late joiners, duplicate frames, and the `internal` error.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/serverless-chat/chat/internal/testenv"
)

// startDynamoServer runs the local adapter in DynamoDB mode, at endpoint
// (DynamoDB Local, or a proxy in front of it), with tables of its own.
func startDynamoServer(t *testing.T, endpoint string) *server {
	t.Helper()
	suffix := fmt.Sprintf("%d", testenv.FreePort(t))
	return startServer(t, "-dynamodb-endpoint", endpoint,
		"-table", "web-connections-"+suffix, "-messages-table", "web-messages-"+suffix)
}

// shownSeqs returns the seq of every message the page shows (0 for one
// without: an own message not acked yet).
func (p *chatPage) shownSeqs() []int {
	p.t.Helper()
	return eval[[]int](p, `[...document.querySelectorAll('#messages li.message')].map(li => Number(li.dataset.seq ?? 0))`)
}

func (p *chatPage) texts() []string {
	p.t.Helper()
	var out []string
	for _, m := range p.messages() {
		out = append(out, m.Text)
	}
	return out
}

// waitAcked waits until no own message of the page is pending.
func (p *chatPage) waitAcked() {
	p.t.Helper()
	p.waitFor("every own message acked", `!document.querySelector('#log li.pending')`)
}

// checkOrder fails the test unless the page shows exactly want, in this
// order, and in increasing seq.
func checkOrder(t *testing.T, p *chatPage, want []string) {
	t.Helper()
	if got := p.texts(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s shows\n  %q\nwant\n  %q", p.name, got, want)
	}
	seqs := p.shownSeqs()
	for i, s := range seqs {
		if s == 0 || (i > 0 && s <= seqs[i-1]) {
			t.Errorf("%s: seqs %v are not strictly increasing", p.name, seqs)
			break
		}
	}
	for _, m := range p.messages() {
		if m.Pending {
			t.Errorf("%s: %q still pending", p.name, m.Text)
		}
	}
}

// A tab offline while the server restarts (DynamoDB mode, so the history
// survives) and others chat comes back with every message it missed, once,
// in order; what it typed while offline is sent after the reconnect and
// shown once by everyone.
func TestCatchUpAfterOffline(t *testing.T) {
	srv := startDynamoServer(t, testenv.DynamoDB(t))
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	carol := newPage(t, browser, "carol")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	carol.open(srv.URL(), "Carol")

	alice.send("before 1")
	bob.waitMessage("before 1")
	carol.waitMessage("before 1")
	bob.send("before 2")
	alice.waitMessage("before 2")
	carol.waitMessage("before 2")

	srv.stop()
	alice.waitState("reconnecting")
	alice.setNetwork(false)
	alice.waitState("offline")
	alice.send("typed while offline")
	if !alice.messages()[len(alice.messages())-1].Pending {
		t.Errorf("a message typed while offline is not marked as pending")
	}

	srv.start()
	bob.waitOnline()
	carol.waitOnline()
	var missed []string
	for i := range 6 {
		from, to := bob, carol
		if i%2 == 1 {
			from, to = carol, bob
		}
		text := fmt.Sprintf("missed %d", i+1)
		from.send(text)
		to.waitMessage(text)
		missed = append(missed, text)
	}

	alice.setNetwork(true)
	alice.waitOnline()
	alice.waitMessage(missed[len(missed)-1])
	alice.waitAcked()
	bob.waitMessage("typed while offline")
	carol.waitMessage("typed while offline")
	carol.send("after")
	alice.waitMessage("after")
	bob.waitMessage("after")

	want := append(append([]string{"before 1", "before 2"}, missed...), "typed while offline", "after")
	for _, p := range []*chatPage{alice, bob, carol} {
		checkOrder(t, p, want)
	}
	if all, own := alice.count("typed while offline"); all != 1 || own != 1 {
		t.Errorf("alice shows her offline message %d times (%d own), want once", all, own)
	}
	// The catch-up asked for what followed the last message Alice held.
	var asked bool
	for _, f := range alice.sentFrames() {
		asked = asked || strings.HasPrefix(f, `{"action":"history","since":`)
	}
	if !asked {
		t.Errorf("no history since request after the reconnect: %q", alice.sentFrames())
	}
}

// A late joiner sees the latest 50 messages, in the room's order, and the
// older ones with "Load older messages".
func TestLateJoinerSeesHistory(t *testing.T) {
	srv := startServer(t, "-send-burst", "0") // 60 messages at once: history, not the send limit, is tested
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	alice.open(srv.URL(), "Alice")
	// 60 messages straight through Alice's socket (the server stores them;
	// her page shows none of them), then one typed.
	eval[chromedp.Void](alice, `(() => {
		const ws = window.__test.sockets.at(-1);
		for (let i = 1; i <= 60; i++) ws.send(JSON.stringify({action: 'chat message', text: 'old ' + i, clientMsgId: 'old-' + i}));
	})()`)
	alice.waitFor("60 acks", `window.__test.received.filter(f => f.includes('"type":"ack"')).length >= 60`)
	alice.send("latest")
	alice.waitAcked()

	bob := newPage(t, browser, "bob")
	bob.open(srv.URL(), "Bob")
	bob.waitMessage("latest")
	if n := len(bob.messages()); n != 50 {
		t.Errorf("the late joiner shows %d messages, want the latest 50", n)
	}
	bob.waitFor("the load older button", `!document.getElementById('load-older').hidden`)
	bob.do(chromedp.Click(chromedp.ID("load-older")))
	bob.waitFor("every older message", `document.querySelectorAll('#messages li.message').length === 61`)
	bob.waitFor("no more older messages", `document.getElementById('load-older').hidden`)

	alice.send("live after the join")
	bob.waitMessage("live after the join")
	texts := bob.texts()
	if len(texts) != 62 || texts[60] != "latest" || texts[61] != "live after the join" {
		t.Fatalf("bob shows %d messages, ending %q", len(texts), texts[max(0, len(texts)-2):])
	}
	seen := map[string]int{}
	for _, s := range texts {
		seen[s]++
	}
	for i := 1; i <= 60; i++ {
		if n := seen[fmt.Sprintf("old %d", i)]; n != 1 {
			t.Errorf("old %d shown %d times, want once", i, n)
		}
	}
	seqs := bob.shownSeqs()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Errorf("seqs not in order: %v", seqs)
			break
		}
	}
	// Alice's own message is not shown twice when history brings it back.
	if all, own := alice.count("latest"); all != 1 || own != 1 {
		t.Errorf("alice shows her message %d times (%d own), want once", all, own)
	}
}

var connectedLine = regexp.MustCompile(`msg=connected .*connectionId="?([^"\s]+)`)

// connectionID finds the connection ID of the member called name in the
// adapter's log.
func (s *server) connectionID(name string) string {
	s.t.Helper()
	for _, line := range strings.Split(testenv.ReadLog(s.log), "\n") {
		if !strings.Contains(line, "name="+name) {
			continue
		}
		if m := connectedLine.FindStringSubmatch(line); m != nil {
			return m[1]
		}
	}
	s.t.Fatalf("no connection of %s in the log:\n%s", name, testenv.ReadLog(s.log))
	return ""
}

// An @connections retry can deliver a frame twice: the page shows it once.
func TestDuplicateFrameShownOnce(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("said once")
	bob.waitMessage("said once")

	frame := eval[string](bob, `window.__test.received.find(f => f.includes('said once'))`)
	post := srv.URL() + "local/@connections/" + url.PathEscape(srv.connectionID("Bob"))
	resp, err := http.Post(post, "application/json", bytes.NewBufferString(frame))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", post, resp.Status)
	}
	bob.waitFor("the duplicate frame", `window.__test.received.filter(f => f.includes('said once')).length === 2`)
	alice.send("next")
	bob.waitMessage("next")
	if all, _ := bob.count("said once"); all != 1 {
		t.Errorf("a duplicated frame is shown %d times, want once", all)
	}
}

// When DynamoDB fails, the sender gets `internal`: the message stays pending
// and is resent with the same clientMsgId, and delivered once after the
// recovery. The failure is injected by a proxy in front of DynamoDB Local.
func TestInternalErrorKeepsPending(t *testing.T) {
	target, err := url.Parse(testenv.DynamoDB(t))
	if err != nil {
		t.Fatal(err)
	}
	var broken atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the test"}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	srv := startDynamoServer(t, proxy.URL)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("before the failure")
	bob.waitMessage("before the failure")

	broken.Store(true)
	alice.send("during the failure")
	alice.waitFor("the internal error line", `[...document.querySelectorAll('#messages li.system.error')].some(li => li.textContent.includes('(internal)'))`)
	if m := alice.messages(); !m[len(m)-1].Pending {
		t.Errorf("the message is not pending after an internal error")
	}
	if all, _ := bob.count("during the failure"); all != 0 {
		t.Errorf("bob got a message the server could not store")
	}

	broken.Store(false)
	bob.waitMessage("during the failure")
	alice.waitAcked()
	bob.send("after the recovery")
	alice.waitMessage("after the recovery")

	want := []string{"before the failure", "during the failure", "after the recovery"}
	checkOrder(t, alice, want)
	checkOrder(t, bob, want)
	var ids []string
	for _, f := range alice.sentFrames() {
		if strings.Contains(f, "during the failure") {
			ids = append(ids, regexp.MustCompile(`"clientMsgId":"([^"]+)"`).FindStringSubmatch(f)[1])
		}
	}
	if len(ids) < 2 {
		t.Errorf("the message was sent %d times, want a resend after the error", len(ids))
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("resent with clientMsgId %q, want the first one, %q", id, ids[0])
		}
	}
}

// While connected the page pings, so that API Gateway's idle timeout does
// not close a quiet room. The 5-minute period is shortened in this page.
func TestPing(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	alice.addScript(`(() => {
		const native = window.setInterval;
		window.setInterval = (f, delay, ...args) => native(f, delay === 300000 ? 200 : delay, ...args);
	})();`)
	alice.open(srv.URL(), "Alice")
	alice.waitFor("two pings", `window.__test.sent.filter(f => f === '{"action":"ping"}').length >= 2`)
	if s := alice.state(); s != "online" {
		t.Errorf("state %q after pings, want online", s)
	}
	if lines := alice.systemLines(); len(lines) != 0 {
		t.Errorf("system lines after pings: %q", lines)
	}
}

// A live frame that missed the page shows as a hole in the seqs when the
// next one arrives: the page asks for it (history since) and puts it in its
// place, once.
func TestGapIsFilled(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("first")
	bob.waitMessage("first")
	alice.waitAcked()
	first := bob.shownSeqs()[0]

	eval[chromedp.Void](bob, `window.__test.drop.push('lost on the way')`)
	alice.send("lost on the way")
	alice.waitAcked()
	eval[chromedp.Void](bob, `window.__test.drop.length = 0`)
	alice.send("after the hole")
	bob.waitMessage("after the hole")
	bob.waitMessage("lost on the way")

	checkOrder(t, bob, []string{"first", "lost on the way", "after the hole"})
	// Asked once, since the watermark (the first message), with a
	// requestId that the reply echoes.
	var asked int
	for _, f := range bob.sentFrames() {
		var req struct {
			Action    string `json:"action"`
			Since     *int64 `json:"since"`
			RequestID string `json:"requestId"`
		}
		if json.Unmarshal([]byte(f), &req) == nil && req.Action == "history" && req.Since != nil && *req.Since == int64(first) && req.RequestID != "" {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("bob asked for history since %d %d times, want once; sent %q", first, asked, bob.sentFrames())
	}
}
