package web_test

// Accessibility: axe-core (the npm package `make test-deps` installs into
// .cache/, at the Makefile's AXE_CORE_VERSION) runs inside the page in each
// of its main states and must find no violation.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/serverless-chat/chat/internal/testenv"
)

// axeSource is axe.min.js, found through the Makefile's version.
func axeSource(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^AXE_CORE_VERSION := (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no AXE_CORE_VERSION")
	}
	file := filepath.Join(root, ".cache", "axe-"+string(m[1]), "node_modules", "axe-core", "axe.min.js")
	src, err := os.ReadFile(file)
	if err != nil {
		testenv.Missing(t, "axe-core "+string(m[1])+" ("+file+")", testenv.InstallHint)
	}
	return string(src)
}

type axeViolation struct {
	ID    string   `json:"id"`
	Help  string   `json:"help"`
	Nodes []string `json:"nodes"`
}

// checkAxe runs axe-core in the page (injected through DevTools, which the
// page's CSP does not govern) and fails the test on any violation.
func (p *chatPage) checkAxe(src, state string) {
	p.t.Helper()
	if !eval[bool](p, `typeof window.axe === 'object'`) {
		eval[chromedp.Void](p, src+"\n;void 0")
	}
	vs := eval[[]axeViolation](p, `axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations.map(v => ({
		id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary),
	})))`)
	for _, v := range vs {
		p.t.Errorf("%s: axe: %s (%s):\n  %s", state, v.ID, v.Help, strings.Join(v.Nodes, "\n  "))
	}
}

func (p *chatPage) colorScheme(scheme string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
	p.waitFor(scheme+" colours", fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches`, scheme))
}

// The main states, light and dark: the name dialog, chatting (links,
// mentions, grouping, a day), a private thread, the people panel and the
// room list on a phone.
func TestAccessibility(t *testing.T) {
	src := axeSource(t)
	srv := startServer(t)
	browser := newBrowser(t)
	ann := newPage(t, browser, "ann")
	bob := newPage(t, browser, "bob")

	for _, scheme := range []string{"light", "dark"} {
		ann.colorScheme(scheme)
		bob.colorScheme(scheme)
	}
	ann.colorScheme("light")
	ann.do(chromedp.Navigate(srv.URL()))
	ann.waitFor("the name dialog", `document.getElementById('name-dialog').open`)
	ann.checkAxe(src, "name dialog")
	ann.do(chromedp.SendKeys(chromedp.ID("name-input"), "Ann\n"))
	ann.waitOnline()
	bob.open(srv.URL(), "Bob")
	annID, bobID := ann.userID(), bob.userID()
	bob.send("Hi Ann, the notes are at https://example.com/notes")
	bob.setInput("and a question for <@" + annID + ">")
	bob.pressEnter()
	ann.waitFor("the mention", `!!document.querySelector('#messages li.mentions-me')`)
	ann.send("On it.")
	ann.waitAcked()

	for _, scheme := range []string{"light", "dark"} {
		ann.colorScheme(scheme)
		ann.do(chromedp.EmulateViewport(1000, 720))
		ann.checkAxe(src, scheme+": chatting")

		ann.openThreadWith(bobID)
		ann.send("private, " + scheme)
		ann.waitAcked()
		ann.checkAxe(src, scheme+": private thread")
		ann.do(chromedp.Click("#dm-cancel"))

		ann.do(chromedp.EmulateViewport(390, 740))
		ann.waitFor("the phone layout", `getComputedStyle(document.getElementById('people-toggle')).display !== 'none'`)
		ann.checkAxe(src, scheme+": phone")
		ann.do(chromedp.Click("#people-toggle"))
		ann.waitFor("the people panel", `document.getElementById('people').classList.contains('open')`)
		ann.checkAxe(src, scheme+": phone, people panel")
		ann.do(chromedp.Click("#people-toggle"))
	}
}
