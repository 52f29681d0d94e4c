package web_test

// Messages that live, in the page (docs/protocol.md, "Messages that live:
// edits, deletions, reactions, blocks").

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestChangesUnit runs the Node unit tests of client.js's changes
// (testdata/changes_unit.mjs): edit, delete and reaction events as stream
// entries, and edit, delete and react requests in the outbox, against a
// fake WebSocket.
func TestChangesUnit(t *testing.T) {
	runNodeUnit(t, "changes_unit.mjs")
}

// seqOf waits until the room shows a message with text, and returns its seq
// (once acked, for an own message).
func (p *chatPage) seqOf(text string) int {
	p.t.Helper()
	find := fmt.Sprintf(`[...document.querySelectorAll('#messages li.message[data-seq]')].find(li => li.querySelector('.text').textContent === %s)`, jsString(text))
	p.waitFor("message "+text+" with its seq", find)
	return eval[int](p, "Number("+find+".dataset.seq)")
}

func messageAt(seq int) string { return fmt.Sprintf(`#messages li.message[data-seq="%d"]`, seq) }

// shownAt returns what the room shows of the message at seq: its text, with
// " (edited)" when marked so, or "message deleted".
func (p *chatPage) shownAt(seq int) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(() => {
		const li = document.querySelector(%s);
		if (!li) return '(none)';
		return li.querySelector('.text').textContent + (li.querySelector('.edited') ? ' (edited)' : '');
	})()`, jsString(messageAt(seq))))
}

// reactionsAt returns the reactions the room shows on the message at seq,
// as "emoji count" sorted, joined by ", ".
func (p *chatPage) reactionsAt(seq int) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`[...document.querySelectorAll(%s)].map(b => b.dataset.emoji + ' ' + b.dataset.count).sort().join(', ')`,
		jsString(messageAt(seq)+" .reactions .reaction")))
}

func (p *chatPage) waitShownAt(seq int, want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("message %d shown as %q", seq, want), fmt.Sprintf(`(() => {
		const li = document.querySelector(%s);
		return !!li && li.querySelector('.text').textContent + (li.querySelector('.edited') ? ' (edited)' : '') === %s;
	})()`, jsString(messageAt(seq)), jsString(want)))
}

func (p *chatPage) waitReactionsAt(seq int, want string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("reactions %q on message %d", want, seq), fmt.Sprintf(
		`[...document.querySelectorAll(%s)].map(b => b.dataset.emoji + ' ' + b.dataset.count).sort().join(', ') === %s`,
		jsString(messageAt(seq)+" .reactions .reaction"), jsString(want)))
}

// reactWith opens the picker of the message at seq and picks emoji from
// its common ones, with the keyboard's Enter on the focused choice.
func (p *chatPage) reactWith(seq int, emoji string) {
	p.t.Helper()
	p.do(chromedp.Click(messageAt(seq) + ` button[data-action="react"]`))
	p.waitFor("the reaction picker", `document.getElementById('reaction-picker')?.open`)
	p.do(chromedp.Click(fmt.Sprintf(`#reaction-picker button.emoji-choice[data-emoji=%s]`, jsString(emoji))))
	p.waitFor("the picker closed", `!document.getElementById('reaction-picker').open`)
}

// toggleReaction clicks an existing reaction of the message at seq.
func (p *chatPage) toggleReaction(seq int, emoji string) {
	p.t.Helper()
	p.do(chromedp.Click(fmt.Sprintf(`%s .reactions button[data-emoji=%s]`, messageAt(seq), jsString(emoji))))
}

// deleteAt deletes the page's message at seq, confirmed in the dialog.
func (p *chatPage) deleteAt(seq int) {
	p.t.Helper()
	p.do(chromedp.Click(messageAt(seq) + ` button[data-action="delete"]`))
	p.waitFor("the delete dialog", `document.getElementById('delete-dialog')?.open`)
	p.do(chromedp.Click(`#delete-confirm`))
}

// editAt edits the page's message at seq with its Edit button, then text
// and Enter in the message box.
func (p *chatPage) editAt(seq int, text string) {
	p.t.Helper()
	p.do(chromedp.Click(messageAt(seq) + ` button[data-action="edit"]`))
	p.waitFor("the message box editing", `!document.getElementById('editing-banner')?.hidden`)
	p.setInput(text)
	p.pressEnter()
}

// framesSent counts the frames the page sent that contain s.
func (p *chatPage) framesSent(s string) int {
	p.t.Helper()
	n := 0
	for _, f := range p.sentFrames() {
		if strings.Contains(f, s) {
			n++
		}
	}
	return n
}

// key presses a key on the focused element, as a keyboard does.
func key(name string, code int) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: name, Code: name, WindowsVirtualKeyCode: int64(code), NativeVirtualKeyCode: int64(code),
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Three people: while Carol is offline (her network gone, so her
// connection dropped) Ann edits and deletes her messages, Ann and Bob react
// (Bob adds a reaction and takes it back), and Carol reacts too, queued.
// Back online, Carol's page asks since its watermark and shows the final
// state once: no message twice, the deleted text nowhere in her page, her
// own reaction sent once and counted once.
func TestChangesWhileAway(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	carol := newPage(t, browser, "carol")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	carol.open(srv.URL(), "Carol")

	const secret = "delete me <b>secret</b>"
	for _, text := range []string{"keep me", "typo teh", secret} {
		ann.send(text)
		bob.waitMessage(text)
		carol.waitMessage(text)
	}
	ann.waitAcked()
	keep, typo, gone := ann.seqOf("keep me"), ann.seqOf("typo teh"), ann.seqOf(secret)
	if carol.seqOf("keep me") != keep {
		t.Fatalf("carol and ann disagree on the seq of keep me")
	}

	carol.setNetwork(false)
	carol.waitState("offline")
	carol.reactWith(keep, "🎉") // queued in her outbox

	ann.editAt(typo, "typo the")
	ann.deleteAt(gone)
	bob.reactWith(keep, "👍")
	bob.reactWith(keep, "❤️")
	bob.waitReactionsAt(keep, "❤️ 1, 👍 1")
	bob.toggleReaction(keep, "❤️") // takes his back
	ann.reactWith(keep, "👍")
	for _, p := range []*chatPage{ann, bob} {
		p.waitShownAt(typo, "typo the (edited)")
		p.waitShownAt(gone, "message deleted")
		p.waitReactionsAt(keep, "👍 2")
	}

	carol.setNetwork(true)
	carol.waitOnline()
	carol.waitReactionsAt(keep, "🎉 1, 👍 2")
	carol.waitShownAt(typo, "typo the (edited)")
	carol.waitShownAt(gone, "message deleted")
	for _, p := range []*chatPage{ann, bob} {
		p.waitReactionsAt(keep, "🎉 1, 👍 2")
	}

	// She had the changes from her catch-up: they reached her in a history reply.
	if n := eval[int](carol, `window.__test.received.filter(f => f.includes('"type":"history"') && f.includes('"type":"edit"') && f.includes('"type":"delete"')).length`); n == 0 {
		t.Errorf("carol's catch-up brought no edit and delete events")
	}
	want := []string{"keep me", "typo the", "message deleted"}
	for _, p := range []*chatPage{ann, bob, carol} {
		checkOrder(t, p, want)
		if html := eval[string](p, `document.documentElement.outerHTML`); strings.Contains(html, "delete me") || strings.Contains(html, "secret") {
			t.Errorf("%s: the deleted text is still in the page", p.name)
		}
		if n := eval[int](p, `document.querySelectorAll('#log b').length`); n != 0 {
			t.Errorf("%s: markup from a message became elements", p.name)
		}
	}
	if n := carol.framesSent(`"action":"react"`); n != 1 {
		t.Errorf("carol sent %d react frames, want 1 (queued offline, sent once)", n)
	}
	// The catch-up was one since request from her watermark.
	var since bool
	for _, f := range carol.sentFrames() {
		since = since || strings.HasPrefix(f, `{"action":"history","since":`)
	}
	if !since {
		t.Errorf("carol asked no history since her watermark: %q", carol.sentFrames())
	}
	// Reactions say who: Bob's title names Ann and him.
	if who := eval[string](carol, fmt.Sprintf(`document.querySelector(%s).title`, jsString(messageAt(keep)+` .reaction[data-emoji="👍"]`))); !strings.Contains(who, "Ann") || !strings.Contains(who, "Bob") {
		t.Errorf("carol's 👍 says it is from %q, want Ann and Bob", who)
	}
	if pressed := eval[string](carol, fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed')`, jsString(messageAt(keep)+` .reaction[data-emoji="🎉"]`))); pressed != "true" {
		t.Errorf("carol's own 🎉 has aria-pressed %q, want true", pressed)
	}
	// Only the author has Edit and Delete.
	if n := eval[int](bob, fmt.Sprintf(`[...document.querySelectorAll(%s)].filter(b => b.offsetParent !== null).length`, jsString(messageAt(keep)+` button[data-action="edit"], `+messageAt(keep)+` button[data-action="delete"]`))); n != 0 {
		t.Errorf("bob sees %d Edit or Delete buttons on ann's message", n)
	}

	// A reload shows the stored state: edited, deleted, the reactions.
	carol.do(chromedp.Reload())
	carol.waitOnline()
	carol.waitReactionsAt(keep, "🎉 1, 👍 2")
	carol.waitShownAt(typo, "typo the (edited)")
	carol.waitShownAt(gone, "message deleted")
	checkOrder(t, carol, want)

	// Bob may not edit Ann's message: the server says so, and the page too.
	eval[chromedp.Void](bob, fmt.Sprintf(`window.__test.sockets.at(-1).send(JSON.stringify({action: 'edit', target: %d, text: 'not mine', clientMsgId: 'bob-edit-1'}))`, keep))
	bob.waitFor("not_author", `window.__test.received.some(f => f.includes('"not_author"'))`)
}

// Ann blocks Bob from her online list: his room messages and typing are
// hidden for her, his private message to her is refused as if she were
// not there (no_such_member), and the block lasts across a reload. Once
// she unblocks him, his messages show again.
func TestBlock(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	carol := newPage(t, browser, "carol")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	carol.open(srv.URL(), "Carol")
	annID, bobID := ann.userID(), bob.userID()
	ann.waitFor("three people", `document.querySelectorAll('#people-list li').length === 3`)

	// Sent through his connection as a frame, so that he has not typed
	// (typing notices are one per 2 s: the one asserted below must be his first).
	eval[chromedp.Void](bob, `window.__test.sockets.at(-1).send(JSON.stringify({action: 'chat message', text: 'before the block', clientMsgId: 'bob-before-1'}))`)
	ann.waitMessage("before the block")

	block := fmt.Sprintf(`#people-list li[data-user-id=%q] .block-button`, bobID)
	ann.waitFor("the block button", fmt.Sprintf(`document.querySelector(%s)?.getAttribute('aria-label') === 'Block Bob'`, jsString(block)))
	ann.do(chromedp.Click(block))
	ann.waitFor("the blocked list", fmt.Sprintf(`window.__test.received.some(f => f.includes('"type":"blocked"') && f.includes(%q))`, bobID))
	ann.waitFor("the unblock button", fmt.Sprintf(`document.querySelector(%s)?.getAttribute('aria-label') === 'Unblock Bob'`, jsString(block)))

	// His typing and his room message reach her connection, not her page.
	eval[chromedp.Void](ann, `window.__test.typingShown = []`)
	bob.setInput("x")
	ann.waitFor("bob's typing frame", `window.__test.received.some(f => f.includes('"type":"typing"'))`)
	bob.setInput("")
	bob.send("while blocked")
	carol.waitMessage("while blocked")
	ann.waitFor("bob's message frame", `window.__test.received.some(f => f.includes('while blocked'))`)
	if shown := eval[bool](ann, `[...document.querySelectorAll('#messages li.message')].some(li => !li.hidden && li.textContent.includes('while blocked'))`); shown {
		t.Errorf("ann shows the message of bob, whom she blocked")
	}
	if shown := eval[string](ann, `window.__test.typingShown.join(' | ')`); strings.Contains(shown, "Bob") {
		t.Errorf("ann's typing line showed %q while Bob is blocked", shown)
	}
	if n := eval[int](ann, `[...document.querySelectorAll('#messages li.message')].filter(li => !li.hidden && li.textContent.includes('before the block')).length`); n != 0 {
		t.Errorf("ann still shows bob's earlier message after blocking him")
	}

	// A private message from him is refused, without saying why.
	bob.openThreadWith(annID)
	bob.send("psst")
	bob.waitFor("the refusal", `window.__test.received.some(f => f.includes('"no_such_member"'))`)
	bob.waitFor("marked not delivered", `[...document.querySelectorAll('#log li.message.undelivered .text')].some(e => e.textContent === 'psst')`)
	if n := ann.received("psst"); n != 0 {
		t.Errorf("ann received the private message of bob, whom she blocked")
	}

	// After a reload she still blocks him: who says so.
	ann.do(chromedp.Reload())
	ann.waitOnline()
	ann.waitFor("who's blocked", fmt.Sprintf(`window.__test.received.some(f => f.includes('"type":"members"') && f.includes('"blocked":[%q]'))`, bobID))
	ann.waitFor("the unblock button", fmt.Sprintf(`document.querySelector(%s)?.getAttribute('aria-label') === 'Unblock Bob'`, jsString(block)))
	ann.waitFor("the history", `window.__test.received.some(f => f.includes('"type":"history"'))`)
	if n := eval[int](ann, `[...document.querySelectorAll('#messages li.message')].filter(li => !li.hidden && li.textContent.includes('block')).length`); n != 0 {
		t.Errorf("after the reload ann shows bob's messages")
	}

	// Unblocked, he is back.
	ann.do(chromedp.Click(block))
	ann.waitFor("the block button again", fmt.Sprintf(`document.querySelector(%s)?.getAttribute('aria-label') === 'Block Bob'`, jsString(block)))
	bob.do(chromedp.Click("#dm-cancel"))
	bob.send("after the unblock")
	ann.waitMessage("after the unblock")
}

// The Up arrow in an empty message box edits the person's last message;
// Escape leaves it unchanged; Enter saves, and both pages show the new
// text, marked edited, once.
func TestUpArrowEdit(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")

	ann.send("first")
	ann.send("secnd")
	bob.waitMessage("secnd")
	ann.waitAcked()
	bob.send("bob's last")
	ann.waitMessage("bob's last")
	seq := ann.seqOf("secnd")

	// Up, then Escape: nothing is sent.
	ann.do(chromedp.Focus(chromedp.ID("message-input")), key("ArrowUp", 38))
	ann.waitFor("the last message in the box", `document.getElementById('message-input').value === 'secnd'`)
	if label := eval[string](ann, `document.querySelector('#editing-banner button').textContent`); label != "Cancel editing" {
		t.Errorf("the editing banner's button reads %q", label)
	}
	ann.do(key("Escape", 27))
	ann.waitFor("the box emptied", `document.getElementById('message-input').value === '' && document.getElementById('editing-banner').hidden`)
	if n := ann.framesSent(`"action":"edit"`); n != 0 {
		t.Errorf("Escape sent %d edits", n)
	}

	// Up, fix, Enter.
	ann.do(key("ArrowUp", 38))
	ann.waitFor("the last message in the box", `document.getElementById('message-input').value === 'secnd'`)
	ann.setInput("second")
	ann.pressEnter()
	for _, p := range []*chatPage{ann, bob} {
		p.waitShownAt(seq, "second (edited)")
		checkOrder(t, p, []string{"first", "second", "bob's last"})
	}
	if n := ann.framesSent(`"action":"edit"`); n != 1 {
		t.Errorf("ann sent %d edits, want 1", n)
	}
	if n := ann.framesSent(`"action":"chat message"`); n != 2 {
		t.Errorf("ann sent %d chat messages, want 2: the edit is not a new message", n)
	}
	if v := eval[string](ann, `document.getElementById('message-input').value`); v != "" {
		t.Errorf("the box holds %q after the edit", v)
	}
}

// The reaction picker by keyboard: the React button opens it with Enter,
// focus is on the first common emoji, and a typed reaction that is not one
// emoji is refused by the server (invalid_emoji) and said to its author.
// Escape closes the picker and focus returns to the React button.
func TestReactionPickerByKeyboard(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	ann.send("react to me")
	seq := bob.seqOf("react to me")

	reactButton := messageAt(seq) + ` button[data-action="react"]`
	if name := eval[string](bob, fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-label')`, jsString(reactButton))); name != "React to the message of Ann" {
		t.Errorf("the React button is called %q", name)
	}
	bob.do(chromedp.Focus(reactButton), chromedp.KeyEvent("\r"))
	bob.waitFor("the picker", `document.getElementById('reaction-picker')?.open`)
	if focused := eval[string](bob, `document.activeElement.dataset.emoji ?? ''`); focused != "👍" {
		t.Errorf("the picker opens with focus on %q, want the first emoji", focused)
	}
	bob.do(chromedp.SendKeys("#reaction-input", "abc"), chromedp.KeyEvent("\r"))
	bob.waitFor("the refusal shown", `[...document.querySelectorAll('#messages li.system')].some(li => li.textContent.includes('invalid_emoji'))`)
	bob.waitFor("focus back on the React button", fmt.Sprintf(`document.activeElement === document.querySelector(%s)`, jsString(reactButton)))
	if got := bob.reactionsAt(seq); got != "" {
		t.Errorf("a refused reaction shows as %q", got)
	}

	// Escape closes it without a reaction; then one by keyboard.
	bob.do(chromedp.KeyEvent("\r"))
	bob.waitFor("the picker", `document.getElementById('reaction-picker').open`)
	bob.do(key("Escape", 27))
	bob.waitFor("the picker closed", `!document.getElementById('reaction-picker').open`)
	bob.do(chromedp.KeyEvent("\r"))
	bob.waitFor("the picker", `document.getElementById('reaction-picker').open`)
	bob.do(chromedp.KeyEvent("\r")) // the focused 👍
	ann.waitReactionsAt(seq, "👍 1")
	bob.waitReactionsAt(seq, "👍 1")
	if n := bob.framesSent(`"action":"react"`); n != 2 {
		t.Errorf("bob sent %d react frames, want 2 (the refused one and 👍)", n)
	}
}

// In a private thread: the Up arrow edits the last message there, the other
// person reacts, and the author deletes one; both threads show it, and the
// room shows none of it.
func TestChangesInPrivateThread(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")
	ann.open(srv.URL(), "Ann")
	bob.open(srv.URL(), "Bob")
	annID, bobID := ann.userID(), bob.userID()
	conv := conversationOf(annID, bobID)
	ann.send("in the room")
	bob.waitMessage("in the room")

	ann.openThreadWith(bobID)
	ann.send("privat")
	ann.send("to be deleted")
	bob.waitThreadMessage(conv, "to be deleted")
	ann.waitAcked()
	thread := threadSelector(conv)
	seqOf := func(p *chatPage, text string) int {
		find := fmt.Sprintf(`[...document.querySelectorAll(%s)].find(li => li.querySelector('.text').textContent === %s)`, jsString(thread+" li.message[data-seq]"), jsString(text))
		p.waitFor("message "+text+" with its seq", find)
		return eval[int](p, "Number("+find+".dataset.seq)")
	}
	at := func(seq int) string { return fmt.Sprintf(`%s li.message[data-seq="%d"]`, thread, seq) }
	privat, gone := seqOf(ann, "privat"), seqOf(ann, "to be deleted")

	ann.do(chromedp.Click(at(gone) + ` button[data-action="delete"]`))
	ann.waitFor("the delete dialog", `document.getElementById('delete-dialog')?.open`)
	ann.do(chromedp.Click(`#delete-confirm`))
	ann.waitFor("the deletion acked", fmt.Sprintf(`document.querySelector(%s)?.classList.contains('deleted')`, jsString(at(gone))))
	ann.do(chromedp.Focus(chromedp.ID("message-input")), key("ArrowUp", 38))
	ann.waitFor("her last message there in the box", `document.getElementById('message-input').value === 'privat'`)
	ann.setInput("private")
	ann.pressEnter()

	bob.showThread(conv)
	bob.do(chromedp.Click(at(privat) + ` button[data-action="react"]`))
	bob.waitFor("the reaction picker", `document.getElementById('reaction-picker')?.open`)
	bob.do(chromedp.Click(`#reaction-picker button.emoji-choice[data-emoji="🙏"]`))

	for _, p := range []*chatPage{ann, bob} {
		p.waitFor("the final thread", fmt.Sprintf(`(() => {
			const t = (s) => document.querySelector(s)?.querySelector('.text').textContent;
			return t(%s) === 'private' && !!document.querySelector(%s) && t(%s) === 'message deleted'
				&& document.querySelector(%s)?.dataset.count === '1';
		})()`, jsString(at(privat)), jsString(at(privat)+" .edited"), jsString(at(gone)), jsString(at(privat)+` .reaction[data-emoji="🙏"]`)))
		if got := p.threadMessages(conv); len(got) != 2 {
			t.Errorf("%s's thread shows %d messages, want 2: %+v", p.name, len(got), got)
		}
		if got := p.texts(); strings.Join(got, "|") != "in the room" {
			t.Errorf("%s's room shows %q, want only the room's message", p.name, got)
		}
	}
	if n := ann.framesSent(fmt.Sprintf(`"conversation":%q`, conv)); n < 2 {
		t.Errorf("ann's edit and delete were not sent to the conversation (%d frames name it)", n)
	}
	bob.screenshot(t, filepath.Join(artifactsDir(t), "changes-thread.png"))
}

// TestReviewOnThePage: with the review hook on, the author's own message
// shows what was published (a rewrite), and a refusal says why.
func TestReviewOnThePage(t *testing.T) {
	srv := startServer(t, "-review", "words:mask=darn;deny=spam")
	browser := newBrowser(t)
	alice := newPage(t, browser, "alice")
	bob := newPage(t, browser, "bob")
	alice.open(srv.URL(), "Alice")
	bob.open(srv.URL(), "Bob")
	alice.send("darn it")
	bob.waitMessage("**** it")
	alice.waitFor("the rewrite on the author's page", `[...document.querySelectorAll('#messages li.own .text')].some(e => e.textContent === '**** it')`)
	alice.send("buy spam")
	alice.waitFor("the refusal and its reason", `document.getElementById('messages').textContent.includes('denied')`)
	bob.send("after")
	alice.waitMessage("after")
	if strings.Contains(eval[string](bob, `document.getElementById('messages').textContent`), "buy spam") {
		t.Errorf("a denied message reached another page")
	}
}
